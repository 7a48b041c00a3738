#!/usr/bin/env bash
# Runs the chaos test (tests/chaos/) for as long as asked and prints counts per outcome: calls,
# faults injected, outcomes by kind, the async bridge's figures (calls in flight, cancels, calls
# answered per worker death, condemned workers), and every invariant (lost, doubled, hangs, wrong
# results, unexplained failures, session calls out of order, leaked processes, file descriptors,
# memory). Exits non-zero on a violation.
#   bash scripts/chaos.sh                       # 10 minutes
#   bash scripts/chaos.sh --duration 600 [--seed N] [--threads N] [--async-calls N]
#                         [--async-concurrency N]   # 200 in flight at max_concurrency 256 by default
# MLBRIDGE_CHAOS_PRESET picks the build (default: release). CI runs 60 s of it through ctest
# (label `chaos`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--duration 600)

preset="${MLBRIDGE_CHAOS_PRESET:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target chaos_test >/dev/null
exec "build/$preset/bin/chaos_test" "${args[@]}"
