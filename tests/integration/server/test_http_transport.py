"""HTTP/1.1 at the socket: hostile and broken requests are refused cleanly, slow clients cost no
thread, and a client that goes away takes its call (and its file descriptor) with it.

Every test talks raw bytes over a socket, since http.client would fix up or refuse the shapes
tested here. The server's limits are short where a test waits for them (--header-timeout-ms).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TOKEN, Server, deployment

HEADER_TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = tmp_path_factory.mktemp("transport") / "mlbridge.yaml"
    config.write_text(deployment("  auth_token_env: MLBRIDGE_TEST_TOKEN\n"))
    running = Server(
        config,
        dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN),
        extra_args=("--header-timeout-ms", str(HEADER_TIMEOUT_MS)),
    )
    yield running
    code, err = running.stop()
    assert code == 0, err


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose body limit (8 MiB) lets large bodies through."""
    config = tmp_path_factory.mktemp("transport-big") / "mlbridge.yaml"
    config.write_text(
        deployment("  auth_token_env: MLBRIDGE_TEST_TOKEN\n").replace(
            "max_body_bytes: 4096", "max_body_bytes: 8388608"
        )
    )
    running = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN))
    yield running
    code, err = running.stop()
    assert code == 0, err


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def head(server: Server, method: str, path: str, extra: str = "", token: str = TOKEN) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{extra}"
    ).encode()


def post(server: Server, path: str, body: bytes, extra: str = "") -> bytes:
    return head(server, "POST", path, f"Content-Length: {len(body)}\r\n{extra}") + b"\r\n" + body


