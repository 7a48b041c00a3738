"""Call ids and the routes that use them: X-Mlbridge-Call-Id on every command answer,
GET /v1/calls/{id} for a "reply": false call, DELETE /v1/calls/{id} to cancel one, and
GET /openapi.json; against a real server on loopback."""

from __future__ import annotations

import http.client
import json
import time

from conftest import TOKEN, Server

CALL_ID = "X-Mlbridge-Call-Id"


def command(server: Server, bridge: str, name: str, body: dict, **kw):
    return server.request("POST", f"/v1/bridges/{bridge}/commands/{name}", body, **kw)


def record_when_finished(server: Server, call_id: str) -> dict:
    """The call's record once it left queued/running (bounded: a minute)."""
    deadline = time.monotonic() + 60
    while True:
        status, body, _ = server.request("GET", f"/v1/calls/{call_id}")
        assert status == 200, body
        if body["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_every_command_answer_names_its_call(server: Server) -> None:
    status, _, headers = command(server, "echo", "echo", {"args": {"x": 1}})
    assert status == 200 and headers[CALL_ID].startswith("call-")
    status, _, failed = command(server, "echo", "fail", {"args": {}})
    assert status >= 400 and failed[CALL_ID].startswith("call-")
    assert failed[CALL_ID] != headers[CALL_ID]


def test_a_streamed_answer_names_its_call_in_its_head(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(
        "POST",
        "/v1/bridges/echo/commands/stream",
        body=json.dumps({"args": {"count": 2}, "stream": True}),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert (response.getheader(CALL_ID) or "").startswith("call-")
    assert b"event: result" in response.read()
    conn.close()


def test_a_fire_and_forget_call_can_be_fetched_by_its_id(server: Server) -> None:
    status, body, headers = command(server, "echo", "echo", {"args": {"k": 7}, "reply": False})
    assert status == 202 and headers[CALL_ID] == body["call_id"]
    record = record_when_finished(server, body["call_id"])
    assert record["state"] == "succeeded", record
    assert record["result"] == {"k": 7}
    assert (record["bridge"], record["command"]) == ("echo", "echo")


def test_a_call_is_cancelled_by_its_id(server: Server) -> None:
    status, body, _ = command(
        server, "echo", "sleep", {"args": {"seconds": 30}, "reply": False, "timeout_ms": 60000}
    )
    assert status == 202
    status, cancelled, _ = server.request("DELETE", f"/v1/calls/{body['call_id']}")
    assert (status, cancelled) == (200, {"cancelled": body["call_id"]})
    record = record_when_finished(server, body["call_id"])
    assert record["state"] == "cancelled", record


def test_an_unknown_call_id_is_not_found(server: Server) -> None:
    status, body, _ = server.request("GET", "/v1/calls/call-999999999")
    assert status == 404, body
    status, body, _ = server.request("DELETE", "/v1/calls/call-999999999")
    assert status == 404, body


def test_the_openapi_document_lists_the_routes_and_the_bridges_commands(server: Server) -> None:
    status, document, _ = server.request("GET", "/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.1")
    assert "/v1/calls/{id}" in document["paths"]
    assert "/v1/bridges/echo/commands/echo" in document["paths"]
