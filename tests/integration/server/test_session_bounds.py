"""Session ids follow one rule everywhere, and sessions are bounded and listed in pages."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from conftest import BINARY, ROOT, TOKEN, Server, deployment


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that holds at most 300 sessions and 2500 bytes of session state in all."""
    config = tmp_path_factory.mktemp("bounds") / "mlbridge.yaml"
    config.write_text(
        deployment(
            "  auth_token_env: MLBRIDGE_TEST_TOKEN\n"
            "  max_sessions: 300\n"
            "  session_state_total_max_bytes: 2500"
        )
    )
    server = Server(config, dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN))
    yield server
    code, err = server.stop()
    assert code == 0, err


BAD_IDS = ["a/b", "a b", "a\x00b", "x" * 129, "ünï", "a\nb", ""]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_bad_session_id_is_refused_wherever_it_enters(bounded: Server, bad: str) -> None:
    status, body, _ = bounded.request("POST", "/v1/sessions", {"id": bad})
    assert status == 400 and body["error"]["category"] == "invalid_argument", body
    assert "A-Z a-z 0-9 . _ : -" in body["error"]["message"]
    status, body, _ = bounded.request(
        "POST", "/v1/bridges/echo/commands/echo", {"args": {}, "session": bad}
    )
    assert status == 400 and body["error"]["category"] == "invalid_argument", body
    if bad:
        path = quote(bad, safe="")
        for method, route in [
            ("DELETE", f"/v1/sessions/{path}"),
            ("GET", f"/v1/sessions/{path}/state"),
            ("PUT", f"/v1/sessions/{path}/state"),
        ]:
            status, body, _ = bounded.request(method, route, {} if method == "PUT" else None)
            assert status in (400, 404), (method, route, body)
            if status == 404:  # the router did not match the path at all (a '/' in it)
                assert body["error"]["category"] == "not_found"
            else:
                assert body["error"]["category"] == "invalid_argument", body


def test_a_good_session_id_of_every_allowed_character_works(bounded: Server) -> None:
    good = "Az09._:-" + "q" * 120
    status, body, _ = bounded.request("POST", "/v1/sessions", {"id": good})
    assert (status, body) == (201, {"id": good})
    status, _, _ = bounded.request(
        "POST", "/v1/bridges/echo/commands/echo", {"args": {}, "session": good}
    )
    assert status == 200
    status, _, _ = bounded.request("DELETE", f"/v1/sessions/{good}")
    assert status == 200


def test_sessions_are_listed_in_pages_and_capped(bounded: Server) -> None:
    ids = [f"page-{i:04d}" for i in range(300)]
    for session in ids:
        status, body, _ = bounded.request("POST", "/v1/sessions", {"id": session})
        assert status == 201, body
    # The 301st is refused, saying which limit and what to do.
    status, body, headers = bounded.request("POST", "/v1/sessions", {"id": "one-too-many"})
    assert status == 503 and body["error"]["category"] == "overloaded", body
    assert "host.max_sessions" in body["error"]["message"]
    assert "DELETE /v1/sessions" in body["error"]["message"]
    # The default page is 100 ids; `next` leads on, and is null on the last page.
    status, body, _ = bounded.request("GET", "/v1/sessions")
    assert status == 200 and len(body["sessions"]) == 100 and body["next"] == "page-0099"
    seen: list[str] = []
    after = ""
    while True:
        status, body, _ = bounded.request("GET", f"/v1/sessions?limit=70&after={after}")
        assert status == 200, body
        seen += body["sessions"]
        if body["next"] is None:
            break
        after = body["next"]
    assert seen == ids
    for limit in ("0", "1001", "ten", "-1"):
        status, body, _ = bounded.request("GET", f"/v1/sessions?limit={limit}")
        assert status == 400 and "limit" in body["error"]["message"], body
    status, body, _ = bounded.request("GET", "/v1/sessions?after=a%2Fb")
    assert status == 400, body
    # Ending one makes room for another.
    assert bounded.request("DELETE", "/v1/sessions/page-0000")[0] == 200
    assert bounded.request("POST", "/v1/sessions", {"id": "one-too-many"})[0] == 201
    for session in [*ids[1:], "one-too-many"]:
        assert bounded.request("DELETE", f"/v1/sessions/{session}")[0] == 200


def test_all_session_states_together_are_bounded(bounded: Server) -> None:
    big = {"v": "x" * 1000}  # about 1 KB each; 2500 bytes in all hold two
    for session in ("state-a", "state-b"):
        status, body, _ = bounded.request("POST", "/v1/sessions", {"id": session, "state": big})
        assert status == 201, body
    status, body, _ = bounded.request("POST", "/v1/sessions", {"id": "state-c", "state": big})
    assert status == 503 and body["error"]["category"] == "overloaded", body
    assert "host.session_state_total_max_bytes" in body["error"]["message"]
    # A smaller state still fits; ending a session gives its bytes back.
    status, _, _ = bounded.request("PUT", "/v1/sessions/state-b/state", {"v": "small"})
    assert status == 200
    status, body, _ = bounded.request("POST", "/v1/sessions", {"id": "state-c", "state": big})
    assert status == 201, body
    for session in ("state-a", "state-b", "state-c"):
        assert bounded.request("DELETE", f"/v1/sessions/{session}")[0] == 200


@pytest.mark.parametrize("bad", ["a/b", "x" * 129, "a b"])
def test_the_cli_refuses_a_bad_session_id(bad: str) -> None:
    done = subprocess.run(
        [
            BINARY,
            "call",
            "--script",
            str(ROOT / "python_bridges" / "examples" / "echo_bridge.py"),
            "echo",
            "--session",
            bad,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "session id" in done.stderr and "A-Z a-z 0-9 . _ : -" in done.stderr, done.stderr
