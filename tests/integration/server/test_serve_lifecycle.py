"""`mlbridge serve` start-up refusals and its clean drain on SIGTERM."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from conftest import BINARY, ROOT, Server, deployment


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


def test_sigterm_lets_a_call_in_flight_finish_then_exits_zero(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(deployment())
    server = Server(config, dict(os.environ))
    answer: dict = {}

    def slow_call() -> None:
        answer["reply"] = server.request(
            "POST", "/v1/bridges/pair/commands/sleep", {"args": {"seconds": 1}}, token=None
        )

    caller = threading.Thread(target=slow_call)
    caller.start()
    # Wait until the call is running on a worker, then ask the server to stop.
    for _ in range(200):
        _, metrics, _ = server.request("GET", "/metrics", token=None)
        if 'mlbridge_workers{bridge="pair",state="busy"} 1' in metrics:
            break
        threading.Event().wait(0.05)
    code, err = server.stop()
    caller.join(timeout=60)
    assert code == 0, err
    assert "stopped cleanly" in err
    status, body, _ = answer["reply"]
    assert (status, body) == (200, {"result": {"slept": 1}})
