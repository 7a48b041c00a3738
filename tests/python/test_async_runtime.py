"""A concurrent worker (``--concurrency N``): many calls at once on an asyncio loop.

Real echo-bridge processes over pipes. Overlap is proven with ``async_barrier`` (a call that
answers only once N calls wait in it together), never with timings.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from conftest import Spawn
from test_lifecycle import cancel as sigint_until_answered
from worker_client import ECHO_BRIDGE, ROOT, Worker, encode, frame

CONCURRENT = ("--concurrency", "256")


def cancelled(request_id: int) -> dict[str, Any]:
    return {
        "type": "response",
        "id": request_id,
        "success": False,
        "error": {
            "type": "Cancelled",
            "message": f"request {request_id} was cancelled",
            "category": "cancelled",
        },
    }


def start_concurrent(spawn: Spawn, codec: str = "json", **kwargs: Any) -> Worker:
    extra = kwargs.pop("extra_args", CONCURRENT)
    worker = spawn(ECHO_BRIDGE, codec, extra_args=extra, **kwargs)
    hello = worker.hello()
    assert hello["concurrency"] == int(extra[-1])
    assert worker.result("init", {"options": {}}) == {"status": "ready"}
    return worker


@pytest.fixture
def concurrent(spawn: Spawn, codec: str) -> Worker:
    """A ready echo bridge at concurrency 256, in the test's codec."""
    return start_concurrent(spawn, codec)


def send_many(worker: Worker, messages: list[dict[str, Any]]) -> None:
    """Write many requests in one go (as a host with many calls would)."""
    worker.send_raw(b"".join(frame(encode(worker.codec, m)) for m in messages), timeout=30)


def requests(
    worker: Worker, command: str, args_list: list[Any], session_id: Any = None
) -> list[int]:
    """Send one request per args, all at once; return their ids."""
    first = worker._next_id
    worker._next_id += len(args_list)
    send_many(
        worker,
        [
            {
                "type": "request",
                "id": first + i,
                "command": command,
                "session_id": session_id,
                "args": args,
            }
            for i, args in enumerate(args_list)
        ],
    )
    return list(range(first, first + len(args_list)))


def collect(worker: Worker, ids: list[int], timeout: float = 30) -> dict[int, list[dict[str, Any]]]:
    """Every frame until each id in ``ids`` has its response; frames per id, in order.

    Fails on a second response to one id or a frame for an id not asked about.
    """
    wanted = set(ids)
    frames: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    answered: set[int] = set()
    deadline = time.monotonic() + timeout
    while answered != wanted:
        message = worker.recv(max(deadline - time.monotonic(), 0.001))
        assert message is not None, f"the worker closed its output; {len(wanted - answered)} left"
        request_id = message["id"]
        assert request_id in wanted, f"a frame for an id not in flight: {message}"
        assert request_id not in answered, f"a frame after the response: {message}"
        frames[request_id].append(message)
        if message["type"] == "response":
            answered.add(request_id)
    return frames


def response(frames: list[dict[str, Any]]) -> dict[str, Any]:
    assert frames[-1]["type"] == "response"
    return frames[-1]


# --------------------------------------------------------------------- the command line


def test_hello_reports_the_concurrency_given_on_the_command_line(spawn: Spawn, codec: str) -> None:
    worker = spawn(ECHO_BRIDGE, codec, extra_args=("--concurrency", "64"))
    hello = worker.hello()
    assert hello["concurrency"] == 64
    assert hello["pipelining"] is False
    assert worker.result("init", {"options": {}}) == {"status": "ready"}
    assert worker.result("get_info")["concurrency"] == 64


@pytest.mark.parametrize("value", ["0", "-3", "many", "2.5"])
def test_a_bad_concurrency_is_a_usage_error(spawn: Spawn, value: str) -> None:
    worker = spawn(ECHO_BRIDGE, extra_args=(f"--concurrency={value}",))
    assert worker.wait() == 2
    assert worker.recv() is None  # no hello
    assert "--concurrency" in worker.stderr()
    assert value in worker.stderr()


