"""A stderr that nobody reads costs log lines, never calls; /readyz says so.

The server's stderr is a pipe that this test does not read until the server stops (the default of
conftest's Server), so it is full after 64 KiB. A worker that prints a lot fills it at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from conftest import TOKEN, Server, deployment


@pytest.fixture(scope="module")
def unread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = tmp_path_factory.mktemp("stall") / "mlbridge.yaml"
    config.write_text(deployment("  auth_token_env: MLBRIDGE_TEST_TOKEN\n  log_level: info"))
    server = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN))
    yield server
    code, err = server.stop()
    assert code == 0, err[-2000:]


def test_calls_complete_while_the_log_pipe_is_full(unread: Server) -> None:
    # About 470 KB of worker stderr (each call prints its text twice), seven times what the
    # unread pipe holds; the request body limit of the deployment is 4 KiB.
    for i in range(60):
        status, body, _ = unread.request(
            "POST",
            "/v1/bridges/echo/commands/print",
            {"args": {"text": f"{i} " + "spam " * 780}},
            timeout=30,
        )
        assert status == 200, body
    # A call after the spam, on the same worker and on another bridge, still completes.
    for bridge in ("echo", "pair"):
        status, body, _ = unread.request(
            "POST", f"/v1/bridges/{bridge}/commands/echo", {"args": {"n": 1}}, timeout=30
        )
        assert (status, body) == (200, {"result": {"n": 1}})
    # The log's writer gives up on the pipe within a moment (200 ms); until then the messages
    # wait in its queue. Either way no call waited for it.
    for _ in range(300):
        status, body, _ = unread.request("GET", "/readyz", timeout=30)
        assert status == 200, body
        assert body["ready"] is True
        if body["log"]["stalled"]:
            break
        time.sleep(0.05)
    assert body["log"]["stalled"] is True, body
    assert body["log"]["dropped"] > 0, body