class Reader:
    """Reads HTTP/1.1 responses one after another from a socket (Content-Length bodies)."""

    def __init__(self, sock: socket.socket):
        self.file = sock.makefile("rb")

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = self.file.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.file.read(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body


def exchange(server: Server, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(server) as sock:
        sock.sendall(raw)
        return Reader(sock).response()


def closed_by_server(sock: socket.socket) -> bool:
    """Reads until the server closes the socket (True) or 30 s pass without a byte (False)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def open_fds(server: Server) -> int:
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def settles_at(server: Server, baseline: int) -> bool:
    """Whether the server's open file descriptors come back to `baseline` (closes are async)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if open_fds(server) <= baseline:
            return True
        time.sleep(0.05)
    return False


def echo_in_flight(server: Server) -> int:
    status, body, _ = server.request("GET", "/v1/bridges/echo")
    assert status == 200, body
    return int(body["in_flight"]) + int(body["queue_length"])


def wait_for(condition, what: str, seconds: float = 20) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def pipelined(server: Server, *requests: bytes) -> list:
    """Sends the requests in one write on one connection; their answers, in order."""
    with connect(server) as sock:
        sock.sendall(b"".join(requests))
        reader = Reader(sock)
        return [reader.response() for _ in requests]


def test_two_pipelined_requests_in_one_write_are_both_answered_in_order(server: Server) -> None:
    first = post(server, "/v1/bridges/echo/commands/echo", b'{"args": {"n": 1}}')
    second = post(server, "/v1/bridges/echo/commands/echo", b'{"args": {"n": 2}}')
    answers = pipelined(server, first, second)
    assert [(s, json.loads(b)) for s, _, b in answers] == [
        (200, {"result": {"n": 1}}),
        (200, {"result": {"n": 2}}),
    ]


def test_a_large_body_and_a_request_pipelined_behind_it_are_both_answered(
    big_server: Server,
) -> None:
    # Past 64 KiB a Content-Length body is read straight into its string: the request behind it,
    # in the same write, must still be read from the bytes that follow, not lost or swallowed.
    text = "x" * (1536 * 1024)
    first = post(
        big_server, "/v1/bridges/echo/commands/echo", json.dumps({"args": {"t": text}}).encode()
    )
    second = post(big_server, "/v1/bridges/echo/commands/echo", b'{"args": {"n": 2}}')
    answers = pipelined(big_server, first, second)
    assert [(s, json.loads(b)) for s, _, b in answers] == [
        (200, {"result": {"t": text}}),
        (200, {"result": {"n": 2}}),
    ]


def test_a_connection_carries_many_requests_without_a_cap(server: Server) -> None:
    with connect(server) as sock:
        reader = Reader(sock)
        for i in range(300):
            sock.sendall(head(server, "GET", "/healthz") + b"\r\n")
            status, headers, _ = reader.response()
            assert (status, headers["connection"]) == (200, "keep-alive"), i


SMUGGLING = {
    "content-length and transfer-encoding": "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "two different content-lengths": "Content-Length: 5\r\nContent-Length: 6\r\n",
    "the same content-length twice": "Content-Length: 5\r\nContent-Length: 5\r\n",
    "a signed content-length": "Content-Length: +5\r\n",
    "a negative content-length": "Content-Length: -1\r\n",
    "a header without a colon": "Content-Length: 5\r\nX-Broken header\r\n",
    "a folded header": "Content-Length: 5\r\nX-Folded: a\r\n  continued\r\n",
    "a control byte in a header": "Content-Length: 5\r\nX-Bad: a\x01b\r\n",
    "a space before the colon": "Content-Length : 5\r\n",
    "transfer-encoding other than chunked": "Transfer-Encoding: gzip\r\n",
}


@pytest.mark.parametrize("shape", sorted(SMUGGLING))
def test_smuggling_shapes_are_refused_with_400_and_the_connection_closes(
    server: Server, shape: str
) -> None:
    raw = (
        f"POST /v1/bridges/echo/commands/echo HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n{SMUGGLING[shape]}"
        "\r\n{}\r\n"
    ).encode()
    with connect(server) as sock:
        sock.sendall(raw)
        status, headers, body = Reader(sock).response()
        assert status == 400, (shape, body)
        assert json.loads(body)["error"]["category"] == "invalid_argument"
        assert headers["connection"] == "close"
        assert closed_by_server(sock)


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /healthz HTTP/1.1 extra",
        "GET /healthz",
        "G(T /healthz HTTP/1.1",
        "GET /he lthz HTTP/1.1",
    ],
)
def test_malformed_request_lines_get_400(server: Server, request_line: str) -> None:
    status, _, body = exchange(server, f"{request_line}\r\nHost: x\r\n\r\n".encode())
    assert status == 400, body


def test_lines_ending_in_a_bare_lf_get_400_at_once(server: Server) -> None:
    status, _, body = exchange(server, b"GET /healthz HTTP/1.1\nHost: x\n\n")
    assert status == 400, body
    assert b"CRLF" in body


def test_an_oversized_header_gets_431(server: Server) -> None:
    raw = head(server, "GET", "/v1/bridges", "X-Big: " + "a" * 65536 + "\r\n") + b"\r\n"
    status, _, body = exchange(server, raw)
    assert status == 431, body
    assert b"limit" in body


@pytest.mark.parametrize("length", ["1000000000", "99999999999999999"])
def test_a_content_length_over_the_limit_gets_413_before_the_body(
    server: Server, length: str
) -> None:
    # Only a few bytes of the announced body are sent: the answer must not wait for the rest.
    raw = head(server, "POST", "/v1/bridges/echo/commands/echo", f"Content-Length: {length}\r\n")
    status, _, body = exchange(server, raw + b"\r\n{}")
    assert status == 413, body
    assert b"host.max_body_bytes" in body and b"4096" in body


def test_a_client_that_sends_a_large_body_whole_can_read_its_413(server: Server) -> None:
    # The client writes all 1.5 MB before it reads: the server answers at once, then reads and
    # drops the rest for a moment, so the close is not a reset that destroys the answer.
    raw = post(server, "/v1/bridges/echo/commands/echo", b" " * 1_500_000)
    for _ in range(3):
        with connect(server) as sock:
            sock.sendall(raw)
            status, headers, body = Reader(sock).response()
            assert status == 413, body
            assert headers.get("connection") == "close"
            assert closed_by_server(sock)


