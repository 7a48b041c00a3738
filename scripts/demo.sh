#!/usr/bin/env bash
# Sets up everything, builds an optimized host, and runs the main job: the host starts a worker of
# the example echo bridge, makes a few calls, and prints the results and round-trip times.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
cmake --preset release >/dev/null
cmake --build --preset release --target mlbridge mlbridge_echo_demo >/dev/null
exec "$ROOT/build/release/bin/mlbridge_echo_demo"
