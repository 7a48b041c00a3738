#!/usr/bin/env bash
# End-to-end checks of the mlbridge CLI. Usage: cli_test.sh MLBRIDGE_BINARY SOURCE_DIR
# Each check runs a command and tests its exit code and output; the first failure stops the test.
set -uo pipefail
MLBRIDGE=$1
ROOT=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$ROOT"

failures=0
# expect NAME WANTED_EXIT PATTERN -- COMMAND...: runs COMMAND, checks its exit code and that its
# stdout+stderr match the extended regex PATTERN.
expect() {
  local name=$1 wanted=$2 pattern=$3
  shift 4
  local output status
  output=$("$@" 2>&1)
  status=$?
  if [[ $status -ne $wanted ]] || ! grep -Ezq -- "$pattern" <<<"$output"; then
    echo "FAIL $name: exit $status (wanted $wanted), output did not match /$pattern/:"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

PYTHON="$ROOT/.venv/bin/python"
# expect_json NAME PYTHON_EXPRESSION -- COMMAND...: runs COMMAND, checks that it exits 0 and that
# its stdout is one JSON document for which the Python expression (over `r`, the document) holds.
expect_json() {
  local name=$1 check=$2
  shift 3
  local output status
  output=$("$@" 2>"$TMP/stderr")
  status=$?
  if [[ $status -ne 0 ]] || ! "$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.read())
sys.exit(0 if eval(sys.argv[1], {}, {"r": r}) else 1)
' "$check" <<<"$output" 2>>"$TMP/stderr"; then
    echo "FAIL $name: exit $status (wanted 0), output did not satisfy: $check"
    echo "$output" | sed 's/^/    /'
    sed 's/^/    stderr: /' "$TMP/stderr"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

# The dspy and langchain bridges declare the team's own code (examples/user_code/myteam): check
# imports each module.
expect "check passes on every bridge of the shipped config, its declared code imported" 0 \
  "bridge dspy .*ok    code module myteam.programs +imported.*ok    code module myteam.metrics +imported.*bridge echo .*bridge langchain .*ok    code module myteam.chains +imported.*bridge transformers .*all checks passed" -- \
  "$MLBRIDGE" check --config config/mlbridge.yaml
# One real command per framework bridge of the shipped config, offline: without OPENAI_API_KEY
# DSPy and LangChain use their offline models, and Transformers loads a tiny local model that
# scripts/setup.sh builds into build/models.
expect_json "call dspy create_program parses a signature" \
  'r["created"] is True and r["program_id"] == "qa" and r["module"] == "predict" and r["signature"] == "question: str -> answer: str"' -- \
  env -u OPENAI_API_KEY "$MLBRIDGE" call dspy create_program --config config/mlbridge.yaml \
  --args '{"program_id": "qa", "signature": "question -> answer"}'
expect_json "call langchain get_model answers with the offline model" \
  'r["offline"] is True and r["model"] == "offline GenericFakeChatModel" and r["api_key_set"] is False' -- \
  env -u OPENAI_API_KEY "$MLBRIDGE" call langchain get_model --config config/mlbridge.yaml
expect_json "call langchain list_tools lists the tool registry" \
  'sorted(t["name"] for t in r["tools"]) == ["calculator", "retriever"]' -- \
  env -u OPENAI_API_KEY "$MLBRIDGE" call langchain list_tools --config config/mlbridge.yaml
expect_json "call transformers load_model loads a local model from model_dirs" \
  'r["model_id"] == "tiny-gpt2" and r["task"] == "text-generation" and r["parameters"] > 0 and r["path"].endswith("build/models/tiny-gpt2")' -- \
  "$MLBRIDGE" call transformers load_model --config config/mlbridge.yaml --args '{"path": "tiny-gpt2"}'
# The team's own code of the shipped config: a declared program and chain answer; requests name a
# metric and a runnable by import path.
expect_json "call dspy execute_program runs the user's RAG module (options.programs)" \
  'r["program_id"] == "team-rag" and r["outputs"]["answer"] == "5" and r["lm"] == "offline DummyLM"' -- \
  env -u OPENAI_API_KEY "$MLBRIDGE" call dspy execute_program --config config/mlbridge.yaml \
  --args '{"program_id": "team-rag", "inputs": {"question": "What is 2+3?"}}'
expect_json "call dspy evaluate_program scores with the user's metric by import path" \
  'r["metric"] == "myteam.metrics:exact" and r["count"] == 2 and r["score"] == 50.0' -- \
  env -u OPENAI_API_KEY "$MLBRIDGE" call dspy evaluate_program --config config/mlbridge.yaml \
  --args '{"program_id": "team-rag", "metric": "myteam.metrics:exact", "devset": [{"question": "What is 2+2?", "answer": "4"}, {"question": "Capital of France?", "answer": "Paris"}]}'
expect_json "call langchain create_chain takes the user's runnable by import path" \
  'r["created"] is True and r["runnable"] == "myteam.chains:summarize" and r["input_schema"]["required"] == ["text"]' -- \
  env -u OPENAI_API_KEY "$MLBRIDGE" call langchain create_chain --config config/mlbridge.yaml \
  --args '{"chain_id": "mine", "runnable": "myteam.chains:summarize"}'
expect_json "call langchain invoke runs the user's runnable (options.chains)" \
  'r["output"] == {"summary": "Short.", "words": 1, "sentences": 2}' -- \
  env -u OPENAI_API_KEY "$MLBRIDGE" call langchain invoke --config config/mlbridge.yaml \
  --args '{"chain_id": "team-summary", "input": {"text": "Short. Then more.", "max_words": 1}}'
expect "call runs a command on a configured bridge" 0 '"x": 1' -- \
  "$MLBRIDGE" call echo echo --config config/mlbridge.yaml --args '{"x": 1}'
expect "call uses host.default_bridge when no bridge is named" 0 '"y": 2' -- \
  "$MLBRIDGE" call echo --config config/mlbridge.yaml --args '{"y": 2}'
expect "stream chunks are printed one per line before the result" 0 '"index": ?2' -- \
  "$MLBRIDGE" call echo stream --config config/mlbridge.yaml --args '{"count": 3}'
expect "a Python error is translated and exits 1" 1 "error: not_found: .*KeyError" -- \
  "$MLBRIDGE" call echo fail --config config/mlbridge.yaml \
  --args '{"type": "KeyError", "message": "k"}'
expect "an unknown bridge names the configured ones" 1 "no bridge named 'nope'.*configured: dspy, echo, langchain" -- \
  "$MLBRIDGE" call nope ping --config config/mlbridge.yaml
expect "--args must be a JSON object" 2 "--args must be a JSON object" -- \
  "$MLBRIDGE" call echo echo --config config/mlbridge.yaml --args '[1]'
expect "--script runs a script without a config" 0 '"z": 3' -- \
  "$MLBRIDGE" call --script python_bridges/examples/echo_bridge.py echo --args '{"z": 3}'

printf 'bridges:\n  echo:\n    script: python_bridges/examples/echo_bridge.py\n    pool: {size: -1}\n' \
  >"$TMP/negative.yaml"
expect "check names file, line and key of a bad value" 1 "negative.yaml:4:[0-9]+: bridges.echo.pool.size" -- \
  "$MLBRIDGE" check --config "$TMP/negative.yaml"
printf 'bridges:\n  echo: {script: [unclosed\n' >"$TMP/syntax.yaml"
expect "a YAML syntax error names the file and line" 2 "syntax.yaml:[0-9]+:[0-9]+" -- \
  "$MLBRIDGE" call echo ping --config "$TMP/syntax.yaml"
printf 'bridges:\n  echo:\n    script: python_bridges/examples/echo_bridge.py\n    required_packages: [no_such_package_xyz]\n    required_env: [MLBRIDGE_TEST_UNSET_VAR]\n' \
  >"$TMP/environment.yaml"
expect "check reports a missing package" 1 "FAIL.*no_such_package_xyz" -- \
  "$MLBRIDGE" check --config "$TMP/environment.yaml"
expect "check reports a missing variable" 1 "FAIL.*MLBRIDGE_TEST_UNSET_VAR" -- \
  "$MLBRIDGE" check --config "$TMP/environment.yaml"
expect "call refuses a bridge that fails its environment check" 1 \
  "invalid_configuration: .*environment check.*no_such_package_xyz" -- \
  "$MLBRIDGE" call echo ping --config "$TMP/environment.yaml"
# init, shutdown, cleanup and cleanup_session belong to the host: not commands, by any spelling.
for builtin in init shutdown common:cleanup_session; do
  expect "call refuses the host-only built-in $builtin as an unknown command" 1 \
    "not_found: bridge 'echo' has no command '$builtin'" -- \
    "$MLBRIDGE" call echo "$builtin" --config config/mlbridge.yaml --args '{"options": {"api_base": "http://attacker.example"}}'
done

# A bridge script that fails at import: check imports it (not as __main__) in the worker's
# environment and reports the error with its traceback, once; call reports it once, as the
# configuration problem it is, without a crash loop.
printf 'bridges:\n  broken:\n    script: tests/support/workers/import_error_bridge.py\n    pool: {size: 1}\n    restart: {max_restarts: 5, window_s: 60}\n' \
  >"$TMP/import_error.yaml"
expect "check imports the bridge script and shows its import error" 1 \
  "FAIL  script import +the bridge script failed at import: ModuleNotFoundError: No module named 'definitely_not_an_installed_module' \(traceback below\).*        Traceback \(most recent call last\):.*problems found" -- \
  "$MLBRIDGE" check --config "$TMP/import_error.yaml"
# expect_once NAME WANTED_EXIT PATTERN TEXT -- COMMAND...: like expect, and TEXT occurs exactly
# once in the output.
expect_once() {
  local name=$1 wanted=$2 pattern=$3 text=$4
  shift 5
  local output status count
  output=$("$@" 2>&1)
  status=$?
  count=$(grep -cF -- "$text" <<<"$output")
  if [[ $status -ne $wanted ]] || [[ $count -ne 1 ]] || ! grep -Ezq -- "$pattern" <<<"$output"; then
    echo "FAIL $name: exit $status (wanted $wanted), '$text' $count times (wanted once), output /$pattern/?"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}
expect_once "check prints the import traceback once" 1 "script import" \
  "Traceback (most recent call last):" -- "$MLBRIDGE" check --config "$TMP/import_error.yaml"
expect_once "call reports an import error once, with its traceback" 1 \
  "error: invalid_configuration: bridge 'broken': the bridge script failed at import: ModuleNotFoundError: No module named 'definitely_not_an_installed_module' \(traceback below\).*Traceback \(most recent call last\):.*import definitely_not_an_installed_module" \
  "Traceback (most recent call last):" -- \
  "$MLBRIDGE" call broken ping --config "$TMP/import_error.yaml"
expect_once "call states the import error once" 1 "invalid_configuration" \
  "No module named 'definitely_not_an_installed_module' (traceback below)" -- \
  "$MLBRIDGE" call broken ping --config "$TMP/import_error.yaml"

# The bridge's declared code (code.modules): check imports each module with code.paths first on
# sys.path and shows a failing one with its traceback; call reports the failed start once, naming
# the module.
mkdir -p "$TMP/code/brokenteam"
echo "raise RuntimeError('the team database is unreachable')" >"$TMP/code/brokenteam/__init__.py"
printf 'bridges:\n  team:\n    script: python_bridges/examples/echo_bridge.py\n    pool: {size: 1}\n    code: {paths: [examples/user_code, %s], modules: [myteam, brokenteam]}\n' \
  "$TMP/code" >"$TMP/user_code.yaml"
expect "check imports the declared code modules and shows an import error" 1 \
  "ok    code module myteam +imported.*FAIL  code module brokenteam +failed at import: RuntimeError: the team database is unreachable \(traceback below\).*        Traceback \(most recent call last\):.*raise RuntimeError.*problems found" -- \
  "$MLBRIDGE" check --config "$TMP/user_code.yaml"
expect_once "call reports a declared module's import error once, naming the module" 1 \
  "error: invalid_configuration: bridge 'team': its declared code failed to load: code module 'brokenteam' failed to import: RuntimeError: the team database is unreachable.*Traceback \(most recent call last\):.*raise RuntimeError" \
  "its declared code failed to load" -- \
  "$MLBRIDGE" call team ping --config "$TMP/user_code.yaml"

# A bridge script that hangs at import: check gives up after timeouts.startup_ms, says so, and
# kills the interpreter's whole process group (the script started a child in it).
printf 'bridges:\n  stuck:\n    script: tests/support/workers/hang_at_import_bridge.py\n    timeouts: {startup_ms: 3000}\n    env: {set: {MLBRIDGE_TEST_PID_FILE: "%s"}}\n' \
  "$TMP/stuck.pids" >"$TMP/hang.yaml"
expect "check reports a script that hangs at import" 1 \
  "FAIL  script import +importing .*hang_at_import_bridge.py did not finish within timeouts.startup_ms \(3000 ms\): the script hangs at import" -- \
  "$MLBRIDGE" check --config "$TMP/hang.yaml"
if [[ ! -s "$TMP/stuck.pids" ]]; then
  echo "FAIL the hanging script wrote no pids to $TMP/stuck.pids"
  failures=$((failures + 1))
else
  left=""
  for pid in $(cat "$TMP/stuck.pids"); do
    # Gone, or a zombie waiting for an init that does not reap (it runs no more).
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [[ -n $state && $state != Z ]] && left="$left $pid"
  done
  if [[ -n $left ]]; then
    echo "FAIL check left the hanging import's processes running:$left"
    kill -9 $left 2>/dev/null
    failures=$((failures + 1))
  else
    echo "ok   check killed the hanging import and the child it started"
  fi
fi

expect "a missing config file is named" 2 "not found" -- \
  "$MLBRIDGE" call echo ping --config "$TMP/absent.yaml"
expect "plugins lists nothing in an empty directory" 0 "no plugins" -- \
  "$MLBRIDGE" plugins --plugin-dir "$TMP"
echo "not a library" >"$TMP/libmlbridge_fake.so"
expect "plugins reports a file that is not a plugin" 1 "FAIL.*libmlbridge_fake.so" -- \
  "$MLBRIDGE" plugins --plugin-dir "$TMP"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