def test_a_chunked_body_over_the_limit_gets_413_while_it_is_read(server: Server) -> None:
    raw = head(server, "POST", "/v1/bridges/echo/commands/echo", "Transfer-Encoding: chunked\r\n")
    chunk = b"1000\r\n" + b" " * 4096 + b"\r\n"
    with connect(server) as sock:
        # Two chunks over the 4096-byte limit, and no last chunk: the body never ends.
        sock.sendall(raw + b"\r\n" + chunk + chunk)
        status, _, body = Reader(sock).response()
    assert status == 413, body
    assert b"host.max_body_bytes" in body


def test_a_chunked_body_within_the_limit_is_read(server: Server) -> None:
    raw = head(server, "POST", "/v1/bridges/echo/commands/echo", "Transfer-Encoding: chunked\r\n")
    body = b'{"args": {"chunked": true}}'
    raw += b"\r\n" + f"{len(body[:5]):x}\r\n".encode() + body[:5] + b"\r\n"
    raw += f"{len(body[5:]):x}\r\n".encode() + body[5:] + b"\r\n0\r\n\r\n"
    status, _, answer = exchange(server, raw)
    assert (status, json.loads(answer)) == (200, {"result": {"chunked": True}})


def test_an_encoded_slash_is_not_a_path_separator(server: Server) -> None:
    raw = post(server, "/v1/bridges/echo%2Fcommands%2Fecho", b'{"args": {}}')
    status, _, body = exchange(server, raw)
    assert status == 404, body
    status, _, body = exchange(server, head(server, "GET", "/v1/bridges/echo%2Fcommands") + b"\r\n")
    assert status == 404, body
    assert "echo/commands" in json.loads(body)["error"]["message"]


def test_the_bearer_scheme_is_case_insensitive(server: Server) -> None:
    for scheme in ("bearer", "BEARER", "Bearer"):
        status, body, _ = server.request(
            "GET", "/v1/bridges", token=None, headers={"Authorization": f"{scheme} {TOKEN}"}
        )
        assert status == 200, (scheme, body)
    status, _, _ = server.request(
        "GET", "/v1/bridges", token=None, headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert status == 401


def test_a_number_out_of_range_is_a_400(server: Server) -> None:
    raw = post(server, "/v1/bridges/echo/commands/echo", b'{"args": {"x": 1e400}}')
    status, _, body = exchange(server, raw)
    assert status == 400, body
    assert "too large" in json.loads(body)["error"]["message"]


def test_invalid_utf8_is_a_400(server: Server) -> None:
    raw = post(server, "/v1/bridges/echo/commands/echo", b'{"args": {"x": "\xff\xfe"}}')
    status, _, body = exchange(server, raw)
    assert status == 400, body
    assert json.loads(body)["error"]["category"] == "invalid_argument"


def test_deep_nesting_names_the_limit(server: Server) -> None:
    depth = 100_000
    raw_body = b'{"args": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    status, body, _ = server.request(
        "POST", "/v1/bridges/echo/commands/echo", raw=raw_body, headers={}
    )
    # The test deployment's body limit is 4096 bytes; nesting is checked on a body within it.
    assert status == 413, body
    raw = post(
        server,
        "/v1/bridges/echo/commands/echo",
        b'{"args": {"a": ' + b"[" * 1000 + b"]" * 1000 + b"}}",
    )
    status, _, answer = exchange(server, raw)
    assert status == 400, answer
    assert "levels deep" in json.loads(answer)["error"]["message"]


