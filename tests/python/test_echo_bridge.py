"""The echo bridge as the host sees it: real processes, both codecs."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import Spawn
from worker_client import ECHO_BRIDGE, Worker

# Built-ins a client may call, and those only the host sends (never listed to clients).
CLIENT_BUILTINS = {"ping", "get_info", "get_stats", "list_commands"}
HOST_ONLY_BUILTINS = {"init", "cleanup", "cleanup_session", "shutdown"}
BUILTINS = CLIENT_BUILTINS | HOST_ONLY_BUILTINS
ECHO_COMMANDS = {
    "echo",
    "types",
    "sleep",
    "fail",
    "crash",
    "print",
    "blob",
    "stream",
    "put",
    "get",
    "drop",
    "keys",
    "state",
    "append",
    "pin",
    "export",
    "import",
    "spin",
    "allocate",
    "options",
    "env",
    "async_echo",
    "async_sleep",
    "async_stream",
    "async_yield",
    "async_block",
    "async_ignore_cancel",
    "async_barrier",
    "async_turn",
    "async_context",
    "wait_file",
}


def test_hello(spawn: Spawn, codec: str) -> None:
    worker = spawn(ECHO_BRIDGE, codec)
    hello = worker.hello()
    assert hello == {
        "type": "hello",
        "protocol": 1,
        "worker_id": "t1",
        "pid": worker.proc.pid,
        "framework": "echo",
        "framework_version": "1.0.0",
        "bridge_version": "0.1.0",
        "commands": hello["commands"],
        "concurrency": 1,
        "shared_blobs": False,  # the host passed no shared-memory files
        "pipelining": False,  # nor a cancel pipe
    }
    assert set(hello["commands"]) == BUILTINS | ECHO_COMMANDS
    assert len(hello["commands"]) == len(BUILTINS | ECHO_COMMANDS)


def test_init_and_ping(shared_echo: Worker) -> None:
    result = shared_echo.result("ping")
    assert result["status"] == "ok" and result["worker_id"] == "t1"
    assert result["framework"] == "echo" and result["uptime_s"] >= 0


def test_echo_round_trip_with_bytes(shared_echo: Worker) -> None:
    args = {
        "text": 'héllo ✓ \u0000 "quoted"',
        "int": 2**63 - 1,
        "neg": -5,
        "float": 0.25,
        "none": None,
        "list": [1, "two", [b"\x00\xff"]],
        "raw": bytes(range(256)),
        "nested": {"empty": b"", "deep": {"bytes": b"xyz"}},
    }
    assert shared_echo.result("echo", args) == args


def test_large_blob(shared_echo: Worker) -> None:
    size = (16 << 20) if shared_echo.codec == "msgpack" else (1 << 20) + 3
    data = shared_echo.call("blob", {"size": size}, timeout=20)["result"]["data"]
    assert len(data) == size
    assert data[:4] == b"\x00\x01\x02\x03" and data[-1] == (size - 1) % 256


def test_large_echo_request(shared_echo: Worker) -> None:
    payload = os.urandom(1 << 20) * (16 if shared_echo.codec == "msgpack" else 1)
    assert shared_echo.call("echo", {"p": payload}, timeout=20)["result"] == {"p": payload}
    assert shared_echo.result("ping")["status"] == "ok"


@pytest.mark.parametrize("command", ["echo:echo", "echo"])
def test_framework_namespace(shared_echo: Worker, command: str) -> None:
    assert shared_echo.result(command, {"a": 1}) == {"a": 1}


@pytest.mark.parametrize("command", ["common:ping", "ping"])
def test_common_namespace(shared_echo: Worker, command: str) -> None:
    assert shared_echo.result(command)["status"] == "ok"


@pytest.mark.parametrize(
    "command, needle",
    [
        ("nope", "unknown command 'nope'"),
        ("echo:nope", "unknown command 'echo:nope'"),
        ("common:echo", "unknown command 'common:echo'"),
        ("other:echo", "unknown namespace 'other'"),
    ],
)
def test_unknown_command_or_namespace(shared_echo: Worker, command: str, needle: str) -> None:
    error = shared_echo.error(command)
    assert error["type"] == "UnknownCommand"
    assert error["category"] == "not_found"
    assert needle in error["message"]
    assert shared_echo.result("ping")["status"] == "ok"


@pytest.mark.parametrize(
    "name, expected_type, expected_message",
    [
        ("ValueError", "ValueError", "bad value"),
        ("KeyError", "KeyError", "'bad value'"),
        ("TimeoutError", "TimeoutError", "bad value"),
        ("MemoryError", "MemoryError", "bad value"),
        ("CustomError", "CustomError", "bad value"),
        ("litellm.RateLimitError", "litellm.RateLimitError", "bad value"),
    ],
)
def test_handler_exception(
    shared_echo: Worker, name: str, expected_type: str, expected_message: str
) -> None:
    error = shared_echo.error("fail", {"type": name, "message": "bad value"})
    assert error["type"] == expected_type
    assert error["message"] == expected_message
    assert error["traceback"].startswith("Traceback (most recent call last)")
    assert "echo_bridge.py" in error["traceback"]
    assert "category" not in error
    assert shared_echo.result("ping")["status"] == "ok"


def test_bridge_error_category(shared_echo: Worker) -> None:
    error = shared_echo.error(
        "fail", {"type": "Throttled", "message": "slow", "category": "rate_limit"}
    )
    assert (error["type"], error["message"], error["category"]) == (
        "Throttled",
        "slow",
        "rate_limit",
    )
    error = shared_echo.error("fail", {"message": "plain", "category": "model_error"})
    assert (error["type"], error["category"]) == ("mlbridge.BridgeError", "model_error")


def test_print_does_not_corrupt_the_stream(echo: Worker) -> None:
    marker = "stdout-noise-\x01\x02-marker"
    assert echo.result("print", {"text": marker}) == {"printed": True}
    assert echo.result("echo", {"after": True}) == {"after": True}
    assert echo.stderr().count(marker) == 2  # print() and the raw write(1) both went to stderr


def test_stream_chunks_arrive_in_order_before_the_response(shared_echo: Worker) -> None:
    request_id = shared_echo.start_request("stream", {"count": 5, "delay": 0.01})
    response, before = shared_echo.wait_response(request_id)
    assert before == [
        {"type": "chunk", "id": request_id, "seq": i, "data": {"index": i}} for i in range(5)
    ]
    assert response["success"] and response["result"] == {"count": 5}


def test_sessions_are_isolated_and_cleaned_up(echo: Worker) -> None:
    echo.result("put", {"key": "k", "value": "from-a"}, session_id="a")
    echo.result("put", {"key": "k", "value": b"from-b"}, session_id="b")
    assert echo.result("get", {"key": "k"}, session_id="a")["value"] == "from-a"
    assert echo.result("get", {"key": "k"}, session_id="b")["value"] == b"from-b"
    assert echo.error("get", {"key": "k"})["type"] == "KeyError"  # anonymous sees neither

    cleaned = echo.result("cleanup_session", {"session_id": "a"})
    assert cleaned == {"status": "ok", "session_id": "a", "dropped": 1}
    assert echo.error("get", {"key": "k"}, session_id="a")["type"] == "KeyError"
    assert echo.result("get", {"key": "k"}, session_id="b")["value"] == b"from-b"

    assert echo.result("cleanup")["dropped"] == 1
    assert echo.error("get", {"key": "k"}, session_id="b")["type"] == "KeyError"
    assert echo.error("cleanup_session", {})["category"] == "invalid_argument"


def test_get_stats_counts(echo: Worker) -> None:
    # init (fixture) + 3 echoes + 1 failure + 2 puts, then get_stats itself.
    for i in range(3):
        echo.result("echo", {"i": i})
    echo.error("fail", {"type": "ValueError"})
    echo.result("put", {"key": "x", "value": 1}, session_id="s1")
    echo.result("put", {"key": "y", "value": 1}, session_id="s1")
    stats = echo.result("get_stats")
    assert stats["requests"] == 8
    assert stats["errors"] == 1
    assert stats["sessions"] == 1
    assert stats["resources"] == {"s1": 2}
    assert stats["anonymous_resources"] == 0
    assert stats["rss_bytes"] > 1 << 20
    assert stats["uptime_s"] > 0


def test_get_info(shared_echo: Worker) -> None:
    info = shared_echo.result("get_info")
    assert info["framework"] == "echo" and info["framework_version"] == "1.0.0"
    assert info["bridge_version"] == "0.1.0" and info["protocol"] == 1
    assert info["codec"] == shared_echo.codec
    assert set(info["commands"]) == CLIENT_BUILTINS | ECHO_COMMANDS
    assert info["capabilities"]["streaming"] is True


def test_list_commands(shared_echo: Worker) -> None:
    listed = {c["name"]: c for c in shared_echo.result("list_commands")["commands"]}
    assert listed.keys() == CLIENT_BUILTINS | ECHO_COMMANDS
    assert listed["echo"]["description"] == "Return the arguments unchanged (bytes included)."
    assert listed["echo"]["namespace"] == "echo"
    assert listed["ping"]["namespace"] == "common"
    assert all(c["description"] and "\n" not in c["description"] for c in listed.values())


def test_request_without_type_is_a_request(shared_echo: Worker) -> None:
    shared_echo.send({"id": 10**9, "command": "echo", "args": {"seed": True}})
    response, before = shared_echo.wait_response(10**9)
    assert before == []
    assert response == {"type": "response", "id": 10**9, "success": True, "result": {"seed": True}}


def test_request_without_args_gets_an_empty_map(shared_echo: Worker) -> None:
    assert shared_echo.result("echo") == {}


def test_env(spawn: Spawn, codec: str) -> None:
    worker = spawn(ECHO_BRIDGE, codec, env={**os.environ, "MLBRIDGE_TEST_VALUE": "v-42"})
    worker.hello()
    assert worker.result("env", {"name": "MLBRIDGE_TEST_VALUE"}) == "v-42"
    assert worker.result("env", {"name": "MLBRIDGE_NOT_SET_ANYWHERE"}) is None


def test_options_returns_the_init_options(echo: Worker) -> None:
    answer = echo.result("options")
    assert answer == {"options": {"greeting": "hi"}, "pid": echo.proc.pid}


def test_crash_once_marker_crashes_only_the_first_time(
    spawn: Spawn, codec: str, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    args = {"once_marker": str(marker), "exit_code": 3}
    first = spawn(ECHO_BRIDGE, codec)
    first.hello()
    assert first.result("init", {"options": {}}) == {"status": "ready"}
    first.start_request("crash", args)
    assert first.proc.wait(timeout=30) == 3
    assert marker.read_text() == str(first.proc.pid)
    second = spawn(ECHO_BRIDGE, codec)
    second.hello()
    assert second.result("init", {"options": {}}) == {"status": "ready"}
    assert second.result("crash", args) == {"crashed": False}


def test_allocate_reports_rss(echo: Worker) -> None:
    before = echo.result("get_stats")["rss_bytes"]
    result = echo.result("allocate", {"mb": 8})
    assert result["held_mb"] == 8
    assert result["rss_bytes"] >= before + 7 * (1 << 20)


def test_response_larger_than_max_frame_bytes(spawn: Spawn, codec: str) -> None:
    worker = spawn(ECHO_BRIDGE, codec, extra_args=["--max-frame-bytes", "4096"])
    worker.hello()
    error = worker.error("blob", {"size": 5000})
    assert error["type"] == "FrameTooLarge"
    assert error["category"] == "resource_exhausted"
    assert "'blob'" in error["message"] and "4096" in error["message"]
    assert worker.result("blob", {"size": 10})["data"] == bytes(range(10))


@pytest.mark.parametrize("how, expected", [("exit_code", 42), ("signal", -signal.SIGKILL)])
def test_crash(spawn: Spawn, how: str, expected: int) -> None:
    worker = spawn(ECHO_BRIDGE)
    worker.hello()
    value = 42 if how == "exit_code" else int(signal.SIGKILL)
    worker.start_request("crash", {how: value})
    assert worker.recv() is None  # output closes without an answer
    assert worker.wait() == expected
