"""Runtime operations over HTTP: PATCH of a running bridge, SIGHUP reload, retries, the
circuit breaker against a backend that fails then recovers, and fire-and-forget calls.

Nothing here asserts a duration: waits poll for a state, with a generous hang guard.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import BINARY, REGISTRATION, ROOT, TOKEN, Server

sys.path.insert(0, str(ROOT / "tests" / "support"))
from openai_server import start_server  # noqa: E402

HANG_GUARD_S = 60


def eventually(done: Callable[[], Any]) -> Any:
    """Polls `done` until it returns something true; fails the test after the hang guard."""
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        value = done()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the expected state did not come within the hang guard")


def bridge_yaml(name: str, settings: str) -> str:
    return (
        f"  {name}:\n    script: python_bridges/examples/echo_bridge.py\n"
        f"    timeouts: {{startup_ms: 30000, shutdown_ms: 2000}}\n{settings}"
    )


def deployment(bridges: str) -> str:
    return (
        f"host:\n  root: {ROOT}\n  python: {ROOT / '.venv' / 'bin' / 'python'}\n"
        f"  auth_token_env: MLBRIDGE_TEST_TOKEN\n{REGISTRATION}\nbridges:\n{bridges}"
    )


FIRST = deployment(
    bridge_yaml("echo", "    pool: {size: 1, checkout_timeout_ms: 60000}\n")
    + bridge_yaml("pair", "    pool: {size: 1}\n")
    + bridge_yaml(
        "flaky",
        "    pool: {size: 2}\n    idempotent: [crash]\n"
        "    retry: {backoff_initial_ms: 1, backoff_max_ms: 10}\n",
    )
)


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(BINARY).exists():
        pytest.fail(f"{BINARY} is missing: build the project first (cmake --build --preset dev)")
    folder = tmp_path_factory.mktemp("ops")
    config = folder / "mlbridge.yaml"
    config.write_text(FIRST)
    running = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN), log=folder / "serve.log")
    running.config = config  # type: ignore[attr-defined]
    yield running
    code, err = running.stop()
    assert code == 0, err


def bridge(server: Server, name: str) -> dict[str, Any]:
    status, body, _ = server.request("GET", f"/v1/bridges/{name}")
    assert status == 200, body
    return body


def serving(server: Server, name: str) -> int:
    return sum(w["state"] in ("idle", "busy") for w in bridge(server, name)["workers"])


def live(server: Server, name: str) -> int:
    return sum(w["state"] != "retiring" for w in bridge(server, name)["workers"])


def call(server: Server, name: str, command: str, body: dict) -> tuple[int, Any]:
    status, answer, _ = server.request("POST", f"/v1/bridges/{name}/commands/{command}", body)
    return status, answer


def test_patch_resizes_a_bridge_under_load_without_a_failed_call(ops: Server) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        calls = [
            pool.submit(call, ops, "echo", "sleep", {"args": {"seconds": 0.05}}) for _ in range(60)
        ]
        status, body, _ = ops.request("PATCH", "/v1/bridges/echo", {"pool": {"size": 3}})
        assert status == 200, body
        assert body["changes"] == ["pool.size: 1 -> 3"]
        eventually(lambda: serving(ops, "echo") == 3)
        status, body, _ = ops.request("PATCH", "/v1/bridges/echo", {"pool": {"size": 1}})
        assert status == 200 and body["changes"] == ["pool.size: 3 -> 1"], body
        results = [c.result() for c in calls]
    assert [s for s, _ in results] == [200] * 60, [r for r in results if r[0] != 200][:3]
    eventually(lambda: live(ops, "echo") == 1)


def test_a_bad_patch_changes_nothing_and_names_the_key(ops: Server) -> None:
    before = bridge(ops, "pair")
    status, body, _ = ops.request(
        "PATCH", "/v1/bridges/pair", {"pool": {"size": 2}, "timeouts": {"request_ms": "soon"}}
    )
    assert status == 400, body
    assert body["error"]["category"] == "invalid_configuration"
    assert "timeouts.request_ms" in body["error"]["message"]
    status, body, _ = ops.request(
        "PATCH", "/v1/bridges/pair", {"script": "python_bridges/other.py"}
    )
    assert status == 400 and "script cannot change" in body["error"]["message"], body
    status, body, _ = ops.request("PATCH", "/v1/bridges/nope", {"pool": {"size": 2}})
    assert status == 404, body
    status, body, _ = ops.request("PATCH", "/v1/bridges/pair", raw=b"[1]")
    assert status == 400, body
    after = bridge(ops, "pair")
    assert len(after["workers"]) == len(before["workers"]) == 1


def test_an_idempotent_command_is_retried_across_a_worker_crash(
    ops: Server, tmp_path: Path
) -> None:
    eventually(lambda: serving(ops, "flaky") == 2)
    args = {"once_marker": str(tmp_path / "crashed"), "exit_code": 3}
    status, body = call(ops, "flaky", "crash", {"args": args})
    assert status == 200, body
    assert body == {"result": {"crashed": False}, "attempts": 2}
    assert bridge(ops, "flaky")["retries"]["retried"] == 1


def register(server: Server, name: str, settings: dict[str, Any]) -> None:
    """Registers an echo bridge at runtime (POST /v1/bridges) and waits for its workers."""
    config = {
        "script": "python_bridges/examples/echo_bridge.py",
        "timeouts": {"startup_ms": 30000, "shutdown_ms": 2000},
        **settings,
    }
    status, body, _ = server.request("POST", "/v1/bridges", {"name": name, "config": config})
    assert status == 201, body
    eventually(lambda: serving(server, name) == config["pool"]["size"])


def test_a_command_that_is_not_idempotent_is_never_retried(ops: Server, tmp_path: Path) -> None:
    register(ops, "strict", {"pool": {"size": 2}})
    marker = tmp_path / "crashed"
    args = {"once_marker": str(marker), "exit_code": 3}
    status, body = call(ops, "strict", "crash", {"args": args})
    assert status == 502, body
    error = body["error"]
    assert error["category"] == "worker_crashed", body
    assert error["bridge"] == "strict" and error["command"] == "crash", body
    assert error["retryable"] is True, body
    assert "exited with code 3" in error["message"], body
    assert "attempts" not in body
    assert marker.exists(), "the one attempt ran and crashed"
    described = bridge(ops, "strict")
    assert described["retries"]["retried"] == 0
    assert described["calls"] == 1
    status, _, _ = ops.request("DELETE", "/v1/bridges/strict")
    assert status == 200


def test_the_retry_budget_runs_out_under_a_persistent_failure(ops: Server) -> None:
    register(
        ops,
        "budgeted",
        {
            "pool": {"size": 1},
            "idempotent": ["fail"],
            "retry": {
                "max_attempts": 3,
                "backoff_initial_ms": 1,
                "budget": 2,
                "budget_percent": 0,
            },
        },
    )
    limited = {"args": {"category": "rate_limit", "message": "slow down"}}
    status, body = call(ops, "budgeted", "fail", limited)
    assert status == 429, body
    assert body["error"]["category"] == "rate_limit", body
    assert "gave up after 3 attempts" in body["error"]["message"], body
    status, body = call(ops, "budgeted", "fail", limited)
    assert status == 429, body
    assert "gave up after 1 attempt; the retry budget" in body["error"]["message"], body
    described = bridge(ops, "budgeted")
    assert described["retries"]["retried"] == 2
    assert described["retries"]["budget_exhausted"] == 1
    assert described["calls"] == 4, "3 attempts, then 1"
    _, metrics, _ = ops.request("GET", "/metrics")
    assert 'mlbridge_retries_total{bridge="budgeted"} 2' in metrics
    assert 'mlbridge_retry_budget_exhausted_total{bridge="budgeted"} 1' in metrics
    status, _, _ = ops.request("DELETE", "/v1/bridges/budgeted")
    assert status == 200


def test_the_circuit_breaker_against_a_backend_that_fails_then_recovers(ops: Server) -> None:
    with start_server() as (url, backend):
        config = {
            "script": "tests/support/workers/upstream_bridge.py",
            "pool": {"size": 1},
            "options": {"url": url},
            "circuit_breaker": {"failures": 2, "cooldown_ms": 300, "probes": 1},
        }
        status, body, _ = ops.request("POST", "/v1/bridges", {"name": "upstream", "config": config})
        assert status == 201, body
        backend.script([{"status": 500}, {"status": 500}])
        for _ in range(2):
            status, body = call(ops, "upstream", "ask", {"args": {"question": "up?"}})
            assert status == 502 and body["error"]["category"] == "model_error", body
            assert "answered HTTP 500" in body["error"]["message"]
        status, body = call(ops, "upstream", "ask", {"args": {}})
        assert status == 503 and body["error"]["category"] == "bridge_unavailable", body
        assert "circuit open since" in body["error"]["message"]
        assert len(backend.chat_requests()) == 2, "a call failed fast never reaches the backend"
        assert bridge(ops, "upstream")["circuit"]["state"] == "open"
        _, metrics, _ = ops.request("GET", "/metrics")
        assert 'mlbridge_circuit_state{bridge="upstream"} 1' in metrics
        assert 'mlbridge_circuit_rejected_total{bridge="upstream"} 1' in metrics

        eventually(lambda: bridge(ops, "upstream")["circuit"]["state"] == "half_open")
        status, body = call(ops, "upstream", "ask", {"args": {}})  # the probe; the backend is up
        assert status == 200 and body["result"]["answer"], body
        circuit = bridge(ops, "upstream")["circuit"]
        assert circuit["state"] == "closed" and circuit["opened"] == 1
        _, metrics, _ = ops.request("GET", "/metrics")
        assert 'mlbridge_circuit_state{bridge="upstream"} 0' in metrics
        assert 'mlbridge_circuit_opened_total{bridge="upstream"} 1' in metrics
        status, _, _ = ops.request("DELETE", "/v1/bridges/upstream")
        assert status == 200


def test_a_fire_and_forget_crash_is_logged_and_disturbs_no_other_call(ops: Server) -> None:
    # The bridge's only worker runs the cast and dies; the calls behind it wait for the
    # replacement (checkout_timeout_ms 60000) and succeed.
    eventually(lambda: serving(ops, "echo") == 1)
    status, body = call(ops, "echo", "crash", {"args": {"exit_code": 3}, "reply": False})
    assert status == 202, body
    call_id = body["call_id"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda i: call(ops, "echo", "echo", {"args": {"i": i}}), range(8)))
    assert answers == [(200, {"result": {"i": i}}) for i in range(8)]
    eventually(lambda: bridge(ops, "echo")["casts"]["failed"] == 1)
    assert bridge(ops, "echo")["casts"]["sent"] == 1
    log = eventually(lambda: call_id in ops.log_text() and ops.log_text())
    line = next(line for line in log.splitlines() if call_id in line)
    assert "fire-and-forget" in line and "worker_crashed" in line, line
    _, metrics, _ = ops.request("GET", "/metrics")
    assert 'mlbridge_casts_total{bridge="echo",outcome="failed"} 1' in metrics
    status, body = call(ops, "nope", "echo", {"reply": False})
    assert status == 404, body


def test_sighup_applies_an_added_a_removed_and_a_changed_bridge(ops: Server) -> None:
    config: Path = ops.config  # type: ignore[attr-defined]
    config.write_text(
        deployment(
            bridge_yaml("echo", "    pool: {size: 2, checkout_timeout_ms: 60000}\n")
            + bridge_yaml(
                "flaky",
                "    pool: {size: 2}\n    idempotent: [crash]\n"
                "    retry: {backoff_initial_ms: 1, backoff_max_ms: 10}\n",
            )
            + bridge_yaml("extra", "    pool: {size: 1}\n")
        )
    )
    ops.process.send_signal(signal.SIGHUP)

    def names() -> list[str]:
        _, body, _ = ops.request("GET", "/v1/bridges")
        return sorted(b["name"] for b in body["bridges"])

    eventually(lambda: names() == ["echo", "extra", "flaky"])
    eventually(lambda: serving(ops, "echo") == 2)
    assert call(ops, "extra", "echo", {"args": {"x": 1}}) == (200, {"result": {"x": 1}})
    log = eventually(lambda: "reloaded" in ops.log_text() and ops.log_text())
    assert "bridge 'echo' updated: pool.size: 1 -> 2" in log

    config.write_text("bridges: [not, a, map]\n")
    ops.process.send_signal(signal.SIGHUP)
    eventually(lambda: "nothing changed" in ops.log_text())
    assert names() == ["echo", "extra", "flaky"]
