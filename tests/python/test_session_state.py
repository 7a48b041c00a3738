"""Session state and journal entries on the wire (python_bridges/mlbridge/session.py)."""

from __future__ import annotations

import pytest
from worker_client import Worker

from mlbridge.errors import BridgeError
from mlbridge.session import Session


def test_state_arrives_with_its_version_and_changes_go_back(echo: Worker) -> None:
    response = echo.call(
        "state", {}, "s", session_state={"version": 5, "data": {"user": "ada", "n": 1}}
    )
    assert response["success"] is True
    assert response["result"] == {"state": {"user": "ada", "n": 1}, "version": 5}
    assert "session_state" not in response  # read, not changed

    response = echo.call(
        "state", {"set": {"n": 2}, "unset": ["user"]}, "s", session_state={"version": 5}
    )
    assert response["result"]["state"] == {"n": 2}
    assert response["session_state"] == {"base_version": 5, "set": {"n": 2}, "unset": ["user"]}


def test_a_newer_version_without_data_is_refused_unless_it_numbers_our_change(echo: Worker) -> None:
    assert echo.call("state", {}, "s", session_state={"version": 3, "data": {"a": 1}})["success"]
    stale = echo.call("state", {}, "s", session_state={"version": 9})
    assert stale["success"] is False
    assert "holds state version 3" in stale["error"]["message"]
    # The worker's own change, numbered by the host, is accepted without the data.
    changed = echo.call("state", {"set": {"b": 2}}, "s", session_state={"version": 3})
    assert changed["session_state"]["base_version"] == 3
    after = echo.call("state", {}, "s", session_state={"version": 10})
    assert after["result"] == {"state": {"a": 1, "b": 2}, "version": 10}


def test_a_failed_handler_changes_nothing(echo: Worker) -> None:
    echo.call("state", {}, "s", session_state={"version": 1, "data": {"a": 1}})
    failed = echo.call("state", {"set": {"a": 99}, "fail": True}, "s", session_state={"version": 1})
    assert failed["success"] is False and "session_state" not in failed
    assert echo.result("state", {}, "s")["state"] == {"a": 1}


def test_journal_entries_go_back_with_the_response(echo: Worker) -> None:
    response = echo.call("append", {"key": "log", "value": "x"}, "s")
    assert response["session_journal"] == [
        {"command": "put", "args": {"key": "log", "value": ["x"]}, "object": "log"}
    ]
    assert "session_journal" not in echo.call("get", {"key": "log"}, "s")


def test_state_of_a_session_is_dropped_with_it(echo: Worker) -> None:
    echo.call("state", {"set": {"a": 1}}, "s")
    echo.result("cleanup_session", {"session_id": "s"})
    assert echo.result("state", {}, "s")["state"] == {}


def test_session_units() -> None:
    anonymous = Session(None)
    with pytest.raises(BridgeError):
        anonymous.record("put", {}, object="x")
    anonymous.state["k"] = 1
    assert anonymous.take_updates() == {}  # an anonymous call has no host-side state

    session = Session("s")
    with pytest.raises(BridgeError):
        session.state = [1]  # type: ignore[assignment]
    session.state = {"a": {"deep": [1]}}
    assert session.take_updates()["session_state"]["set"] == {"a": {"deep": [1]}}
    session.sync({"version": 7, "data": {"a": {"deep": [1]}}})
    session.state["a"]["deep"].append(2)  # nested changes count too
    assert session.take_updates()["session_state"] == {
        "base_version": 7,
        "set": {"a": {"deep": [1, 2]}},
        "unset": [],
    }
    with pytest.raises(BridgeError):
        session.sync({"data": {}})
