#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (in the `asan` preset's tree: clang, ASan + UBSan,
# the host's code instrumented for coverage) and runs each for a fixed time, starting from its
# checked-in seed corpus (tests/fuzz/corpus/<name>/).
#   bash scripts/fuzz.sh [SECONDS_EACH] [NAME...]     (default: 60 s each, every fuzzer)
# New inputs found go to build/asan/fuzz/corpus/<name>/ (the checked-in corpus is only read); a crash,
# a sanitizer report or a hang (-timeout) is written to build/asan/fuzz/artifacts/<name>/ and makes
# the script exit 1. Reproduce one with: build/asan/bin/<name>_fuzzer <artifact file>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUN_SECONDS="${1:-60}"
shift || true
FUZZERS=("$@")
if [ ${#FUZZERS[@]} -eq 0 ]; then
  FUZZERS=(frame_reader json_codec msgpack_codec message_parser yaml_config http_request
    json_transcode)
fi

cmake --preset asan >/dev/null
cmake --build --preset asan --target "${FUZZERS[@]/%/_fuzzer}"

failed=()
for name in "${FUZZERS[@]}"; do
  corpus="build/asan/fuzz/corpus/$name"
  artifacts="build/asan/fuzz/artifacts/$name"
  log="build/asan/fuzz/$name.log"
  mkdir -p "$corpus" "$artifacts"
  printf '[fuzz] %s for %ss ... ' "$name" "$RUN_SECONDS"
  if ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "build/asan/bin/${name}_fuzzer" -max_total_time="$RUN_SECONDS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    echo "ok (${runs:-?} inputs)"
  else
    echo "FAILED (see $log)"
    tail -n 60 "$log"
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "[fuzz] failed: ${failed[*]}"
  exit 1
fi
echo "[fuzz] ${#FUZZERS[@]} fuzzers ran ${RUN_SECONDS}s each without a crash"