def test_a_huge_concurrency_is_clamped_with_a_warning(spawn: Spawn) -> None:
    worker = spawn(ECHO_BRIDGE, extra_args=("--concurrency", "99999"))
    assert worker.hello()["concurrency"] == 10000
    assert worker.result("init", {"options": {}}) == {"status": "ready"}
    assert worker.result("async_echo", {"x": 1}) == {"x": 1}
    worker.close_stdin()
    assert worker.wait() == 0
    assert "--concurrency 99999 is above the limit; clamped to 10000" in worker.stderr()


CLASS_DEFAULT = """
import asyncio, os, sys
sys.path.insert(0, {root!r})
from mlbridge import BaseBridge, command

class Wide(BaseBridge):
    framework = "wide"
    concurrency = {concurrency}

    @command("barrier")
    async def barrier(self, args, ctx):
        if not hasattr(self, "event"):
            self.event, self.arrived = asyncio.Event(), 0
        self.arrived += 1
        if self.arrived == args["parties"]:
            self.event.set()
        await self.event.wait()
        return "through"

if __name__ == "__main__":
    Wide.main()
"""


def write_class_default(tmp_path: Path, concurrency: int) -> Path:
    script = tmp_path / f"wide_{concurrency}.py"
    body = CLASS_DEFAULT.format(root=str(ROOT / "python_bridges"), concurrency=concurrency)
    script.write_text(textwrap.dedent(body))
    return script


def test_the_class_default_applies_without_the_argument(spawn: Spawn, tmp_path: Path) -> None:
    worker = spawn(write_class_default(tmp_path, 8))
    assert worker.hello()["concurrency"] == 8
    ids = requests(worker, "barrier", [{"parties": 3}] * 3)
    frames = collect(worker, ids)
    assert all(response(frames[i])["result"] == "through" for i in ids)


def test_the_command_line_overrides_the_class_default(spawn: Spawn, tmp_path: Path) -> None:
    worker = spawn(write_class_default(tmp_path, 8), extra_args=("--concurrency", "1"))
    assert worker.hello()["concurrency"] == 1


def test_a_class_default_above_the_limit_is_clamped(spawn: Spawn, tmp_path: Path) -> None:
    worker = spawn(write_class_default(tmp_path, 50000))
    assert worker.hello()["concurrency"] == 10000
    worker.close_stdin()
    assert worker.wait() == 0
    assert "concurrency 50000 is above the limit; clamped to 10000" in worker.stderr()


# --------------------------------------------------------------------- many calls at once


def test_a_thousand_calls_are_in_flight_at_once(concurrent: Worker) -> None:
    # Each call answers only once all 1000 wait in it together.
    ids = requests(concurrent, "async_barrier", [{"name": "k", "parties": 1000}] * 1000)
    frames = collect(concurrent, ids)
    assert [len(frames[i]) for i in ids] == [1] * 1000
    assert all(response(frames[i])["success"] for i in ids)


def test_a_thousand_sleeps_are_answered_once_each(concurrent: Worker) -> None:
    ids = requests(concurrent, "async_sleep", [{"seconds": 0.2}] * 1000)
    frames = collect(concurrent, ids)
    assert all(response(frames[i])["result"] == {"slept": 0.2} for i in ids)
    assert concurrent.result("get_stats")["in_flight"] == 0


def test_ping_is_answered_while_a_thousand_handlers_run(concurrent: Worker) -> None:
    ids = requests(concurrent, "async_barrier", [{"name": "p", "parties": 1001}] * 1000)
    # None of them can end before the 1001st arrives: the ping overtakes all 1000.
    pong = concurrent.call("ping")
    assert pong["success"] and pong["result"]["status"] == "ok"
    stats = concurrent.call("get_stats")["result"]
    assert stats["in_flight"] == 1000
    last = concurrent.start_request("async_barrier", {"name": "p", "parties": 1001})
    frames = collect(concurrent, [*ids, last])
    assert all(response(frames[i])["success"] for i in [*ids, last])


