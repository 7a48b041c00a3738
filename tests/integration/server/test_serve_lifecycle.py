"""`mlbridge serve` start-up refusals and its clean drain on SIGTERM."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import BINARY, ROOT, TOKEN, Server, deployment


def test_a_named_but_unset_token_variable_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment("  auth_token_env: MLBRIDGE_TEST_UNSET_TOKEN"))
    env = {k: v for k, v in os.environ.items() if k != "MLBRIDGE_TEST_UNSET_TOKEN"}
    done = subprocess.run(
        [BINARY, "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "MLBRIDGE_TEST_UNSET_TOKEN" in done.stderr and "not set" in done.stderr


def test_a_bad_config_refuses_to_start_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("bridges:\n  e:\n    script: x.py\n    pool: {size: many}\n")
    done = subprocess.run(
        [BINARY, "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "m.yaml:4:" in done.stderr and "bridges.e.pool.size" in done.stderr


def sleep_in_background(server: Server, bridge: str, seconds: int) -> tuple[threading.Thread, dict]:
    """Starts a `sleep` call on `bridge` from a thread and returns once it runs on a worker; the
    dict gets the call's (status, body, headers) under "reply" when it ends."""
    answer: dict = {}

    def call() -> None:
        answer["reply"] = server.request(
            "POST",
            f"/v1/bridges/{bridge}/commands/sleep",
            {"args": {"seconds": seconds}},
            token=None,
        )

    caller = threading.Thread(target=call)
    caller.start()
    busy = f'mlbridge_workers{{bridge="{bridge}",state="busy"}} 1'
    for _ in range(200):
        _, metrics, _ = server.request("GET", "/metrics", token=None)
        if busy in metrics:
            break
        threading.Event().wait(0.05)
    return caller, answer


def stop_cleanly(server: Server, caller: threading.Thread) -> str:
    """SIGTERMs the server and waits for it and for the caller; it must exit 0 having logged a
    clean stop. Returns its log."""
    code, err = server.stop()
    caller.join(timeout=60)
    assert code == 0, err
    assert "stopped cleanly" in err
    return err


def test_sigterm_lets_a_call_in_flight_finish_then_exits_zero(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment())
    server = Server(config, dict(os.environ))
    caller, answer = sleep_in_background(server, "pair", 1)
    stop_cleanly(server, caller)
    status, body, _ = answer["reply"]
    assert (status, body) == (200, {"result": {"slept": 1}})


def test_sigterm_cancels_a_call_that_outlasts_the_shutdown_budget(tmp_path: Path) -> None:
    # A call (or stream) that would run for ten minutes must not hold the exit back: the drain
    # waits shutdown_ms (1 s) for it, then cancels it, and the server exits 0 (Server.stop
    # gives it 60 s).
    config = tmp_path / "m.yaml"
    config.write_text(
        deployment(
            extra_bridges="""  slow:
    script: python_bridges/examples/echo_bridge.py
    pool: {size: 1}
    timeouts: {request_ms: 900000, shutdown_ms: 1000}
"""
        )
    )
    server = Server(config, dict(os.environ))
    caller, answer = sleep_in_background(server, "slow", 600)
    err = stop_cleanly(server, caller)
    assert "drain budget of 1000 ms used up" in err
    status, body, _ = answer["reply"]
    assert (status, body["error"]["category"]) == (499, "cancelled"), body


