"""The request guard of `mlbridge serve` (issue 20, item 3; server/src/request_guard.hpp):

- a mutating request (POST, PUT, PATCH, DELETE with a body) needs Content-Type: application/json
  (415), so a web page cannot send one without a CORS preflight;
- a mutating request from a web page (an Origin header) is refused (403) unless the operator
  listed the origin in host.allowed_origins;
- a Host header that does not name the server is refused (421: DNS rebinding) on every route but
  /healthz, /readyz and /metrics; host.allowed_hosts adds names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conftest import TOKEN, Server, deployment


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = tmp_path_factory.mktemp("guard") / "mlbridge.yaml"
    config.write_text(
        deployment(
            "  auth_token_env: MLBRIDGE_TEST_TOKEN\n"
            "  allowed_origins: [https://ops.example.com]\n"
            "  allowed_hosts: [mlbridge.internal, 'lb.example:8080']\n"
        )
    )
    server = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN))
    yield server
    code, err = server.stop()
    assert code == 0, err


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/sessions"),
        ("POST", "/v1/bridges/echo/commands/echo"),
        ("POST", "/v1/bridges"),
        ("PUT", "/v1/sessions/s-ct/state"),
        ("PATCH", "/v1/bridges/echo"),
        ("DELETE", "/v1/sessions/s-ct"),
    ],
)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_mutating_request_needs_a_json_content_type(
    guarded: Server, method: str, path: str, content_type: str | None
) -> None:
    status, body, _ = guarded.request(
        method, path, raw=b"{}", headers={"Content-Type": content_type}
    )
    assert status == 415, body
    message = body["error"]["message"]
    assert f"{method} {path} needs 'Content-Type: application/json'" in message, message
    assert "-H 'Content-Type: application/json'" in message


def test_json_with_parameters_passes_and_a_bodyless_delete_needs_no_type(guarded: Server) -> None:
    status, body, _ = guarded.request(
        "POST",
        "/v1/sessions",
        {"id": "s-typed"},
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert status == 201, body
    status, body, _ = guarded.request(
        "DELETE", "/v1/sessions/s-typed", headers={"Content-Type": None}
    )
    assert status == 200, body


def test_a_change_from_a_web_page_is_refused_unless_its_origin_is_listed(guarded: Server) -> None:
    evil = {"Origin": "http://evil.example"}
    for method, path, body in (
        ("POST", "/v1/sessions", {"id": "s-evil"}),
        ("POST", "/v1/bridges/echo/commands/echo", {}),
        ("DELETE", "/v1/sessions/s-evil", None),
    ):
        status, answer, _ = guarded.request(method, path, body, headers=evil)
        assert status == 403, (method, path, answer)
        assert "Origin: http://evil.example" in answer["error"]["message"]
        assert "host.allowed_origins" in answer["error"]["message"]
    status, answer, _ = guarded.request(
        "POST", "/v1/sessions", {"id": "s-o"}, headers={"Origin": "null"}
    )
    assert status == 403, answer
    status, answer, _ = guarded.request("GET", "/v1/sessions", headers=evil)
    assert status == 200, "a read is not a change (and the browser keeps its answer from the page)"
    assert "s-evil" not in answer["sessions"]
    ops = {"Origin": "https://ops.example.com"}
    status, answer, _ = guarded.request("POST", "/v1/sessions", {"id": "s-ops"}, headers=ops)
    assert status == 201, answer
    guarded.request("DELETE", "/v1/sessions/s-ops")


@pytest.mark.parametrize(
    "path", ["/v1/sessions", "/v1/bridges", "/v1/bridges/echo", "/openapi.json", "/nowhere"]
)
def test_a_host_header_naming_another_server_is_refused(guarded: Server, path: str) -> None:
    for host in ("evil.example", f"evil.example:{guarded.port}", "localhost:1", "127.0.0.1"):
        status, body, _ = guarded.request("GET", path, headers={"Host": host})
        assert status == 421, (host, body)
        message = body["error"]["message"]
        assert f"the Host header '{host}' does not name this server" in message, message
        assert "host.allowed_hosts" in message


def test_the_names_of_this_server_and_the_listed_hosts_pass(guarded: Server) -> None:
    port = guarded.port
    for host in (
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"LOCALHOST:{port}",
        f"[::1]:{port}",
        "mlbridge.internal",
        "mlbridge.internal:443",
        "lb.example:8080",
    ):
        status, body, _ = guarded.request("GET", "/v1/sessions", headers={"Host": host})
        assert status == 200, (host, body)
    status, body, _ = guarded.request("GET", "/v1/sessions", headers={"Host": "lb.example:9090"})
    assert status == 421, body


def test_probes_answer_whatever_the_host_header(guarded: Server) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        status, _, _ = guarded.request("GET", path, headers={"Host": "10.1.2.3:80"})
        assert status == 200, path