def test_anonymous_calls_and_different_sessions_overlap(concurrent: Worker) -> None:
    ids = requests(concurrent, "async_barrier", [{"name": "a", "parties": 30}] * 20)
    ids += [
        concurrent.start_request("async_barrier", {"name": "a", "parties": 30}, session_id=f"s{i}")
        for i in range(10)
    ]
    frames = collect(concurrent, ids)
    assert all(response(frames[i])["success"] for i in ids)


# --------------------------------------------------------------------- sessions


def test_calls_of_one_session_run_one_at_a_time_in_order(concurrent: Worker) -> None:
    turns = [{"turn": t, "seconds": 0.005} for t in range(25)]
    s1 = requests(concurrent, "async_turn", turns, session_id="s1")
    s2 = requests(concurrent, "async_turn", turns, session_id="s2")
    frames = collect(concurrent, s1 + s2)
    for ids in (s1, s2):
        results = [response(frames[i]) for i in ids]
        assert all(r["success"] for r in results), [r for r in results if not r["success"]]
        # Each turn saw exactly the turns before it: they ran in arrival order, never overlapping.
        assert [r["result"]["turns"] for r in results] == [list(range(t + 1)) for t in range(25)]


def test_a_session_call_waits_while_other_sessions_proceed(concurrent: Worker) -> None:
    blocked = concurrent.start_request("async_barrier", {"name": "b", "parties": 2}, session_id="s")
    queued = concurrent.start_request("async_echo", {"after": "barrier"}, session_id="s")
    # Another session runs at once, while "s" waits for its barrier.
    assert concurrent.call("async_echo", {"other": 1}, session_id="t")["result"] == {"other": 1}
    release = concurrent.start_request("async_barrier", {"name": "b", "parties": 2})
    frames = collect(concurrent, [blocked, queued, release])
    assert response(frames[queued])["result"] == {"after": "barrier"}


def test_cleanup_session_waits_for_the_sessions_running_call(concurrent: Worker) -> None:
    assert concurrent.result("put", {"key": "k", "value": 1}, session_id="s") == {
        "key": "k",
        "session_id": "s",
    }
    running = concurrent.start_request("async_barrier", {"name": "c", "parties": 2}, session_id="s")
    cleanup = concurrent.start_request("cleanup_session", {"session_id": "s"})
    # Not answered yet: a ping overtakes it.
    assert concurrent.call("ping")["success"]
    release = concurrent.start_request("async_barrier", {"name": "c", "parties": 2})
    received = [concurrent.recv(10) for _ in range(3)]
    order = [m["id"] for m in received]
    assert order.index(running) < order.index(cleanup)  # the cleanup waited for the call
    frames = {m["id"]: [m] for m in received}
    assert {running, cleanup, release} == set(frames)
    assert response(frames[cleanup])["result"] == {"status": "ok", "session_id": "s", "dropped": 1}
    assert concurrent.error("get", {"key": "k"}, session_id="s")["type"] == "KeyError"


def test_cleanup_session_comes_after_the_calls_before_it_in_order(concurrent: Worker) -> None:
    running = concurrent.start_request("async_barrier", {"name": "o", "parties": 2}, session_id="s")
    put = concurrent.start_request("put", {"key": "k", "value": 1}, session_id="s")
    cleanup = concurrent.start_request("cleanup_session", {"session_id": "s"})
    keys = concurrent.start_request("keys", {}, session_id="s")
    release = concurrent.start_request("async_barrier", {"name": "o", "parties": 2})
    received = []
    while len(received) < 5:
        message = concurrent.recv(10)
        assert message["type"] == "response" and message["success"], message
        received.append(message["id"])
    session_order = [i for i in received if i in (running, put, cleanup, keys)]
    assert session_order == [running, put, cleanup, keys]
    assert release in received