def test_readiness_is_false_while_a_bridge_cannot_serve_until_it_is_fixed(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    scripts = tmp_path / "bridges"
    scripts.mkdir()
    config.write_text(
        deployment(
            "  auth_token_env: MLBRIDGE_TEST_TOKEN\n"
            f"  runtime_registration: {{enabled: true, script_dirs: [{scripts}]}}"
        )
    )
    script = scripts / "fixable_bridge.py"
    script.write_text("import definitely_not_an_installed_module  # noqa: F401\n")
    server = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN))
    try:
        status, body, _ = server.request("GET", "/readyz")
        assert (status, body["ready"]) == (200, True)
        # Lazy bridges whose script cannot import: the first call starts a worker, which fails
        # at import; that is the bridge's configuration at fault, so the bridge fails at once.
        broken = {
            "script": str(script),
            "pool": {"size": 1, "lazy": True},
            "restart": {"max_restarts": 1, "window_s": 60},
        }
        for name in ("restarted", "patched"):
            status, _, _ = server.request("POST", "/v1/bridges", {"name": name, "config": broken})
            assert status == 201
            status, body, _ = server.request("POST", f"/v1/bridges/{name}/commands/ping", {})
            assert (status, body["error"]["category"]) == (400, "invalid_configuration"), body
            assert "definitely_not_an_installed_module" in body["error"]["message"]
        status, body, _ = server.request("GET", "/readyz")
        assert status == 503
        assert body["ready"] is False and body["bridges"]["restarted"] == "failed", body
        assert body["live"] is True
        # Liveness is not readiness: the process is fine.
        assert server.request("GET", "/healthz")[0] == 200

        # The cause fixed, an explicit restart or a configuration change brings each back.
        echo = ROOT / "python_bridges" / "examples" / "echo_bridge.py"
        script.write_text(f"import runpy\nrunpy.run_path({str(echo)!r}, run_name='__main__')\n")
        status, body, _ = server.request("POST", "/v1/bridges/restarted/restart")
        assert status == 200, body
        status, body, _ = server.request(
            "PATCH", "/v1/bridges/patched", {"options": {"fixed": True}}
        )
        assert status == 200, body
        for _ in range(600):  # hang guard only
            status, body, _ = server.request("GET", "/readyz")
            if status == 200:
                break
            threading.Event().wait(0.05)
        assert (status, body["ready"]) == (200, True), body
        for name in ("restarted", "patched"):
            status, body, _ = server.request(
                "POST", f"/v1/bridges/{name}/commands/echo", {"args": {"n": 1}}
            )
            assert (status, body) == (200, {"result": {"n": 1}})
        status, body, _ = server.request("POST", "/v1/bridges/nope/restart")
        assert status == 404, body
    finally:
        code, err = server.stop()
    assert code == 0, err


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment("  log_format: json"))
    server = Server(config, dict(os.environ), log=tmp_path / "serve.log")
    status, _, _ = server.request(
        "POST", "/v1/bridges/echo/commands/print", {"args": {"text": "hi"}}
    )
    assert status == 200
    code, err = server.stop()
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(set(r) == {"time", "level", "logger", "message"} for r in records), records
    assert any(r["message"] == "stopped cleanly" and r["level"] == "info" for r in records)
    # What the worker printed to stdout is logged as one of those objects too.
    assert any("hi" in r["message"] for r in records), records


@pytest.mark.parametrize(
    "extra_host", ["", "  allow_runtime_registration: false"], ids=["default", "old_key"]
)
def test_runtime_registration_switched_off_refuses_every_change(
    tmp_path: Path, extra_host: str
) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment(extra_host))
    server = Server(config, dict(os.environ))
    try:
        extra = {"name": "extra", "config": {"script": "python_bridges/examples/echo_bridge.py"}}
        for method, path, body in [
            ("POST", "/v1/bridges", extra),
            ("PATCH", "/v1/bridges/echo", {"pool": {"size": 2}}),
            ("DELETE", "/v1/bridges/echo", None),
            ("POST", "/v1/bridges/echo/restart", None),
        ]:
            status, answer, _ = server.request(method, path, body, token=None)
            assert status == 403, (method, path, answer)
            assert answer["error"]["category"] == "invalid_configuration"
            assert "host.runtime_registration.enabled: true" in answer["error"]["message"]
        status, answer, _ = server.request("GET", "/v1/bridges/echo", token=None)
        assert status == 200 and answer["state"] == "running"
        assert len(answer["workers"]) == 1, "the refused PATCH changed nothing"
        status, answer, _ = server.request("GET", "/v1/bridges/extra", token=None)
        assert status == 404
    finally:
        code, err = server.stop()
    assert code == 0, err


def test_serve_refuses_runtime_registration_without_a_token(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment("  runtime_registration: {enabled: true}"))
    done = subprocess.run(
        [BINARY, "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "host.runtime_registration.enabled is true, but no bearer token is set" in done.stderr
    for remedy in ("host.auth_token_env", "host.runtime_registration.enabled: false"):
        assert remedy in done.stderr
    assert "starting" not in done.stderr, "it refused before starting any worker"


@pytest.mark.parametrize(
    ("extra_host", "expected"),
    [
        ("", f"while at most {os.cpu_count()} calls are in flight"),
        ("  loop_spin_max_calls: 16", "while at most 16 calls are in flight"),
        ("  loop_spin_max_calls: 0", "at any load"),
    ],
    ids=["serve_default_cores", "from_yaml", "yaml_zero"],
)
def test_serve_says_when_its_event_loop_polls(
    tmp_path: Path, extra_host: str, expected: str
) -> None:
    """Under `serve` the loop polls only while at most one call per core is in flight unless the
    YAML says otherwise (host.loop_spin_max_calls); the log says which."""
    config = tmp_path / "m.yaml"
    config.write_text(deployment(extra_host))
    server = Server(config, dict(os.environ), log=tmp_path / "serve.log")
    code, err = server.stop()
    assert code == 0, err
    polling = [line for line in err.splitlines() if "the event loop polls" in line]
    assert len(polling) == 1, err
    assert expected in polling[0], polling[0]
