"""The misbehaving worker and the benchmark floor do what the C++ tests rely on."""

from __future__ import annotations

import struct
import time

import pytest
from conftest import Spawn
from worker_client import FLOOR_WORKER, MISBEHAVING_WORKER, Worker


def misbehaving(spawn: Spawn, mode: str, codec: str = "json") -> Worker:
    return spawn(MISBEHAVING_WORKER, codec, extra_args=["--mode", mode])


def ready(spawn: Spawn, mode: str, codec: str = "json") -> Worker:
    worker = misbehaving(spawn, mode, codec)
    assert worker.hello()["protocol"] == 1
    assert worker.result("init", {"options": {}}) == {"status": "ready"}
    return worker


def test_exit_before_hello(spawn: Spawn) -> None:
    worker = misbehaving(spawn, "exit_before_hello")
    assert worker.recv() is None
    assert worker.wait() == 7
    assert "boom: failing on purpose" in worker.stderr()


def test_no_hello(spawn: Spawn) -> None:
    worker = misbehaving(spawn, "no_hello")
    with pytest.raises(TimeoutError):
        worker.recv(timeout=0.3)
    assert worker.proc.poll() is None


def test_bad_hello(spawn: Spawn, codec: str) -> None:
    assert misbehaving(spawn, "bad_hello", codec).hello()["protocol"] == 99


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("zero_length", struct.pack(">I", 0)),
        ("huge_length", struct.pack(">I", 2 << 30)),
        ("garbage", b"this is not a frame at all\n"),
    ],
)
def test_broken_stream_after_init(spawn: Spawn, mode: str, expected: bytes) -> None:
    worker = ready(spawn, mode)
    worker.start_request("echo", {})
    deadline = time.monotonic() + 5
    while len(worker._buf) < len(expected):
        worker._fill(deadline)
    assert worker._buf.startswith(expected)
    worker.close_stdin()
    assert worker.wait() == 0


def test_partial_then_eof(spawn: Spawn) -> None:
    worker = ready(spawn, "partial_then_eof")
    worker.start_request("echo", {})
    with pytest.raises(AssertionError, match="inside a frame"):
        worker.recv()
    assert worker._buf == struct.pack(">I", 100) + b"0123456789"
    assert worker.wait() == 0


def test_non_map(spawn: Spawn, codec: str) -> None:
    worker = ready(spawn, "non_map", codec)
    worker.start_request("echo", {})
    assert worker.recv() == [1, 2, 3]


def test_unknown_id(spawn: Spawn, codec: str) -> None:
    worker = ready(spawn, "unknown_id", codec)
    request_id = worker.start_request("echo", {"b": b"\x00"})
    stale = worker.recv()
    assert stale == {
        "type": "response",
        "id": request_id + 1000,
        "success": True,
        "result": "stale",
    }
    assert worker.recv()["result"] == {"b": b"\x00"}


def test_string_error(spawn: Spawn, codec: str) -> None:
    worker = ready(spawn, "string_error", codec)
    request_id = worker.start_request("echo", {})
    assert worker.recv() == {"id": request_id, "success": False, "error": "plain string error"}


def test_floor_worker(spawn: Spawn, codec: str) -> None:
    worker = spawn(FLOOR_WORKER, codec)
    assert worker.hello()["framework"] == "floor"
    assert worker.result("init", {"options": {}}) == {"options": {}}
    assert worker.result("ping", {"n": 1}) == {"n": 1}
    request_ids = [worker.start_request("echo", {"i": i}) for i in range(20)]
    for i, request_id in enumerate(request_ids):
        assert worker.recv() == {
            "type": "response",
            "id": request_id,
            "success": True,
            "result": {"i": i},
        }
    worker.close_stdin()
    assert worker.wait() == 0
