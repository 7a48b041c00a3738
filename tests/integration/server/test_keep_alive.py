"""Keep-alive connections of `mlbridge serve` carry many requests.

cpp-httplib closed a connection after 5 requests by default; under load every client then
reconnected every 5 calls and clients reusing a just-closed connection failed. The server keeps a
connection for as many requests as the client sends (and closes it after --idle-timeout-ms).
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

from conftest import TOKEN, Server, deployment


def test_one_connection_carries_fifty_calls(tmp_path: Path) -> None:
    config = tmp_path / "mlbridge.yaml"
    config.write_text(deployment())
    server = Server(config, dict(os.environ))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        conn.connect()
        first_socket = conn.sock
        for i in range(50):
            conn.request(
                "POST", "/v1/bridges/echo/commands/echo", json.dumps({"args": {"i": i}}), headers
            )
            response = conn.getresponse()
            body = json.loads(response.read())
            assert response.status == 200, body
            assert body["result"] == {"i": i}
            assert response.getheader("Connection", "").lower() != "close", i
            assert conn.sock is first_socket, f"the server closed the connection after {i} calls"
        assert "max=" not in (response.getheader("Keep-Alive") or ""), "no request cap"
        conn.close()
    finally:
        code, err = server.stop()
        assert code == 0, err