def test_session_state_travels_with_concurrent_calls(concurrent: Worker) -> None:
    first = concurrent.call(
        "state", {"set": {"a": 1}}, session_id="s", session_state={"version": 0}
    )
    assert first["session_state"] == {"base_version": 0, "set": {"a": 1}, "unset": []}
    second = concurrent.call(
        "state", {"set": {"b": 2}}, session_id="s", session_state={"version": 1}
    )
    assert second["result"]["state"] == {"a": 1, "b": 2}
    failed = concurrent.call("state", {"set": {"c": 3}, "fail": True}, session_id="s")
    assert failed["success"] is False
    assert concurrent.result("state", {}, session_id="s")["state"] == {"a": 1, "b": 2}


# --------------------------------------------------------------------- cancellation


def test_cancel_of_a_running_call_answers_cancelled(concurrent: Worker) -> None:
    running = concurrent.start_request("async_turn", {"turn": 0, "seconds": 60}, session_id="s")
    # A later call of another session has run: the first one's task has started.
    assert concurrent.result("async_echo", {"x": 1}) == {"x": 1}
    concurrent.send({"type": "cancel", "id": running})
    answer, before = concurrent.wait_response(running)
    assert answer == cancelled(running) and before == []
    # The handler saw CancelledError (its `finally` ran): the session's next turn may run.
    assert concurrent.result("async_turn", {"turn": 1}, session_id="s") == {"turns": [1]}


def test_cancel_of_a_call_waiting_for_its_session_never_runs_it(concurrent: Worker) -> None:
    running = concurrent.start_request("async_barrier", {"name": "w", "parties": 2}, session_id="s")
    waiting = concurrent.start_request("async_turn", {"turn": 9}, session_id="s")
    concurrent.send({"type": "cancel", "id": waiting})
    answer, before = concurrent.wait_response(waiting)
    assert answer == cancelled(waiting) and before == []
    release = concurrent.start_request("async_barrier", {"name": "w", "parties": 2})
    collect(concurrent, [running, release])
    assert concurrent.result("async_turn", {"turn": 10}, session_id="s") == {"turns": [10]}


def test_cancel_of_an_unknown_or_finished_id_is_ignored(concurrent: Worker) -> None:
    done = concurrent.start_request("async_echo", {"x": 1})
    assert concurrent.wait_response(done)[0]["success"]
    concurrent.send({"type": "cancel", "id": done})
    concurrent.send({"type": "cancel", "id": 987654321})
    concurrent.send({"type": "cancel", "id": None})
    concurrent.send({"type": "cancel"})
    # Nothing is answered for them: the next frame is the ping's response.
    assert concurrent.call("ping")["success"]
    assert concurrent.proc.poll() is None


def test_a_plain_def_command_sees_its_cancel_and_is_answered_when_it_stops(
    concurrent: Worker, tmp_path: Path
) -> None:
    waiting = concurrent.start_request("wait_file", {"path": str(tmp_path / "never")})
    assert concurrent.call("ping")["success"]  # the loop is free while it runs in a thread
    concurrent.send({"type": "cancel", "id": waiting})
    answer, before = concurrent.wait_response(waiting)
    assert answer == cancelled(waiting) and before == []
    assert concurrent.result("async_echo", {"x": 2}) == {"x": 2}


# --------------------------------------------------------------------- plain def commands


def test_a_plain_def_command_runs_in_the_pool_without_blocking_pings(
    concurrent: Worker, tmp_path: Path
) -> None:
    path = tmp_path / "go"
    waiting = concurrent.start_request("wait_file", {"path": str(path)})
    for _ in range(3):
        assert concurrent.call("ping")["success"]
    assert concurrent.result("async_echo", {"still": "serving"}) == {"still": "serving"}
    path.write_text("go")
    answer, before = concurrent.wait_response(waiting)
    assert before == []
    assert answer["result"]["thread"].startswith("mlbridge-sync")
    assert answer["result"]["same_ctx"] is True  # current_call() works in the pool too


def test_plain_def_commands_run_one_at_a_time_by_default(concurrent: Worker) -> None:
    ids = requests(concurrent, "sleep", [{"seconds": 0.05, "report": True}] * 4)
    frames = collect(concurrent, ids)
    spans = sorted(
        (response(frames[i])["result"]["started"], response(frames[i])["result"]["ended"])
        for i in ids
    )
    for (_, ended), (started, _) in zip(spans, spans[1:], strict=False):
        assert ended <= started  # never side by side


