"""Cancellation, exits and protocol errors of a BaseBridge worker."""

from __future__ import annotations

import struct
import time

import msgpack
from conftest import Spawn
from worker_client import ECHO_BRIDGE, Worker, frame


def cancel(worker: Worker, request_id: int, timeout: float = 30.0) -> dict:
    """SIGINT the worker until the request is answered; return the response.

    A SIGINT before the handler starts is ignored by design, so one signal could be
    lost to a race; repeating it makes the test deterministic.
    """
    deadline = time.monotonic() + timeout
    while True:
        worker.interrupt()
        try:
            response, before = worker.wait_response(request_id, timeout=0.05)
        except TimeoutError:
            assert time.monotonic() < deadline, "the worker never answered the cancelled request"
            continue
        assert before == []
        return response


def test_sigint_cancels_a_sleeping_handler_and_the_worker_survives(echo: Worker) -> None:
    request_id = echo.start_request("sleep", {"seconds": 30})
    response = cancel(echo, request_id)  # fails if no answer comes (its own hang guard)
    assert response["success"] is False
    assert response["error"] == {
        "type": "Cancelled",
        "message": f"request {request_id} was cancelled",
        "category": "cancelled",
    }
    assert echo.result("echo", {"after": "cancel"}) == {"after": "cancel"}
    assert echo.proc.poll() is None


def test_sigint_cancels_a_busy_loop(echo: Worker) -> None:
    request_id = echo.start_request("spin", {"seconds": 30})
    assert cancel(echo, request_id)["error"]["type"] == "Cancelled"
    assert echo.result("ping")["status"] == "ok"


def test_a_handler_may_swallow_the_interrupt(echo: Worker) -> None:
    # SIGINT raises at most once per request: the second and later signals are ignored.
    request_id = echo.start_request("spin", {"seconds": 0.6, "swallow_interrupt": True})
    time.sleep(0.15)  # into the loop: a SIGINT in the handler's first lines would cancel it
    response = cancel(echo, request_id)
    assert response["success"] is True
    assert response["result"] == {"spun": 0.6, "interrupts": 1}


def test_sigint_while_idle_is_ignored(echo: Worker) -> None:
    for _ in range(3):
        echo.interrupt()
        time.sleep(0.05)
    assert echo.proc.poll() is None
    assert echo.result("ping")["status"] == "ok"


def test_end_of_input_exits_0(echo: Worker) -> None:
    echo.close_stdin()
    assert echo.recv() is None
    assert echo.wait() == 0


def test_shutdown_answers_then_exits_0(echo: Worker) -> None:
    assert echo.result("shutdown") == {"status": "shutting_down"}
    assert echo.recv() is None
    assert echo.wait() == 0


def _assert_protocol_error_then_exit_3(worker: Worker, needle: str) -> None:
    response = worker.recv()
    assert response["type"] == "response" and response["id"] is None
    assert response["success"] is False
    assert response["error"]["type"] == "ProtocolError"
    assert response["error"]["category"] == "protocol_error"
    assert needle in response["error"]["message"]
    assert worker.recv() is None
    assert worker.wait() == 3


def test_oversize_request_is_answered_then_exit_3(spawn: Spawn, codec: str) -> None:
    worker = spawn(ECHO_BRIDGE, codec, extra_args=["--max-frame-bytes", "1024"])
    worker.hello()
    assert worker.result("echo", {"x": "y" * 900}) == {"x": "y" * 900}
    worker.send_raw(struct.pack(">I", 1025))
    _assert_protocol_error_then_exit_3(worker, "1025")


def test_default_limit_is_64_mib(echo: Worker) -> None:
    echo.send_raw(struct.pack(">I", 64 * 1024 * 1024 + 1))
    _assert_protocol_error_then_exit_3(echo, str(64 * 1024 * 1024))


def test_zero_length_frame_is_a_protocol_error(echo: Worker) -> None:
    echo.send_raw(struct.pack(">I", 0))
    _assert_protocol_error_then_exit_3(echo, "zero-length")


def test_non_map_frame_exits_3(spawn: Spawn, codec: str) -> None:
    worker = spawn(ECHO_BRIDGE, codec)
    worker.hello()
    payload = msgpack.packb([1, 2, 3]) if codec == "msgpack" else b"[1,2,3]"
    worker.send_raw(frame(payload))
    assert worker.recv() is None
    assert worker.wait() == 3
    assert "not a map" in worker.stderr()


def test_undecodable_frame_exits_3(echo: Worker) -> None:
    echo.send_raw(frame(b"\xc1 not json {"))
    assert echo.recv() is None
    assert echo.wait() == 3
    assert "undecodable" in echo.stderr()


def test_end_of_input_inside_a_frame_exits_3(echo: Worker) -> None:
    echo.send_raw(struct.pack(">I", 100) + b"0123456789")
    echo.close_stdin()
    _assert_protocol_error_then_exit_3(echo, "10 of 100")


def test_bad_command_line_exits_2(spawn: Spawn) -> None:
    worker = spawn(ECHO_BRIDGE, extra_args=["--protocol", "2"])
    assert worker.recv() is None
    assert worker.wait() == 2
    assert "unsupported --protocol 2" in worker.stderr()


def test_sigint_never_cuts_a_frame_in_half(echo: Worker) -> None:
    # A handler that does nothing but write chunks: most SIGINTs land inside a write.
    request_id = echo.start_request("stream", {"count": 10**7, "delay": 0})
    deadline = time.monotonic() + 5
    seqs: list[int] = []
    while True:
        if len(seqs) % 200 == 0:  # signal now and then, and keep the pipe moving
            assert time.monotonic() < deadline, "the stream was never cancelled"
            echo.interrupt()
        message = echo.recv()  # a cut frame would fail to decode or misalign what follows
        if message["type"] == "response":
            break
        assert message["type"] == "chunk" and message["id"] == request_id
        seqs.append(message["seq"])
    assert message["id"] == request_id and message["error"]["type"] == "Cancelled"
    assert seqs == list(range(len(seqs)))
    assert echo.result("ping")["status"] == "ok"
