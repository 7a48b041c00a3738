"""POST /v1/bridges with a bridge script that fails at import: one clear 400, nothing kept.

The worker exits before its hello with a ModuleNotFoundError; that is the registration's
configuration at fault, not a transient crash, so the answer is invalid_configuration (400, not
retryable) naming the import error, the bridge is not registered, and only one worker was
started for it (no crash loop).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BINARY, REGISTRATION, TOKEN, Server, deployment

BROKEN_SCRIPT = "tests/support/workers/import_error_bridge.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(BINARY).exists():
        pytest.fail(f"{BINARY} is missing: build the project first")
    directory = tmp_path_factory.mktemp("registration")
    config = directory / "mlbridge.yaml"
    config.write_text(deployment("  auth_token_env: MLBRIDGE_TEST_TOKEN\n" + REGISTRATION))
    env = dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN)
    # At info the server logs each line its workers write to stderr, tagged with the worker.
    running = Server(config, env, log=directory / "server.log", extra_args=("--log-level", "info"))
    yield running
    code, err = running.stop()
    assert code == 0, err


def test_a_script_failing_at_import_is_refused_with_400_and_the_import_error(
    server: Server,
) -> None:
    status, body, headers = server.request(
        "POST",
        "/v1/bridges",
        {
            "name": "broken",
            "config": {
                "script": BROKEN_SCRIPT,
                "pool": {"size": 1},
                "restart": {"max_restarts": 5, "window_s": 60},
            },
        },
    )
    assert status == 400, body
    error = body["error"]
    assert error["category"] == "invalid_configuration"
    assert error["retryable"] is False
    assert error["bridge"] == "broken"
    assert error["type"] == "ModuleNotFoundError"
    assert error["message"].startswith(
        "bridge 'broken': the bridge script failed at import: ModuleNotFoundError: "
        "No module named 'definitely_not_an_installed_module'"
    ), error["message"]
    assert "restart the bridge" not in error["message"], "it was not kept: nothing to restart"
    assert "Traceback" not in error["message"], "the traceback is not flattened into the message"
    assert "Retry-After" not in headers

    status, body, _ = server.request("GET", "/v1/bridges/broken")
    assert status == 404, "a bridge whose registration failed is not kept"
    status, body, _ = server.request("GET", "/v1/bridges")
    assert status == 200
    assert "broken" not in str(body)

    # One worker start, not a crash loop: one worker wrote the traceback to its stderr.
    log = server.log_text()
    starts = re.findall(r"\[broken/broken-\d+\] Traceback \(most recent call last\)", log)
    assert len(starts) == 1, log
