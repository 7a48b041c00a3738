#!/usr/bin/env bash
# The plugin SDK as an outside project sees it: install the SDK from a build directory into a
# temporary prefix, build sdk/examples/notes against that prefix alone, check what the plugin
# exports, then deploy it with a YAML file and call it through the CLI. Beside it: a plugin
# written in C builds with nlohmann_json hidden (c_plugin/), and a C++ plugin that forgot
# MLBRIDGE_PLUGIN(...) fails to build with a message saying so (no_macro/).
#
# usage: sdk_install_test.sh MLBRIDGE_BIN BUILD_DIR SOURCE_DIR CMAKE NM [GENERATOR]
#   MLBRIDGE_BIN  the mlbridge executable ($<TARGET_FILE:mlbridge>)
#   BUILD_DIR     the configured mlbridge build directory to install the SDK from
#   SOURCE_DIR    the mlbridge source tree (for sdk/examples/notes and .venv/bin/python)
#   CMAKE, NM     the tools to use; GENERATOR the CMake generator for the example's build
#
# Exit status 0: passed; 77: skipped (no .venv/bin/python for the CLI step); else failed.
set -euo pipefail

if [[ $# -lt 5 ]]; then
  echo "usage: $0 MLBRIDGE_BIN BUILD_DIR SOURCE_DIR CMAKE NM [GENERATOR]" >&2
  exit 2
fi
mlbridge=$1
build_dir=$2
source_dir=$3
cmake=$4
nm=$5
generator=${6:-}
example=$source_dir/sdk/examples/notes
here=$source_dir/tests/integration/sdk_install

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlbridge_sdk_install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

step() { echo "--- $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Runs "$@", keeping stdout in $tmp/out and stderr in $tmp/err; sets $status.
run() {
  status=0
  "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
}
show() {
  echo "  stdout: $(cat "$tmp/out")" >&2
  echo "  stderr: $(cat "$tmp/err")" >&2
}
# stdout and stderr of the last run() on one line, runs of blanks and newlines made one space
# (CMake wraps its messages).
said() { cat "$tmp/out" "$tmp/err" | tr -s ' \n' '  '; }

step "install the SDK component from $build_dir into a temporary prefix"
"$cmake" --install "$build_dir" --prefix "$tmp/prefix" --component sdk >/dev/null
[[ -f $tmp/prefix/include/mlbridge/sdk/plugin.hpp ]] || fail "plugin.hpp was not installed"
config=$(find "$tmp/prefix" -name mlbridgeConfig.cmake)
[[ -n $config ]] || fail "mlbridgeConfig.cmake was not installed"
# Nothing but the SDK: no core library, no executables.
extra=$(find "$tmp/prefix" -type f \( -name '*.a' -o -name '*.so*' -o -perm -u+x \) | head -5)
[[ -z $extra ]] || fail "the sdk component installed more than the SDK: $extra"

step "configure and build sdk/examples/notes against the installed SDK only"
generator_args=()
[[ -n $generator ]] && generator_args=(-G "$generator")
"$cmake" -S "$example" -B "$tmp/build" "${generator_args[@]}" \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log" >&2; fail "configuring the notes example failed"; }
found_dir=$(sed -n 's/^mlbridge_DIR:PATH=//p' "$tmp/build/CMakeCache.txt")
[[ $found_dir == "$tmp/prefix"/* ]] || fail "find_package(mlbridge) found '$found_dir', not the temporary prefix"
"$cmake" --build "$tmp/build" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log" >&2; fail "building the notes example failed"; }
plugin=$tmp/build/libmlbridge_notes.so
[[ -f $plugin ]] || fail "no libmlbridge_notes.so in the example's build directory"
[[ -f $tmp/build/notes_bridge.py ]] || fail "notes_bridge.py was not copied beside the library"
if grep -rqF "$source_dir/sdk/include" "$tmp/build" --include='*.ninja' --include='*.make' \
  --include='flags.make' --include='CMakeCache.txt'; then
  fail "the example's build uses headers from the source tree, not the installed SDK"
fi

step "the plugin exports only mlbridge_plugin_entry"
exported=$("$nm" -D --defined-only "$plugin" | awk '{print $NF}' | sort)
[[ $exported == "mlbridge_plugin_entry" ]] || fail "exported symbols are: $(echo $exported)"

# Configures "$1" into "$2" against the temporary prefix only, with the extra arguments "${@:3}".
configure() {
  run "$cmake" -S "$1" -B "$2" "${generator_args[@]}" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "${@:3}"
}

step "a plugin written in C builds with nlohmann_json hidden"
configure "$here/c_plugin" "$tmp/c_build" -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON
[[ $status -eq 0 ]] || { show; fail "configuring the C plugin without nlohmann_json failed"; }
run "$cmake" --build "$tmp/c_build"
[[ $status -eq 0 ]] || { show; fail "building the C plugin without nlohmann_json failed"; }
c_plugin=$tmp/c_build/libmlbridge_hello_c.so
[[ -f $c_plugin ]] || fail "no libmlbridge_hello_c.so in the C plugin's build directory"
if grep -rqi nlohmann "$tmp/c_build" --include='*.ninja' --include='*.make' --include='flags.make'; then
  fail "the C plugin's build still refers to nlohmann_json"
fi
exported=$("$nm" -D --defined-only "$c_plugin" | awk '{print $NF}' | sort)
[[ $exported == "mlbridge_plugin_entry" ]] || fail "the C plugin exports: $(echo $exported)"

step "asking for the C++ component without nlohmann_json fails, naming what is missing"
configure "$here/c_plugin" "$tmp/c_build_cxx" -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON \
  -DWANT_CXX_SDK=ON
[[ $status -ne 0 ]] || { show; fail "COMPONENTS sdk was found without nlohmann_json"; }
[[ $(said) == *"needs nlohmann_json 3.11 or newer, which was not found"* ]] ||
  { show; fail "the missing nlohmann_json was not named"; }

step "a C++ plugin without MLBRIDGE_PLUGIN(...) fails to build, saying what to add"
configure "$here/no_macro" "$tmp/no_macro_build"
[[ $status -eq 0 ]] || { show; fail "configuring the plugin without MLBRIDGE_PLUGIN failed"; }
run "$cmake" --build "$tmp/no_macro_build"
[[ $status -ne 0 ]] || { show; fail "a plugin without MLBRIDGE_PLUGIN(...) was built"; }
[[ $(said) == *"libmlbridge_forgetful.so defines no mlbridge_plugin_entry"* ]] ||
  { show; fail "the build failure does not say the entry point is missing"; }
[[ $(said) == *"write MLBRIDGE_PLUGIN(YourAdapter) once"* ]] ||
  { show; fail "the build failure does not say to write MLBRIDGE_PLUGIN(...)"; }
[[ ! -e $tmp/no_macro_build/libmlbridge_forgetful.so ]] ||
  fail "a libmlbridge_forgetful.so was left behind"

python=$source_dir/.venv/bin/python
if [[ ! -x $python ]]; then
  echo "SKIP: no $python to run the notes bridge with (steps before the CLI passed)"
  exit 77
fi

step "mlbridge plugins sees it"
run "$mlbridge" plugins --plugin-dir "$tmp/build"
[[ $status -eq 0 ]] || { show; fail "mlbridge plugins exited $status"; }
grep -q '^notes  1.0.0  framework notes  ABI 1.1' "$tmp/out" || { show; fail "mlbridge plugins does not list notes"; }

write_config() {  # write_config FILE MAX_NOTES [SCRIPT]; no SCRIPT: the plugin's default
  local script_line=""
  [[ -n ${3:-} ]] && script_line="script: \"$3\""
  cat >"$1" <<EOF
host:
  root: "$source_dir"
  python: "$python"
  plugin_dirs: ["$tmp/build"]
bridges:
  notes:
    plugin: notes
    $script_line
    options: {max_notes: $2}
    timeouts: {startup_ms: 20000, request_ms: 10000}
EOF
}
write_config "$tmp/notes.yaml" 5 "$example/notes_bridge.py"

step "mlbridge check accepts the deployment"
run "$mlbridge" check --config "$tmp/notes.yaml"
[[ $status -eq 0 ]] || { show; fail "mlbridge check exited $status"; }

step "mlbridge check refuses options the plugin's validate() rejects"
write_config "$tmp/bad.yaml" 0 "$example/notes_bridge.py"
run "$mlbridge" check --config "$tmp/bad.yaml"
[[ $status -ne 0 ]] || { show; fail "mlbridge check accepted options.max_notes: 0"; }
grep -qF "options.max_notes must be a positive integer, not 0 (checked by plugin 'notes')" \
  "$tmp/out" "$tmp/err" || { show; fail "mlbridge check did not report the plugin's message"; }

step "mlbridge call notes create_note"
run "$mlbridge" call notes create_note --config "$tmp/notes.yaml" \
  --args '{"title": "Shopping", "tags": ["home"]}'
[[ $status -eq 0 ]] || { show; fail "create_note exited $status"; }
# The plugin's shape_args filled in the body; the bridge numbered the note.
"$python" - "$tmp/out" <<'EOF' || { show; fail "create_note printed an unexpected result"; }
import json, sys
note = json.load(open(sys.argv[1]))
expected = {"id": "n1", "title": "Shopping", "body": "", "tags": ["home"]}
assert note == expected, f"got {note!r}, expected {expected!r}"
EOF

step "a call for an unknown note fails with not_found (the plugin's error rule)"
run "$mlbridge" call notes get_note --config "$tmp/notes.yaml" --args '{"id": "n42"}'
[[ $status -eq 1 ]] || { show; fail "get_note of an unknown note exited $status, not 1"; }
[[ ! -s $tmp/out ]] || { show; fail "a failed call printed a result"; }
head -n 1 "$tmp/err" | grep -q "^error: not_found: .*no note 'n42' in this session" ||
  { show; fail "get_note did not report not_found"; }

step "arguments the plugin refuses never reach a worker"
run "$mlbridge" call notes create_note --config "$tmp/notes.yaml" --args '{"body": "untitled"}'
[[ $status -eq 1 ]] || { show; fail "create_note without a title exited $status, not 1"; }
head -n 1 "$tmp/err" |
  grep -qF "error: invalid_argument: plugin 'notes' refused the arguments of 'create_note': 'title' must be a non-empty string" ||
  { show; fail "create_note without a title was not refused by the plugin"; }

step "without script: in the YAML, the notes_bridge.py that BRIDGE_SCRIPT copied beside the plugin runs"
write_config "$tmp/default_script.yaml" 5
run "$mlbridge" call notes create_note --config "$tmp/default_script.yaml" --args '{"title": "Beside"}'
[[ $status -eq 0 ]] || { show; fail "create_note with the plugin's default script exited $status"; }
grep -qF '"title": "Beside"' "$tmp/out" || { show; fail "create_note printed an unexpected result"; }

step "the C plugin is listed and serves its bridge"
run "$mlbridge" plugins --plugin-dir "$tmp/c_build"
[[ $status -eq 0 ]] || { show; fail "mlbridge plugins exited $status for the C plugin"; }
grep -q '^hello_c  1.0.0  framework echo  ABI 1.1' "$tmp/out" ||
  { show; fail "mlbridge plugins does not list hello_c"; }
cat >"$tmp/hello_c.yaml" <<EOF
host:
  root: "$source_dir"
  python: "$python"
  plugin_dirs: ["$tmp/c_build"]
bridges:
  hello:
    plugin: hello_c
    script: "$source_dir/python_bridges/examples/echo_bridge.py"
    timeouts: {startup_ms: 20000, request_ms: 10000}
EOF
run "$mlbridge" call hello echo --config "$tmp/hello_c.yaml" --args '{"from": "C"}'
[[ $status -eq 0 ]] || { show; fail "echo through the C plugin exited $status"; }
grep -qF '"from": "C"' "$tmp/out" || { show; fail "echo through the C plugin printed an unexpected result"; }

echo "PASS"
