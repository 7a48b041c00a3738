#!/usr/bin/env bash
# Sets up everything, builds, and runs every test: C++ unit and integration tests (ctest, with
# 60 s of the chaos test and the host-kill tests of tests/chaos/), the Python tests (pytest),
# lint, a benchmark smoke run, the host's C++ tests again under ASan + UBSan (20 s of chaos), the worker,
# pool, session-replay, operations and HTTP server tests under TSan, and each libFuzzer target
# for a short time.
# MLBRIDGE_SKIP_ASAN=1 / MLBRIDGE_SKIP_TSAN=1 / MLBRIDGE_SKIP_FUZZ=1 skip those passes (for a
# quicker local run); MLBRIDGE_FUZZ_SECONDS sets the time per fuzzer (default 10).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

# Each step prints the wall time since the start, so a slow CI run shows where its time went.
step() { printf '\n==== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "build (preset ci)"
cmake --preset ci >/dev/null
cmake --build --preset ci

step "C++ tests (ctest, preset ci)"
ctest --preset ci

step "Python lint (ruff)"
.venv/bin/ruff check --config python_bridges/pyproject.toml python_bridges tests examples scripts sdk
.venv/bin/ruff format --check --config python_bridges/pyproject.toml python_bridges tests examples scripts sdk

step "Python tests (pytest)"
.venv/bin/python -m pytest -q tests/python

step "benchmark smoke run (the full run: bash scripts/bench.sh)"
MLBRIDGE_BENCH_PRESET=ci bash scripts/bench.sh --smoke

if [ "${MLBRIDGE_SKIP_ASAN:-0}" != "1" ]; then
  # The host's own C++ under ASan + UBSan: every unit test, the worker, pool, host and operations
  # tests, 20 s of chaos and the host-kill tests. The framework bridge, CLI, SDK-install and HTTP
  # tests (mostly Python time) ran above; the HTTP server runs again under TSan below.
  step "C++ tests under ASan + UBSan (preset asan)"
  cmake --preset asan >/dev/null
  cmake --build --preset asan --target errors_test protocol_test process_test config_test \
    plugin_test session_test ops_test runtime_test telemetry_test worker_test worker_unit_test \
    calls_test server_unit_test pool_test host_test operations_test chaos_test host_kill_test \
    store_test
  # Not built here, so left out: the targets above are all the tests this pass runs.
  ctest --preset asan -E "_NOT_BUILT$|^(Server|Cli|SdkInstall|LangChainHost|TransformersHost)\\."
fi

if [ "${MLBRIDGE_SKIP_TSAN:-0}" != "1" ]; then
  step "worker, pool, session-replay, operations, Redis client and HTTP server tests under ThreadSanitizer (preset tsan)"
  cmake --preset tsan >/dev/null
  # mlbridge: the server tests (pytest, Server.HttpApi) drive a TSan build of `mlbridge serve`;
  # openapi_document: Server.OpenApiDocument validates the document it prints.
  cmake --build --preset tsan --target worker_test pool_test operations_test store_test mlbridge \
    openapi_document
  # tests/tsan.supp: reports from inside Debian's uninstrumented cpp-httplib library.
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$ROOT/tests/tsan.supp" \
    ctest --preset tsan -R "Worker|Pool|SessionReplay|HostDeath|Operations|Redis|Server\."
fi

if [ "${MLBRIDGE_SKIP_FUZZ:-0}" != "1" ]; then
  step "fuzzers, ${MLBRIDGE_FUZZ_SECONDS:-10} s each (in the asan tree; longer: bash scripts/fuzz.sh 600)"
  bash scripts/fuzz.sh "${MLBRIDGE_FUZZ_SECONDS:-10}"
fi

step "all tests passed"
