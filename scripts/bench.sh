#!/usr/bin/env bash
# Builds an optimized host and runs the whole comparison in one run: mlbridge's C++ and HTTP
# APIs beside the floors (C++ ↔ C++ and C++ ↔ Python over pipes) and the peers (an embedded
# interpreter through pybind11, multiprocessing.Pool, ProcessPoolExecutor, FastAPI + uvicorn, a
# Ray actor), cold start, memory and recovery per bridge, then the worker API's sync/async split
# and the Transformers generation benchmark. Writes docs/benchmarks.md (tables, plots, targets),
# the raw JSON and the plots under docs/bench/. About 12-15 minutes on a 2-core machine.
# Then the LLM-bound comparison (mlbridge against FastAPI, DSPy and LangChain waiting on a mock
# LLM at 64, 512 and 2,048 callers): docs/benchmarks-llm.md and docs/bench/llm.json, about
# 8 more minutes.
#   bash scripts/bench.sh            # the full run
#   bash scripts/bench.sh --llm      # only the LLM-bound comparison, full
#   bash scripts/bench.sh --smoke    # every driver for a moment (no Ray), checks they all work
#   bash scripts/bench.sh --front-door [--smoke]   # only the HTTP front door's benchmark
#                                    # (tests/bench/http: docs/benchmarks-http.md, docs/bench/http.json)
#   bash scripts/bench.sh --cluster  # only the cluster benchmark (root: 3 hosts in network
#                                    # namespaces, Redis, HAProxy, a host killed; ~1-2 minutes):
#                                    # docs/benchmarks-cluster.md and docs/bench/cluster.json
#   bash scripts/bench.sh --against REV [--smoke]   # this checkout against commit REV: the
#                                    # single-host rows (floors, C++ and HTTP APIs, payloads) of
#                                    # both builds in interleaved rounds (~10 minutes):
#                                    # docs/benchmarks-against-<REV's short hash>.md and its JSON
#                                    # in docs/bench/. REV is built in a worktree under
#                                    # build/against/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

smoke=0
llm_only=0
[ "${1:-}" = "--smoke" ] && smoke=1
[ "${1:-}" = "--llm" ] && llm_only=1

# The HTTP front door (issue 22): its own servers and clients, one run side by side.
if [ "${1:-}" = "--front-door" ]; then
  [ "${2:-}" = "--smoke" ] && smoke=1
  preset="${MLBRIDGE_BENCH_PRESET:-release}"
  cmake --preset "$preset" -DMLBRIDGE_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build --preset "$preset" --target mlbridge front_door_load front_door_rows >/dev/null
  if [ $smoke -eq 1 ]; then
    result="$(mktemp -d)/http.json"
    .venv/bin/python tests/bench/http/run.py --bin "build/$preset/bin" --out "$result" --smoke
    .venv/bin/python tests/bench/http/report_http.py "$result" --check
  else
    .venv/bin/python tests/bench/http/run.py --bin "build/$preset/bin" --out docs/bench/http.json
    .venv/bin/python tests/bench/http/report_http.py docs/bench/http.json \
      --write docs/benchmarks-http.md
  fi
  exit 0
fi

# Two builds side by side: REV in a worktree of its own, this checkout as it is.
if [ "${1:-}" = "--against" ]; then
  rev="${2:?--against needs a commit (a hash, tag or branch)}"
  [ "${3:-}" = "--smoke" ] && smoke=1
  preset="${MLBRIDGE_BENCH_PRESET:-release}"
  targets=(--target compare_bench embed_bench frame_echo mlbridge)
  commit="$(git rev-parse --verify "$rev^{commit}")" ||
    { echo "bench: $rev is not a commit of this repository" >&2; exit 2; }
  base="$ROOT/build/against/${commit:0:12}"
  if [ ! -d "$base" ]; then
    mkdir -p "$ROOT/build/against"
    git worktree add --detach "$base" "$commit" >/dev/null
  fi
  ln -sfn "$ROOT/.venv" "$base/.venv"
  (cd "$base" && cmake --preset "$preset" -DMLBRIDGE_BUILD_BENCHMARKS=ON >/dev/null &&
    cmake --build --preset "$preset" "${targets[@]}" >/dev/null)
  cmake --preset "$preset" -DMLBRIDGE_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build --preset "$preset" "${targets[@]}" >/dev/null
  ab=(--base "$base/build/$preset/bin" --head "build/$preset/bin")
  if [ $smoke -eq 1 ]; then
    .venv/bin/python tests/bench/compare/ab.py "${ab[@]}" --out "$(mktemp -d)/ab.json" --smoke
  else
    name="against-${commit:0:7}"
    .venv/bin/python tests/bench/compare/ab.py "${ab[@]}" --out "docs/bench/$name.json" \
      --write "docs/benchmarks-$name.md"
  fi
  exit 0
fi

# The cluster benchmark needs only the host binary (scripts/cluster.sh, docs/scale-out.md).
if [ "${1:-}" = "--cluster" ]; then
  preset="${MLBRIDGE_BENCH_PRESET:-release}"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target mlbridge >/dev/null
  mkdir -p docs/bench
  rm -f docs/bench/cluster.json
  echo "[bench] cluster: 3 hosts behind HAProxy, sessions in Redis, one host SIGKILLed"
  # The report is written even when a session was lost (cluster.sh then exits 1): it says so.
  status=0
  MLBRIDGE_BINARY="$ROOT/build/$preset/bin/mlbridge" MLBRIDGE_CLUSTER_REQUIRED=1 \
    bash scripts/cluster.sh bench "$ROOT/docs/bench/cluster.json" || status=$?
  [ -s docs/bench/cluster.json ] && .venv/bin/python tests/bench/cluster/report_cluster.py \
    docs/bench/cluster.json --write docs/benchmarks-cluster.md
  exit $status
fi

# The smoke run in CI reuses the ci build (optimized too); the full run uses release.
preset="${MLBRIDGE_BENCH_PRESET:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" \
  --target compare_bench embed_bench frame_echo worker_bench transformers_bench llm_load \
  mlbridge mlbridge_dspy mlbridge_langchain front_door_load front_door_rows >/dev/null
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

# The LLM-bound comparison: the mock LLM's ceiling, then FastAPI and mlbridge serving DSPy and
# LangChain programs that wait on it (tests/bench/llm/run.py).
llm_bench() {
  local llm_args=() result="$out/llm.json"
  [ $smoke -eq 1 ] && llm_args=(--smoke)
  echo "[bench] LLM-bound: mlbridge against FastAPI + uvicorn, DSPy and LangChain, mock LLM"
  .venv/bin/python tests/bench/llm/run.py --bin "$bin" --plugins "build/$preset/plugins" \
    --out "$result" "${llm_args[@]}"
  if [ $smoke -eq 1 ]; then
    .venv/bin/python tests/bench/llm/report_llm.py "$result" --check
  else
    .venv/bin/python tests/bench/llm/report_llm.py "$result" --write docs/benchmarks-llm.md
  fi
}
if [ $llm_only -eq 1 ]; then
  llm_bench
  exit 0
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
  echo "[bench] the HTTP front door, for a moment"
  .venv/bin/python tests/bench/http/run.py --bin "$bin" --out "$out/http.json" --smoke
  .venv/bin/python tests/bench/http/report_http.py "$out/http.json" --check
else
  .venv/bin/python tests/bench/report.py "$out" --write docs/benchmarks.md
fi

llm_bench