OVERLAP = """
import sys, threading
sys.path.insert(0, {root!r})
from mlbridge import BaseBridge, command

class Threads(BaseBridge):
    framework = "threads"
    concurrency = 16
    sync_overlap = {sync_overlap}

    def __init__(self):
        self.barrier = threading.Barrier(3, timeout=20)

    @command("meet", overlap={overlap})
    def meet(self, args, ctx):
        self.barrier.wait()  # only passes when three calls run at once
        ctx.stream("met")
        return threading.current_thread().name

if __name__ == "__main__":
    Threads.main()
"""


@pytest.mark.parametrize(("sync_overlap", "overlap"), [(True, False), (False, True)])
def test_plain_def_commands_overlap_when_allowed(
    spawn: Spawn, tmp_path: Path, sync_overlap: bool, overlap: bool
) -> None:
    script = tmp_path / "threads.py"
    body = OVERLAP.format(
        root=str(ROOT / "python_bridges"), sync_overlap=sync_overlap, overlap=overlap
    )
    script.write_text(textwrap.dedent(body))
    worker = spawn(script)
    assert worker.hello()["concurrency"] == 16
    ids = requests(worker, "meet", [{}] * 3)
    frames = collect(worker, ids)
    for i in ids:
        chunk, answer = frames[i]
        assert chunk == {"type": "chunk", "id": i, "seq": 0, "data": "met"}
        assert answer["success"] and answer["result"].startswith("mlbridge-sync")


# --------------------------------------------------------------------- per-call context, streaming


def test_contextvars_are_isolated_per_call(concurrent: Worker) -> None:
    ids = requests(
        concurrent, "async_context", [{"tag": f"t{i}", "seconds": 0.05} for i in range(50)]
    )
    frames = collect(concurrent, ids)
    for n, i in enumerate(ids):
        assert response(frames[i])["result"] == {"tag": f"t{n}", "request_id": i, "same_ctx": True}


@pytest.mark.parametrize("command", ["async_stream", "async_yield"])
def test_streams_from_async_handlers_interleave_by_id(concurrent: Worker, command: str) -> None:
    ids = requests(concurrent, command, [{"count": 5, "delay": 0.01}] * 10)
    frames = collect(concurrent, ids)
    for i in ids:
        chunks = frames[i][:-1]
        assert chunks == [{"type": "chunk", "id": i, "seq": s, "data": {"i": s}} for s in range(5)]
        assert response(frames[i])["result"] == {"chunks": 5}


def test_errors_of_concurrent_calls_are_answered_as_today(concurrent: Worker) -> None:
    error = concurrent.error("fail", {"type": "ValueError", "message": "bad"})
    assert error["type"] == "ValueError" and error["message"] == "bad"
    unknown = concurrent.error("nope")
    assert unknown["type"] == "UnknownCommand" and unknown["category"] == "not_found"


# --------------------------------------------------------------------- the watchdog


def test_the_watchdog_names_the_command_that_blocks_the_loop(spawn: Spawn) -> None:
    env = dict(os.environ, MLBRIDGE_LOOP_WATCHDOG_MS="200")
    worker = start_concurrent(spawn, env=env)
    assert worker.result("async_block", {"seconds": 1.0}) == {"blocked": 1.0}
    worker.close_stdin()
    assert worker.wait() == 0
    log = worker.stderr()
    assert "the event loop has not run for" in log
    assert "command 'async_block' blocks it at" in log
    assert "echo_bridge.py:" in log
    assert log.count("command 'async_block' blocks it") == 1  # once per stall


def test_the_watchdog_stays_quiet_for_a_loop_that_runs(spawn: Spawn) -> None:
    env = dict(os.environ, MLBRIDGE_LOOP_WATCHDOG_MS="300")
    worker = start_concurrent(spawn, env=env)
    assert worker.result("async_sleep", {"seconds": 1.0}) == {"slept": 1.0}
    worker.close_stdin()
    assert worker.wait() == 0
    assert "event loop has not run" not in worker.stderr()


