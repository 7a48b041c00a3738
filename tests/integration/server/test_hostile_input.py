"""Hostile request bodies get a clear 400 and the server keeps serving."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conftest import TOKEN, Server
from test_security import secure_deployment


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the default limits (an 8 MiB body)."""
    config = tmp_path_factory.mktemp("hostile") / "mlbridge.yaml"
    config.write_text(secure_deployment())
    server = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN))
    yield server
    code, err = server.stop()
    assert code == 0, err


@pytest.mark.parametrize("path", ["/v1/bridges/echo/commands/echo", "/v1/bridges/none/commands/x"])
def test_a_deeply_nested_body_is_refused_and_the_server_lives(
    plain_server: Server, path: str
) -> None:
    # One million levels (2 MB): copying or encoding that recursively overflows any stack.
    depth = 1_000_000
    raw = ('{"args": {"a": ' + "[" * depth + "]" * depth + "}}").encode()
    status, body, _ = plain_server.request("POST", path, raw=raw)
    assert status == 400, body
    assert "nests arrays and objects" in body["error"]["message"]
    status, body, _ = plain_server.request("POST", "/v1/bridges/echo/commands/echo", {"args": {}})
    assert (status, body) == (200, {"result": {}})