def test_trickling_clients_cost_no_thread_and_close_at_the_header_deadline(server: Server) -> None:
    baseline = open_fds(server)
    socks = [connect(server) for _ in range(300)]
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            for sock in socks:
                try:
                    sock.send(b"G")
                except OSError:
                    pass
            stop.wait(0.2)

    for sock in socks:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        # Liveness and a real call are answered while 300 connections trickle.
        assert server.request("GET", "/healthz", token=None)[:2] == (200, {"status": "ok"})
        status, body, _ = server.request(
            "POST", "/v1/bridges/pair/commands/echo", {"args": {"during": "slowloris"}}
        )
        assert (status, body) == (200, {"result": {"during": "slowloris"}})
        # Each trickling connection is closed at its header deadline although it keeps sending.
        assert all(closed_by_server(sock) for sock in socks)
    finally:
        stop.set()
        trickler.join()
        for sock in socks:
            sock.close()
    assert settles_at(server, baseline), "a trickling connection leaked a file descriptor"


def test_a_client_closing_a_plain_call_cancels_it(server: Server) -> None:
    # 'echo' has one worker: the abandoned 60-second sleep must not keep it.
    baseline = open_fds(server)
    sock = connect(server)
    sock.sendall(post(server, "/v1/bridges/echo/commands/sleep", b'{"args": {"seconds": 60}}'))
    wait_for(lambda: echo_in_flight(server) == 1, "the sleep call never started")
    sock.close()
    wait_for(lambda: echo_in_flight(server) == 0, "the abandoned call still runs", seconds=30)
    status, body, _ = server.request(
        "POST", "/v1/bridges/echo/commands/echo", {"args": {"after": True}, "timeout_ms": 20000}
    )
    assert (status, body) == (200, {"result": {"after": True}})
    _, metrics, _ = server.request("GET", "/metrics")
    assert 'command="sleep",outcome="error",category="cancelled"}' in metrics
    assert settles_at(server, baseline), "the abandoned connection leaked a file descriptor"


def test_a_client_leaving_mid_body_leaks_nothing(server: Server) -> None:
    baseline = open_fds(server)
    for _ in range(20):
        sock = connect(server)
        raw = head(server, "POST", "/v1/bridges/echo/commands/echo", "Content-Length: 1000\r\n")
        sock.sendall(raw + b"\r\n" + b'{"args": {"a": "')
        sock.close()
    assert settles_at(server, baseline), "a connection left mid-body leaked a file descriptor"
    assert echo_in_flight(server) == 0


def test_a_client_leaving_mid_a_large_body_leaks_nothing(big_server: Server) -> None:
    baseline = open_fds(big_server)
    for _ in range(5):
        sock = connect(big_server)
        raw = head(
            big_server, "POST", "/v1/bridges/echo/commands/echo", "Content-Length: 2097152\r\n"
        )
        sock.sendall(raw + b"\r\n" + b'{"args": {"a": "' + b"y" * (256 * 1024))
        sock.close()
    assert settles_at(big_server, baseline), "a connection left mid-body leaked a file descriptor"
    assert echo_in_flight(big_server) == 0


def test_a_client_leaving_mid_stream_leaks_nothing(server: Server) -> None:
    baseline = open_fds(server)
    sock = connect(server)
    body = json.dumps({"args": {"count": 600, "delay": 0.05}, "stream": True}).encode()
    sock.sendall(post(server, "/v1/bridges/echo/commands/stream", body))
    received = b""
    while received.count(b"event: chunk") < 2:
        data = sock.recv(4096)
        assert data, "the server closed the stream early"
        received += data
    sock.close()
    wait_for(lambda: echo_in_flight(server) == 0, "the abandoned stream still runs")
    assert settles_at(server, baseline), "the abandoned stream leaked a file descriptor"