# --------------------------------------------------------------------- the end


def test_shutdown_answers_then_cancels_what_still_runs(concurrent: Worker, tmp_path: Path) -> None:
    sleeping = requests(concurrent, "async_sleep", [{"seconds": 60}] * 3)
    turn = concurrent.start_request("async_turn", {"turn": 0, "seconds": 60}, session_id="s")
    queued = concurrent.start_request("async_turn", {"turn": 1}, session_id="s")
    in_thread = concurrent.start_request("wait_file", {"path": str(tmp_path / "never")})
    assert concurrent.call("ping")["success"]
    shutdown = concurrent.start_request("shutdown")
    first = concurrent.recv(10)
    assert first == {
        "type": "response",
        "id": shutdown,
        "success": True,
        "result": {"status": "shutting_down"},
    }
    pending = {*sleeping, turn, queued, in_thread}
    while pending:
        message = concurrent.recv(10)
        assert message is not None, f"no answer for {pending}"
        assert message == cancelled(message["id"])
        pending.remove(message["id"])
    assert concurrent.recv(10) is None
    assert concurrent.wait(10) == 0


def test_end_of_input_cancels_running_calls_and_exits_0(concurrent: Worker) -> None:
    ids = requests(concurrent, "async_sleep", [{"seconds": 60}] * 5)
    ignoring = concurrent.start_request("async_ignore_cancel", {"seconds": 60})
    assert concurrent.call("ping")["success"]
    concurrent.close_stdin()
    frames = collect(concurrent, [*ids, ignoring])
    assert all(response(frames[i]) == cancelled(i) for i in [*ids, ignoring])
    assert concurrent.recv(10) is None
    assert concurrent.wait(10) == 0


def test_a_bad_frame_is_a_protocol_error(concurrent: Worker) -> None:
    running = concurrent.start_request("async_sleep", {"seconds": 60})
    concurrent.send_raw(b"\x00\x00\x00\x00")
    frames = []
    while (message := concurrent.recv(10)) is not None:
        frames.append(message)
    assert frames[0]["id"] is None and frames[0]["error"]["category"] == "protocol_error"
    assert frames[1:] == [cancelled(running)]
    assert concurrent.wait(10) == 3


# --------------------------------------------------------------------- concurrency 1


def test_async_commands_run_at_concurrency_1(echo: Worker) -> None:
    assert echo.result("async_sleep", {"seconds": 0.01}) == {"slept": 0.01}
    answer, chunks = echo.wait_response(echo.start_request("async_yield", {"count": 2}))
    assert answer["result"] == {"chunks": 2}
    assert [c["data"] for c in chunks] == [{"i": 0}, {"i": 1}]
    answer, chunks = echo.wait_response(echo.start_request("async_stream", {"count": 2}))
    assert answer["result"] == {"chunks": 2} and [c["seq"] for c in chunks] == [0, 1]
    assert echo.result("async_context", {"tag": "x", "seconds": 0})["tag"] == "x"


def test_sigint_cancels_an_async_command_at_concurrency_1(echo: Worker) -> None:
    turn = echo.start_request("async_turn", {"turn": 0, "seconds": 60}, session_id="s")
    assert sigint_until_answered(echo, turn) == cancelled(turn)
    # Its `finally` ran (CancelledError inside the task): the session's next turn runs.
    assert echo.result("async_turn", {"turn": 1}, session_id="s") == {"turns": [1]}
    assert echo.result("ping")["status"] == "ok"


# --------------------------------------------------------------------- large frames and blobs


