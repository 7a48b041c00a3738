"""The HTTP API of `mlbridge serve` end to end, against a real server on loopback."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from conftest import BINARY, TOKEN, Server


def command(server: Server, bridge: str, name: str, body: dict, **kw):
    return server.request("POST", f"/v1/bridges/{bridge}/commands/{name}", body, **kw)


def test_liveness_needs_no_token_but_everything_else_does(server: Server) -> None:
    status, body, _ = server.request("GET", "/healthz", token=None)
    assert (status, body) == (200, {"status": "ok"})
    status, body, headers = server.request("GET", "/v1/bridges", token=None)
    assert status == 401
    assert body["error"]["category"] == "authentication"
    assert "Bearer" in headers.get("WWW-Authenticate", "")
    status, body, _ = server.request("GET", "/v1/bridges", token="wrong-token")
    assert status == 401
    assert "not valid" in body["error"]["message"]
    status, _, _ = server.request("GET", "/metrics", token=None)
    assert status == 401


def test_readiness_and_bridge_listing(server: Server) -> None:
    status, body, _ = server.request("GET", "/readyz")
    assert status == 200 and body["ready"] is True
    status, body, _ = server.request("GET", "/v1/bridges")
    assert status == 200
    assert sorted(b["name"] for b in body["bridges"]) == ["echo", "pair"]
    status, body, _ = server.request("GET", "/v1/bridges/echo")
    assert status == 200 and body["plugin"] == "generic"
    status, body, _ = server.request("GET", "/v1/bridges/nope")
    assert status == 404 and "nope" in body["error"]["message"]


def test_command_json_in_and_out(server: Server) -> None:
    status, body, _ = command(server, "echo", "echo", {"args": {"x": [1, 2.5, "three"]}})
    assert (status, body) == (200, {"result": {"x": [1, 2.5, "three"]}})


def test_bytes_in_a_body_reach_python_as_bytes_with_either_codec(server: Server) -> None:
    data = {"__bytes__": "AAECAwQ="}  # the form answers carry bytes in
    for bridge in ("echo", "pair"):  # MessagePack and JSON to the worker
        status, body, _ = command(server, bridge, "types", {"args": {"data": data, "n": 1}})
        assert (status, body) == (200, {"result": {"data": "bytes", "n": "int"}}), bridge
        status, body, _ = command(server, bridge, "echo", {"args": {"nested": [data]}})
        assert (status, body) == (200, {"result": {"nested": [data]}}), bridge
    status, body, _ = command(server, "echo", "types", {"args": {"data": {"__bytes__": "no!"}}})
    assert status == 400 and "not valid base64" in body["error"]["message"]


def test_a_json_workers_result_reaches_the_client_as_the_worker_wrote_it(server: Server) -> None:
    # A JSON-codec worker's result is passed on as its text (no DOM in the host, which would
    # sort the keys); MessagePack results are transcoded in their order too.
    args = {"zeta": 1, "alpha": {"y": [1.5, "é", None], "b": True}, "mid": {"__bytes__": "AAE="}}
    for bridge in ("pair", "echo"):  # JSON and MessagePack to the worker
        status, body, _ = command(server, bridge, "echo", {"args": args})
        assert status == 200, body
        assert json.dumps(body["result"]) == json.dumps(args), bridge


# Args texts a client may write that a JSON worker gets as they are (no bytes in them): escapes,
# whitespace, numbers in every form, deep nesting. Each must reach the worker, which decodes it to
# the value a MessagePack worker gets from the host's transcoding.
TRICKY_ARGS = [
    '{ "a" : [ 1 , 2 ] , "b" : "x" }',
    '{"s":"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/\\u0000"}',
    '{"n":[-0,0.0,-0.0,1E2,1e-2,1.5e-400,123456789012345678901234567890,18446744073709551615]}',
    '{"n":[-9223372036854775808,9223372036854775807,2.2250738585072014e-308,1.7976931348623157e308]}',
    '{"k":1,"k":2}',
    '{"\\u005f_bytes__":5,"__bytes__x":"AQID","m":{"__bytes__":"AQID","other":1}}',
    '{"deep":' + "[" * 200 + "]" * 200 + "}",
    '{"":{"":""}}',
]


def test_args_a_json_worker_gets_as_written_decode_as_a_msgpack_worker_gets_them(
    server: Server,
) -> None:
    for text in TRICKY_ARGS:
        results = []
        for bridge in ("pair", "echo"):  # JSON and MessagePack to the worker
            raw = f'{{"args":{text}}}'.encode()
            status, body, _ = server.request("POST", f"/v1/bridges/{bridge}/commands/echo", raw=raw)
            assert status == 200, (bridge, text, body)
            results.append(body["result"])
        assert results[0] == results[1], text
    status, body, _ = server.request("GET", "/v1/bridges/pair")
    assert status == 200 and (body["restarts"], body["errors"]) == (0, 0), body


def test_python_errors_map_to_status_and_category(server: Server) -> None:
    status, body, _ = command(
        server, "echo", "fail", {"args": {"type": "ValueError", "message": "bad value"}}
    )
    assert status == 400
    error = body["error"]
    assert error["category"] == "invalid_argument"
    assert error["type"] == "ValueError"
    assert error["bridge"] == "echo" and error["command"] == "fail"
    assert "bad value" in error["message"]
    assert "traceback" not in error
    status, body, _ = command(server, "echo", "sleep", {"args": {"seconds": 5}, "timeout_ms": 200})
    assert status == 504 and body["error"]["category"] == "timeout"


def test_bad_requests_say_what_is_wrong(server: Server) -> None:
    status, body, _ = server.request("POST", "/v1/bridges/echo/commands/echo", raw=b"{bad json")
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body, _ = command(server, "echo", "echo", {"args": [1, 2]})
    assert status == 400 and '"args" must be a JSON object' in body["error"]["message"]
    status, body, _ = command(server, "echo", "echo", {"arg": {}})
    assert status == 400 and 'unknown field "arg"' in body["error"]["message"]
    status, body, _ = command(server, "nope", "echo", {})
    assert status == 404 and "no bridge named 'nope'" in body["error"]["message"]
    status, body, _ = command(server, "echo", "no_such_command", {})
    assert status == 404 and body["error"]["category"] == "not_found"
    status, body, _ = server.request("GET", "/v1/nothing/here")
    assert status == 404 and "no route" in body["error"]["message"]


def test_body_over_the_limit_is_refused_with_413(server: Server) -> None:
    status, body, _ = command(server, "echo", "echo", {"args": {"blob": "x" * 10000}})
    assert status == 413
    assert "4096" in body["error"]["message"]


def test_streaming_sends_one_event_per_chunk_then_the_result(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(
        "POST",
        "/v1/bridges/echo/commands/stream",
        body=json.dumps({"args": {"count": 3, "delay": 0.05}, "stream": True}),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    events = []
    for block in response.read().decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    conn.close()
    assert events == [
        ("chunk", {"index": 0}),
        ("chunk", {"index": 1}),
        ("chunk", {"index": 2}),
        ("result", {"result": {"count": 3}}),
    ]


def test_a_stream_that_fails_before_its_first_chunk_gets_the_errors_status(
    server: Server,
) -> None:
    # Nothing was streamed yet, so the answer is the plain error, with DESIGN.md's status.
    cases = [
        ("nope", "x", {}, 404, "not_found"),
        ("echo", "no_such_command", {}, 404, "not_found"),
        ("echo", "fail", {"type": "ValueError", "message": "bad value"}, 400, "invalid_argument"),
    ]
    for bridge, name, args, status, category in cases:
        got, body, headers = command(server, bridge, name, {"args": args, "stream": True})
        assert (got, body["error"]["category"]) == (status, category), (bridge, name, body)
        assert headers["Content-Type"].startswith("application/json")


def test_a_client_leaving_mid_stream_frees_the_worker(server: Server) -> None:
    # 'echo' has one worker: if the abandoned stream kept running, the call after it would wait
    # ~30 s for it; it is cancelled instead, which /metrics counts.
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    body = json.dumps({"args": {"count": 600, "delay": 0.05}, "stream": True}).encode()
    sock.sendall(
        f"POST /v1/bridges/echo/commands/stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\n".encode()
        + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    received = b""
    while received.count(b"event: chunk") < 2:
        data = sock.recv(4096)
        assert data, "the server closed the stream early"
        received += data
    sock.close()
    status, body, _ = command(
        server, "echo", "echo", {"args": {"after": True}, "timeout_ms": 20000}
    )
    assert (status, body) == (200, {"result": {"after": True}})
    _, metrics, _ = server.request("GET", "/metrics")
    cancelled = 'command="stream",outcome="error",category="cancelled"} 1'
    assert 'mlbridge_calls_total{bridge="echo",' + cancelled in metrics


def test_fire_and_forget_answers_202(server: Server) -> None:
    status, body, _ = command(server, "pair", "echo", {"args": {}, "reply": False})
    assert status == 202 and body["call_id"].startswith("call-")


def test_sessions_keep_state_on_their_worker(server: Server) -> None:
    status, body, _ = server.request("POST", "/v1/sessions", {"id": "s-http"})
    assert (status, body) == (201, {"id": "s-http"})
    status, _, _ = command(
        server, "pair", "put", {"args": {"key": "k", "value": 42}, "session": "s-http"}
    )
    assert status == 200
    for _ in range(4):  # always the session's worker, never the other one
        status, body, _ = command(
            server, "pair", "get", {"args": {"key": "k"}, "session": "s-http"}
        )
        assert status == 200 and "42" in json.dumps(body)
    status, body, _ = server.request("GET", "/v1/sessions")
    assert "s-http" in body["sessions"]
    status, _, _ = server.request("DELETE", "/v1/sessions/s-http")
    assert status == 200
    status, body, _ = server.request("DELETE", "/v1/sessions/s-http")
    assert status == 404


def test_session_state_is_kept_on_the_host_and_seen_by_python(server: Server) -> None:
    status, body, _ = server.request(
        "POST", "/v1/sessions", {"id": "s-state", "state": {"user": "ada", "n": 1}}
    )
    assert status == 201 and body["state"] == {"user": "ada", "n": 1}
    first = body["version"]
    status, body, _ = command(server, "echo", "state", {"args": {}, "session": "s-state"})
    assert status == 200 and body["result"]["state"] == {"user": "ada", "n": 1}
    # A handler's change comes back to the host.
    status, body, _ = command(
        server, "echo", "state", {"args": {"set": {"n": 2}}, "session": "s-state"}
    )
    assert status == 200
    status, body, _ = server.request("GET", "/v1/sessions/s-state/state")
    assert status == 200 and body["state"] == {"user": "ada", "n": 2} and body["version"] > first
    # PUT replaces, PATCH merges (null removes); the worker sees each.
    status, body, _ = server.request("PUT", "/v1/sessions/s-state/state", {"a": 1, "b": 2})
    assert status == 200 and body["state"] == {"a": 1, "b": 2}
    status, body, _ = server.request("PATCH", "/v1/sessions/s-state/state", {"a": None, "c": 3})
    assert status == 200 and body["state"] == {"b": 2, "c": 3}
    status, body, _ = command(server, "echo", "state", {"args": {}, "session": "s-state"})
    assert body["result"]["state"] == {"b": 2, "c": 3}
    status, body, _ = server.request("GET", "/v1/sessions/nobody/state")
    assert status == 404
    server.request("DELETE", "/v1/sessions/s-state")


def session_header(session: str) -> dict[str, str | None]:
    return {"X-Mlbridge-Session": session}


def test_the_session_may_travel_in_the_x_mlbridge_session_header(server: Server) -> None:
    # POST /v1/sessions takes the id from the header alone.
    status, body, _ = server.request("POST", "/v1/sessions", {}, headers=session_header("s-hdr"))
    assert (status, body) == (201, {"id": "s-hdr"})
    # A command with the session only in the header runs on the session's worker.
    status, _, _ = command(
        server, "pair", "put", {"args": {"key": "k", "value": 7}}, headers=session_header("s-hdr")
    )
    assert status == 200
    for _ in range(4):  # always the session's worker, never the other one
        status, body, _ = command(
            server, "pair", "get", {"args": {"key": "k"}}, headers=session_header("s-hdr")
        )
        assert status == 200 and "7" in json.dumps(body), body
    # The same id in both places is fine.
    status, body, _ = command(
        server,
        "pair",
        "get",
        {"args": {"key": "k"}, "session": "s-hdr"},
        headers=session_header("s-hdr"),
    )
    assert status == 200 and "7" in json.dumps(body), body
    status, body, _ = server.request(
        "GET", "/v1/sessions/s-hdr/state", headers=session_header("s-hdr")
    )
    assert status == 200, body
    status, _, _ = server.request("DELETE", "/v1/sessions/s-hdr", headers=session_header("s-hdr"))
    assert status == 200


def test_a_session_body_with_an_unknown_field_is_a_400(server: Server) -> None:
    status, body, _ = server.request("POST", "/v1/sessions", {"id": "s-typo", "sate": {"a": 1}})
    assert status == 400 and 'unknown field "sate"' in body["error"]["message"], body
    status, body, _ = server.request("GET", "/v1/sessions")
    assert "s-typo" not in body["sessions"]


def test_two_different_session_ids_in_header_and_body_or_path_are_a_400(server: Server) -> None:
    status, body, _ = command(
        server, "echo", "echo", {"args": {}, "session": "s-body"}, headers=session_header("s-head")
    )
    assert status == 400 and body["error"]["category"] == "invalid_argument", body
    message = body["error"]["message"]
    assert "'s-head'" in message and "'s-body'" in message and "X-Mlbridge-Session" in message
    status, body, _ = server.request(
        "POST", "/v1/sessions", {"id": "s-body"}, headers=session_header("s-head")
    )
    assert status == 400 and "'s-head'" in body["error"]["message"], body
    for method, path in (("GET", "/v1/sessions/s-path/state"), ("DELETE", "/v1/sessions/s-path")):
        status, body, _ = server.request(method, path, headers=session_header("s-head"))
        assert status == 400, (method, body)
        assert "'s-path'" in body["error"]["message"] and "the path" in body["error"]["message"]
    status, body, _ = server.request(
        "PUT", "/v1/sessions/s-path/state", {"a": 1}, headers=session_header("s-head")
    )
    assert status == 400, body
    # An empty header, and an id the host refuses, are 400s too.
    status, body, _ = command(server, "echo", "echo", {"args": {}}, headers=session_header(""))
    assert status == 400 and "header is empty" in body["error"]["message"], body
    status, body, _ = command(server, "echo", "echo", {"args": {}}, headers=session_header("a/b"))
    assert status == 400 and "session id 'a/b'" in body["error"]["message"], body


def test_runtime_registration_validates_first_and_disturbs_nothing(server: Server) -> None:
    bad = {
        "name": "extra",
        "config": {"script": "python_bridges/examples/echo_bridge.py", "pool": {"size": -1}},
    }
    status, body, _ = server.request("POST", "/v1/bridges", bad)
    assert status == 400 and "pool.size" in body["error"]["message"]
    status, body, _ = server.request("POST", "/v1/bridges", {"name": "extra"})
    assert status == 400 and '"config"' in body["error"]["message"]
    good = {
        "name": "extra",
        "config": {"script": "python_bridges/examples/echo_bridge.py", "pool": {"size": 1}},
    }
    status, body, _ = server.request("POST", "/v1/bridges", good)
    assert status == 201 and body["name"] == "extra"
    status, body, _ = server.request("POST", "/v1/bridges", good)
    assert status == 400 and "already registered" in body["error"]["message"]
    status, body, _ = command(server, "extra", "echo", {"args": {"n": 1}})
    assert (status, body) == (200, {"result": {"n": 1}})
    status, _, _ = server.request("DELETE", "/v1/bridges/extra")
    assert status == 200
    status, _, _ = command(server, "extra", "echo", {})
    assert status == 404
    status, body, _ = command(server, "echo", "echo", {"args": {"still": "here"}})
    assert (status, body) == (200, {"result": {"still": "here"}})


def test_generic_bridges_have_no_resource_routes(server: Server) -> None:
    status, body, _ = server.request("POST", "/v1/bridges/echo/resources/program/create", {})
    assert status == 404 and "resource" in body["error"]["message"]


def test_two_hundred_concurrent_clients_each_get_their_own_answer(server: Server) -> None:
    def one(i: int) -> tuple[int, object]:
        status, body, _ = command(server, "pair", "echo", {"args": {"i": i}}, timeout=120)
        return status, body

    with ThreadPoolExecutor(max_workers=200) as pool:
        futures = [pool.submit(one, i) for i in range(200)]
        status, body, _ = server.request("GET", "/healthz", token=None, timeout=30)
        assert (status, body) == (200, {"status": "ok"}), "the server must stay responsive"
        results = [f.result() for f in futures]
    assert results == [(200, {"result": {"i": i}}) for i in range(200)]


def test_healthz_answers_while_two_hundred_slow_calls_wait(server: Server) -> None:
    # 200 clients each hold a connection with a call queued on 'pair' (2 workers, 50 ms a call,
    # so they take 5 s to drain). /healthz, asked once all 200 are sent, must not queue behind
    # them: it answers while most of them are still waiting.
    sent = threading.Semaphore(0)
    done: list[int] = []

    def one(i: int) -> tuple[int, object]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        conn.request(
            "POST",
            "/v1/bridges/pair/commands/sleep",
            body=json.dumps({"args": {"seconds": 0.05}}),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        sent.release()
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
        done.append(i)
        return response.status, body

    with ThreadPoolExecutor(max_workers=200) as pool:
        futures = [pool.submit(one, i) for i in range(200)]
        for _ in range(200):
            assert sent.acquire(timeout=60), "a client could not send its request"
        status, body, _ = server.request("GET", "/healthz", token=None, timeout=60)
        finished_before_healthz = len(done)
        results = [f.result() for f in futures]
    assert (status, body) == (200, {"status": "ok"})
    assert finished_before_healthz < 100, f"/healthz waited for {finished_before_healthz} calls"
    assert all(r == (200, {"result": {"slept": 0.05}}) for r in results)


def test_metrics_are_prometheus_text(server: Server) -> None:
    status, metrics, headers = server.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "# TYPE mlbridge_calls_total counter" in metrics
    assert 'mlbridge_calls_total{bridge="echo",command="echo",outcome="ok",category=""}' in metrics
    assert (
        'mlbridge_call_duration_seconds_bucket{bridge="pair",command="echo",le="+Inf"}' in metrics
    )
    assert 'mlbridge_workers{bridge="pair",state="idle"}' in metrics
    assert "mlbridge_uptime_seconds" in metrics
    loop_cpu = [
        line for line in metrics.splitlines() if line.startswith("mlbridge_event_loop_cpu_seconds")
    ]
    assert len(loop_cpu) == 1 and float(loop_cpu[0].split()[-1]) > 0, loop_cpu
    assert TOKEN not in metrics


def cli(server: Server, *args: str) -> subprocess.CompletedProcess:
    url = f"http://127.0.0.1:{server.port}"
    return subprocess.run(
        [BINARY, "call", *args, "--url", url, "--token", TOKEN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_calls_share_the_servers_workers_and_sessions(server: Server) -> None:
    put = cli(server, "pair", "put", "--session", "s-cli", "--args", '{"key": "k", "value": 7}')
    assert put.returncode == 0, put.stderr
    got = cli(server, "pair", "get", "--session", "s-cli", "--args", '{"key": "k"}')
    assert got.returncode == 0 and "7" in got.stdout
    streamed = cli(server, "echo", "stream", "--args", '{"count": 2}')
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.splitlines()[:2] == ['{"index":0}', '{"index":1}']
    failed = cli(server, "echo", "fail", "--args", '{"type": "KeyError", "message": "k"}')
    assert failed.returncode == 1 and failed.stderr.startswith("error: not_found: ")
    unknown = cli(server, "nope", "echo")
    assert unknown.returncode == 1 and "no bridge named 'nope'" in unknown.stderr