def test_readiness_turns_503_while_draining(tmp_path: Path) -> None:
    config = tmp_path / "mlbridge.yaml"
    config.write_text(deployment())
    drained = Server(config, dict(os.environ))
    try:
        kept = connect(drained)
        reader = Reader(kept)
        kept.sendall(head(drained, "GET", "/readyz") + b"\r\n")
        assert reader.response()[0] == 200
        # A call in flight holds the drain open while the kept connection asks again.
        caller = connect(drained)
        caller.sendall(
            post(drained, "/v1/bridges/echo/commands/sleep", b'{"args": {"seconds": 3}}')
        )
        wait_for(lambda: echo_in_flight(drained) == 1, "the sleep call never started")
        drained.process.send_signal(15)
        status, headers, body = 0, {}, b""
        deadline = time.monotonic() + 20
        while status != 503 and time.monotonic() < deadline:
            kept.sendall(head(drained, "GET", "/readyz") + b"\r\n")
            status, headers, body = reader.response()
            if status != 503:
                time.sleep(0.02)
        assert status == 503, body
        assert json.loads(body)["draining"] is True
        assert headers["connection"] == "close"
        assert Reader(caller).response()[0] == 200
        kept.close()
        caller.close()
    finally:
        code, err = drained.stop()
        assert code == 0, err


def rss_bytes(server: Server) -> int:
    with open(f"/proc/{server.process.pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/PID/status")


def test_a_stream_nobody_reads_is_cut_at_its_buffer_bound_and_delays_nobody(
    tmp_path: Path,
) -> None:
    config = tmp_path / "mlbridge.yaml"
    config.write_text(deployment())
    log = tmp_path / "serve.log"
    bound = 64 * 1024
    slow = Server(
        config,
        dict(os.environ),
        log=log,
        extra_args=("--max-stream-buffer-bytes", str(bound), "--idle-timeout-ms", "2000"),
    )
    reader = idle = None
    try:
        baseline = open_fds(slow)
        rss_before = rss_bytes(slow)
        # A client that asks for a long stream (about 90 MB of events) and reads nothing.
        reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.settimeout(60)
        reader.connect(("127.0.0.1", slow.port))
        body = json.dumps({"args": {"count": 2_000_000}, "stream": True}).encode()
        reader.sendall(post(slow, "/v1/bridges/echo/commands/stream", body))
        # A client that opens a connection and sends nothing.
        idle = connect(slow)
        wait_for(lambda: echo_in_flight(slow) == 1, "the stream never started")
        # Others are served meanwhile: liveness and a call to another bridge.
        assert slow.request("GET", "/healthz", token=None)[:2] == (200, {"status": "ok"})
        status, answer, _ = slow.request(
            "POST", "/v1/bridges/pair/commands/echo", {"args": {"while": "an unread stream"}}
        )
        assert (status, answer) == (200, {"result": {"while": "an unread stream"}})
        # The server's buffer for the stream fills: the call is cancelled, the connection cut,
        # and the log says why.
        wait_for(
            lambda: "reads the stream too slowly" in slow.log_text(),
            "the unread stream was never cut",
            seconds=120,
        )
        wait_for(lambda: echo_in_flight(slow) == 0, "the cut stream's call still runs")
        assert closed_by_server(reader), "the cut stream's connection stayed open"
        # The stream's events were never all buffered (unbounded, they would be ~90 MB).
        assert rss_bytes(slow) - rss_before < 48 * 1024 * 1024
        # The silent connection is closed at the idle timeout.
        assert closed_by_server(idle), "the idle connection stayed open"
        status, answer, _ = slow.request(
            "POST", "/v1/bridges/echo/commands/echo", {"args": {"after": "the cut"}}
        )
        assert (status, answer) == (200, {"result": {"after": "the cut"}})
        reader.close()
        idle.close()
        assert settles_at(slow, baseline), "the cut stream leaked a file descriptor"
    finally:
        for sock in (reader, idle):
            if sock is not None:
                sock.close()
        code, err = slow.stop()
    assert code == 0, err
    assert "cancelling its call and closing the connection" in err