def test_large_frames_cross_a_concurrent_worker_both_ways(spawn: Spawn, codec: str) -> None:
    worker = start_concurrent(spawn, codec)
    data = os.urandom(3 << 20)  # many reads of the pipe for one frame
    ids = requests(worker, "async_echo", [{"data": data, "n": n} for n in range(3)])
    ids += requests(worker, "blob", [{"size": 2 << 20}])
    frames = collect(worker, ids)
    for n, i in enumerate(ids[:3]):
        assert response(frames[i])["result"] == {"data": data, "n": n}
    pattern = bytes(range(256)) * ((2 << 20) // 256)
    assert response(frames[ids[3]])["result"] == {"data": pattern}


def test_shared_blobs_keep_their_order_with_many_calls(spawn: Spawn) -> None:
    from mlbridge.shared_blobs import ENV_NAME, HEADER_BYTES, SharedFile

    bound = 64 << 20
    to_worker = os.memfd_create("mlbridge-to-worker")
    from_worker = os.memfd_create("mlbridge-from-worker")
    for fd in (to_worker, from_worker):
        os.ftruncate(fd, HEADER_BYTES)
    try:
        env = dict(os.environ, **{ENV_NAME: f"{to_worker},{from_worker},{1 << 20},{bound}"})
        worker = spawn(
            ECHO_BRIDGE,
            "msgpack",
            extra_args=CONCURRENT,
            env=env,
            pass_fds=(to_worker, from_worker),
        )
        assert worker.hello()["shared_blobs"] is True
        assert worker.result("init", {"options": {}}) == {"status": "ready"}
        consumer = SharedFile(os.dup(from_worker), bound)
        sizes = [(1 << 20) + n * 4096 for n in range(6)]
        ids = requests(worker, "blob", [{"size": size} for size in sizes])
        ids += requests(worker, "async_echo", [{"n": n} for n in range(20)])
        # Every reference is taken in the order the frames arrive, as the host does.
        seen = 0
        pattern = bytes(range(256)) * 8192
        while seen < len(ids):
            payload = worker.recv_payload(30)
            assert payload is not None
            message = msgpack.unpackb(
                payload,
                raw=False,
                ext_hook=lambda code, data: consumer.take(data, bound),
            )
            assert message["type"] == "response" and message["success"], message
            if message["id"] in ids[:6]:
                size = sizes[ids.index(message["id"])]
                assert message["result"]["data"] == (pattern * 2)[:size]
            seen += 1
    finally:
        os.close(to_worker)
        os.close(from_worker)


ASYNC_INIT = """
import asyncio, sys
sys.path.insert(0, {root!r})
from mlbridge import BaseBridge, command

class Prepared(BaseBridge):
    framework = "prepared"

    async def initialize(self, options):
        await asyncio.sleep(0)
        self.loop = asyncio.get_running_loop()
        self.greeting = options["greeting"]

    @command("greet")
    async def greet(self, args, ctx):
        return {{"greeting": self.greeting, "same_loop": asyncio.get_running_loop() is self.loop}}

if __name__ == "__main__":
    Prepared.main()
"""


@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_an_async_initialize_runs_on_the_loop_of_the_handlers(
    spawn: Spawn, tmp_path: Path, concurrency: str
) -> None:
    script = tmp_path / "prepared.py"
    script.write_text(textwrap.dedent(ASYNC_INIT.format(root=str(ROOT / "python_bridges"))))
    worker = spawn(script, extra_args=("--concurrency", concurrency))
    assert worker.hello()["concurrency"] == int(concurrency)
    assert worker.result("init", {"options": {"greeting": "hi"}}) == {"status": "ready"}
    assert worker.result("greet") == {"greeting": "hi", "same_loop": True}


def test_a_malformed_request_is_answered_and_the_worker_serves_on(concurrent: Worker) -> None:
    concurrent.send(
        {"type": "request", "id": 77, "command": "async_echo", "session_id": ["not", "a", "key"]}
    )
    answer = concurrent.recv(10)
    assert answer["id"] == 77 and answer["success"] is False
    assert answer["error"]["type"] == "TypeError"
    concurrent.send({"type": "request", "id": 78, "command": ["unhashable"], "session_id": None})
    assert concurrent.recv(10)["error"]["type"] == "UnknownCommand"
    concurrent.send({"type": "surprise", "id": 79})
    assert concurrent.result("async_echo", {"x": 1}) == {"x": 1}
    assert "ignoring a 'surprise' message" in concurrent.stderr()
