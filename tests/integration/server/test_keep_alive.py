"""Keep-alive connections of `mlbridge serve` carry many requests.

cpp-httplib closed a connection after 5 requests by default; under load every client then
reconnected every 5 calls and clients reusing a just-closed connection failed. The server keeps a
connection for as many requests as the client sends (and closes it after --idle-timeout-ms).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
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


def _raw_post(port: int, path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def _read_answer(file) -> tuple[int, bytes]:  # noqa: ANN001
    status_line = file.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    length = 0
    while (line := file.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return int(status_line.split()[1]), file.read(length)


# An answer is written by the thread the call completes on, and the connection's own thread
# learns of it only when the client sends again: a client that sends nothing more must still see
# its connection closed after --idle-timeout-ms.
def test_a_connection_idle_after_an_answer_is_closed_at_the_idle_timeout(tmp_path: Path) -> None:
    config = tmp_path / "mlbridge.yaml"
    config.write_text(deployment())
    server = Server(config, dict(os.environ), extra_args=("--idle-timeout-ms", "500"))
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(
                _raw_post(server.port, "/v1/bridges/echo/commands/echo", {"args": {"n": 1}})
            )
            status, body = _read_answer(sock.makefile("rb"))
            assert (status, json.loads(body)) == (200, {"result": {"n": 1}})
            try:
                closed = sock.recv(1) == b""  # blocks until the server closes (or 30 s pass)
            except ConnectionResetError:
                closed = True
            except TimeoutError:
                closed = False
            assert closed, "the server kept an idle connection open past --idle-timeout-ms"
    finally:
        code, err = server.stop()
        assert code == 0, err


# A request that arrives while the one before is still being answered is answered after it.
def test_a_request_sent_during_a_call_is_answered_after_it(tmp_path: Path) -> None:
    config = tmp_path / "mlbridge.yaml"
    config.write_text(deployment())
    server = Server(config, dict(os.environ))
    release = tmp_path / "release"
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            path = "/v1/bridges/echo/commands/"
            sock.sendall(
                _raw_post(server.port, path + "wait_file", {"args": {"path": str(release)}})
            )
            deadline = time.monotonic() + 20
            while True:  # the first call runs on the worker
                status, bridge, _ = server.request("GET", "/v1/bridges/echo")
                assert status == 200, bridge
                if int(bridge["in_flight"]) == 1:
                    break
                assert time.monotonic() < deadline, "the wait_file call never started"
                time.sleep(0.05)
            sock.sendall(_raw_post(server.port, path + "echo", {"args": {"n": 2}}))
            release.touch()
            reader = sock.makefile("rb")
            first, second = _read_answer(reader), _read_answer(reader)
        assert first[0] == 200 and json.loads(first[1])["result"]["path"] == str(release)
        assert (second[0], json.loads(second[1])) == (200, {"result": {"n": 2}})
    finally:
        code, err = server.stop()
        assert code == 0, err
