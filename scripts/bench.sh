#!/usr/bin/env bash
# Builds an optimized host and runs the benchmarks beside their floors, in one run, then writes
# docs/benchmarks.md (tables and ratios) and the raw JSON under docs/bench/.
#   bash scripts/bench.sh            # the full run (a few minutes)
#   bash scripts/bench.sh --smoke    # a short run that only checks everything still works
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1

# The smoke run in CI reuses the ci build (optimized too); the full run uses release.
preset="${MLBRIDGE_BENCH_PRESET:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target worker_bench pool_bench http_bench transformers_bench \
  >/dev/null
.venv/bin/python scripts/build_tiny_models.py --out build/models --quiet
bin="build/$preset/bin"

out="$ROOT/docs/bench"
[ $smoke -eq 1 ] && out="$(mktemp -d)"
mkdir -p "$out"
args=(--benchmark_out_format=json --benchmark_repetitions=3 --benchmark_min_time=1.0)
inprocess=(--cold 3 --repetitions 3 --min-time 1.0)  # as transformers_bench runs with args
if [ $smoke -eq 1 ]; then
  args=(--benchmark_out_format=json --benchmark_min_time=0.05)
  inprocess=(--cold 1 --repetitions 1 --min-time 0.05)
fi

echo "[bench] worker round trips (ping and 16 MiB echo beside their floors)"
"$bin/worker_bench" "${args[@]}" --benchmark_out="$out/worker_bench.json" \
  ${MLBRIDGE_BENCH_FILTER:+--benchmark_filter=$MLBRIDGE_BENCH_FILTER}
echo "[bench] pool throughput against concurrency"
"$bin/pool_bench" "${args[@]}" --benchmark_out="$out/pool_bench.json"
echo "[bench] a no-op call through HTTP beside the same call through the C++ API"
"$bin/http_bench" "${args[@]}" --benchmark_out="$out/http_bench.json"
echo "[bench] tiny-gpt2: cold start and generation through the host, then in-process in Python"
MLBRIDGE_BENCH_MODELS="$ROOT/build/models" \
  "$bin/transformers_bench" "${args[@]}" --benchmark_out="$out/transformers_bench.json"
.venv/bin/python tests/bench/transformers_inprocess.py --models build/models "${inprocess[@]}" \
  --out "$out/transformers_inprocess.json" >/dev/null

if [ $smoke -eq 1 ]; then
  .venv/bin/python tests/bench/report.py "$out" --check
else
  .venv/bin/python tests/bench/report.py "$out" --write docs/benchmarks.md
fi
