#!/usr/bin/env bash
# Builds an optimized host and runs the whole comparison in one run: mlbridge's C++ and HTTP
# APIs beside the floors (C++ ↔ C++ and C++ ↔ Python over pipes) and the peers (an embedded
# interpreter through pybind11, multiprocessing.Pool, ProcessPoolExecutor, FastAPI + uvicorn, a
# Ray actor), cold start, memory and recovery per bridge, then the worker API's sync/async split
# and the Transformers generation benchmark. Writes docs/benchmarks.md (tables, plots, targets),
# the raw JSON and the plots under docs/bench/. About 12-15 minutes on a 2-core machine.
#   bash scripts/bench.sh            # the full run
#   bash scripts/bench.sh --smoke    # every driver for a moment (no Ray), checks they all work
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1

# The smoke run in CI reuses the ci build (optimized too); the full run uses release.
preset="${MLBRIDGE_BENCH_PRESET:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" \
  --target compare_bench embed_bench frame_echo worker_bench transformers_bench >/dev/null
.venv/bin/python scripts/build_tiny_models.py --out build/models --quiet
bin="build/$preset/bin"

out="$ROOT/docs/bench"
[ $smoke -eq 1 ] && out="$(mktemp -d)"
mkdir -p "$out"
args=(--benchmark_out_format=json --benchmark_repetitions=3 --benchmark_min_time=1.0)
# One cold start each (the comparison's cold-start rounds time the Transformers bridge too).
tf_args=(--benchmark_out_format=json --benchmark_repetitions=1 --benchmark_min_time=3.0)
inprocess=(--cold 1 --repetitions 1 --min-time 3.0)
compare=(--rounds "${MLBRIDGE_BENCH_ROUNDS:-3}" --seconds 0.8)
if [ $smoke -eq 1 ]; then
  args=(--benchmark_out_format=json --benchmark_min_time=0.05)
  tf_args=("${args[@]}")
  inprocess=(--cold 1 --repetitions 1 --min-time 0.05)
  compare=(--smoke)
fi

echo "[bench] the comparison: floors, mlbridge C++/HTTP APIs and the peers, interleaved rounds"
.venv/bin/python tests/bench/compare/compare.py --bin "$bin" --out "$out/raw.json" "${compare[@]}"
echo "[bench] worker round trips (sync and async worker API beside the floors)"
"$bin/worker_bench" "${args[@]}" --benchmark_out="$out/worker_bench.json" \
  ${MLBRIDGE_BENCH_FILTER:+--benchmark_filter=$MLBRIDGE_BENCH_FILTER}
echo "[bench] tiny-gpt2: cold start and generation through the host, then in-process in Python"
MLBRIDGE_BENCH_MODELS="$ROOT/build/models" \
  "$bin/transformers_bench" "${tf_args[@]}" --benchmark_out="$out/transformers_bench.json"
.venv/bin/python tests/bench/transformers_inprocess.py --models build/models "${inprocess[@]}" \
  --out "$out/transformers_inprocess.json" >/dev/null

if [ $smoke -eq 1 ]; then
  .venv/bin/python tests/bench/report.py "$out" --check
else
  .venv/bin/python tests/bench/report.py "$out" --write docs/benchmarks.md
fi
