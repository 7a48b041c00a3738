"""`mlbridge serve --drain-grace-ms`: after SIGTERM, /readyz answers 503 while calls are still
served, so a load balancer's health check takes the host out before it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from conftest import BINARY, Server, deployment


def wait_until_not_ready(server: Server) -> dict:
    """Polls /readyz until it answers 503 (at most ~30 s) and returns that body."""
    for _ in range(600):
        status, body, _ = server.request("GET", "/readyz", token=None)
        if status == 503:
            return body
        threading.Event().wait(0.05)
    raise AssertionError("/readyz never turned 503 after SIGTERM")


def test_sigterm_turns_readyz_503_while_calls_are_still_served_then_exits_zero(
    tmp_path: Path,
) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment())
    # A long grace, so that the checks below run inside it however slow the machine is; the
    # second SIGTERM at the end cuts it short.
    server = Server(config, dict(os.environ), extra_args=("--drain-grace-ms", "600000"))
    try:
        status, _, _ = server.request("GET", "/readyz", token=None)
        assert status == 200
        server.process.send_signal(signal.SIGTERM)
        body = wait_until_not_ready(server)
        assert body["ready"] is False
        status, reply, headers = server.request(
            "POST", "/v1/bridges/echo/commands/echo", {"args": {"during": "grace"}}, token=None
        )
        assert (status, reply) == (200, {"result": {"during": "grace"}})
        assert {k.lower(): v for k, v in headers.items()}.get("connection") == "close"
        assert server.process.poll() is None, "the server must keep serving during the grace"
    finally:
        code, err = server.stop()  # the second SIGTERM: stops at once
    assert code == 0, err
    assert "drain grace of 600000 ms" in err
    assert "during the drain grace: stopping now" in err
    assert "stopped cleanly" in err


def test_the_grace_runs_out_by_itself_and_the_server_exits_zero(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment())
    server = Server(config, dict(os.environ), extra_args=("--drain-grace-ms", "300"))
    server.process.send_signal(signal.SIGTERM)
    try:
        _, err = server.process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.communicate()
        raise
    assert server.process.returncode == 0, err
    assert "drain grace of 300 ms" in err and "stopped cleanly" in err
    assert "stopping now" not in err


def test_sigint_stops_at_once_without_the_grace(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment())
    server = Server(config, dict(os.environ), extra_args=("--drain-grace-ms", "600000"))
    server.process.send_signal(signal.SIGINT)
    try:
        _, err = server.process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.communicate()
        raise
    assert server.process.returncode == 0, err
    assert "drain grace" not in err and "stopped cleanly" in err


def test_a_negative_grace_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment())
    done = subprocess.run(
        [BINARY, "serve", "--config", str(config), "--drain-grace-ms", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--drain-grace-ms" in done.stderr
