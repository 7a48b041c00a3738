"""The cancel pipe: SIGINT for the request the host names, and waiting requests
answered ``Cancelled`` without running (pool.pipeline_depth above 1)."""

from __future__ import annotations

import os
import struct
import time

import pytest
from conftest import Spawn
from worker_client import ECHO_BRIDGE, Worker

from mlbridge.cancel_pipe import ENV_NAME, attach_from_environment, forget_older, read_cancelled


@pytest.fixture
def pipelined(spawn: Spawn, codec: str, pipe: tuple[int, int]) -> tuple[Worker, int]:
    """A ready echo bridge given the read end of a cancel pipe; returns it and the write end."""
    read_fd, write_fd = pipe
    env = {**os.environ, ENV_NAME: str(read_fd)}
    worker = spawn(ECHO_BRIDGE, codec, env=env, pass_fds=(read_fd,))
    os.close(read_fd)  # the worker has its copy
    hello = worker.hello()
    assert hello["pipelining"] is True
    assert worker.result("init", {"options": {}}) == {"status": "ready"}
    return worker, write_fd


def name(write_fd: int, request_id: int) -> None:
    """What the host does to cancel a request: its id on the pipe, then SIGINT."""
    os.write(write_fd, struct.pack(">Q", request_id))


def test_a_named_waiting_request_is_answered_cancelled_without_running(pipelined) -> None:
    worker, write_fd = pipelined
    running = worker.start_request("sleep", {"seconds": 0.4})
    waiting = worker.start_request("crash", {"exit_code": 3})  # would end the worker if run
    name(write_fd, waiting)
    worker.interrupt()
    first, _ = worker.wait_response(running)
    assert first["success"] is True, "the SIGINT named another request"
    second, _ = worker.wait_response(waiting)
    assert second["success"] is False
    assert second["error"]["type"] == "Cancelled"
    assert worker.result("ping")["status"] == "ok"
    assert worker.proc.poll() is None


def test_sigint_interrupts_the_running_request_when_the_pipe_names_it(pipelined) -> None:
    worker, write_fd = pipelined
    running = worker.start_request("sleep", {"seconds": 30})
    waiting = worker.start_request("echo", {"n": 7})
    # A signal that lands just before the handler enters time.sleep() is handled only when the
    # sleep ends (CPython runs Python signal handlers between bytecodes): name it again until
    # the answer comes, as the test of plain SIGINT does (test_lifecycle.cancel).
    deadline = time.monotonic() + 30
    while True:
        name(write_fd, running)
        worker.interrupt()
        try:
            first, _ = worker.wait_response(running, timeout=0.05)
            break
        except TimeoutError:
            assert time.monotonic() < deadline, "the worker never answered the cancelled request"
    assert first["error"]["type"] == "Cancelled"
    second, _ = worker.wait_response(waiting)
    assert second["result"] == {"n": 7}


def test_a_sigint_that_names_no_request_interrupts_nothing(pipelined) -> None:
    worker, write_fd = pipelined
    running = worker.start_request("sleep", {"seconds": 0.3})
    name(write_fd, running - 1)  # a request that already ended: a cancel that came too late
    worker.interrupt()
    response, _ = worker.wait_response(running)
    assert response["success"] is True
    worker.interrupt()  # nothing on the pipe at all
    assert worker.result("echo", {"n": 1}) == {"n": 1}


def test_read_cancelled_takes_every_waiting_id_and_never_blocks(pipe) -> None:
    read_fd, write_fd = pipe
    os.set_blocking(read_fd, False)
    found: set[int] = set()
    read_cancelled(read_fd, found)
    assert found == set()
    os.write(write_fd, struct.pack(">QQ", 5, 2**64 - 1))
    read_cancelled(read_fd, found)
    assert found == {5, 2**64 - 1}


def test_forget_older_drops_ids_below_the_request_now_starting() -> None:
    cancelled = {3, 7, 9}
    forget_older(cancelled, 7)
    assert cancelled == {7, 9}
    forget_older(cancelled, "not-an-int")  # a seed host's ids: left alone
    assert cancelled == {7, 9}


def test_attach_takes_only_a_pipe_and_hides_the_variable(monkeypatch, capsys, pipe) -> None:
    read_fd, _ = pipe
    monkeypatch.setenv(ENV_NAME, str(read_fd))
    assert attach_from_environment() == read_fd
    assert ENV_NAME not in os.environ
    assert not os.get_inheritable(read_fd)
    assert not os.get_blocking(read_fd)

    with open(os.devnull, "rb") as other:
        monkeypatch.setenv(ENV_NAME, str(other.fileno()))
        assert attach_from_environment() is None
    assert "not a pipe" in capsys.readouterr().err
    monkeypatch.setenv(ENV_NAME, "oops")
    assert attach_from_environment() is None
    assert "one request at a time" in capsys.readouterr().err
