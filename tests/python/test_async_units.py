"""Pieces of the concurrent runtime, in process: concurrency bounds, handler kinds, the
per-call context, the loop watchdog."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from mlbridge import CallContext, command, current_call
from mlbridge.handlers import Kind, MainThreadLoop, kind_of, stream_generator
from mlbridge.resources import SessionStore
from mlbridge.runtime import MAX_CONCURRENCY, effective_concurrency
from mlbridge.watchdog import LoopWatchdog, process_was_starved, threshold_from_environment


def test_effective_concurrency_prefers_the_command_line(capsys: pytest.CaptureFixture) -> None:
    assert effective_concurrency(None, 1) == 1
    assert effective_concurrency(None, 256) == 256
    assert effective_concurrency(8, 256) == 8
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("requested", "default", "expected", "warning"),
    [
        (99999, 1, MAX_CONCURRENCY, "--concurrency 99999 is above the limit"),
        (None, 20000, MAX_CONCURRENCY, "the bridge class's concurrency 20000 is above"),
        (None, 0, 1, "the bridge class's concurrency 0 is below 1"),
        (None, "many", 1, "is 'many', not an integer"),
        (None, True, 1, "is True, not an integer"),
    ],
)
def test_effective_concurrency_clamps_with_a_warning(
    capsys: pytest.CaptureFixture, requested: Any, default: Any, expected: int, warning: str
) -> None:
    assert effective_concurrency(requested, default) == expected
    assert warning in capsys.readouterr().err


class Kinds:
    @command("plain")
    def plain(self, args: Any, ctx: Any) -> Any:
        return args

    @command("coroutine")
    async def coroutine(self, args: Any, ctx: Any) -> Any:
        return args

    @command("generator")
    async def generator(self, args: Any, ctx: Any) -> Any:
        yield args


def test_handler_kinds() -> None:
    handlers = Kinds()
    assert kind_of(handlers.plain) is Kind.SYNC
    assert kind_of(handlers.coroutine) is Kind.ASYNC
    assert kind_of(handlers.generator) is Kind.ASYNC_GEN


def context(sent: list[dict[str, Any]], request_id: int = 7) -> CallContext:
    return CallContext(request_id, SessionStore().get("s"), None, "w1", sent.append, "cmd")


def test_stream_works_awaited_and_plain() -> None:
    sent: list[dict[str, Any]] = []
    ctx = context(sent)

    async def handler() -> None:
        await ctx.stream("awaited")
        ctx.stream("plain")

    asyncio.run(handler())
    assert [m["data"] for m in sent] == ["awaited", "plain"]
    assert [m["seq"] for m in sent] == [0, 1]


def test_an_async_generator_streams_its_items_and_answers_how_many() -> None:
    sent: list[dict[str, Any]] = []
    ctx = context(sent)

    async def items() -> Any:
        for i in range(3):
            yield {"i": i}

    assert asyncio.run(stream_generator(items(), ctx)) == {"chunks": 3}
    assert [m["data"] for m in sent] == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_current_call_is_none_outside_a_call_and_per_task_inside() -> None:
    assert current_call() is None
    from mlbridge.context import _CURRENT

    async def one(ctx: CallContext) -> CallContext | None:
        _CURRENT.set(ctx)
        await asyncio.sleep(0.01)
        return current_call()

    async def both() -> list[Any]:
        a, b = context([], 1), context([], 2)
        return [await task for task in (asyncio.create_task(one(a)), asyncio.create_task(one(b)))]

    first, second = asyncio.run(both())
    assert (first.request_id, second.request_id) == (1, 2)
    assert current_call() is None


def test_the_main_thread_loop_runs_handlers_on_one_persistent_loop() -> None:
    runner = MainThreadLoop()
    loops: list[asyncio.AbstractEventLoop] = []

    async def handler(args: Any, ctx: Any) -> Any:
        loops.append(asyncio.get_running_loop())
        return args

    run = runner.wrap(handler, Kind.ASYNC)
    assert run({"a": 1}, None) == {"a": 1}
    assert run({"b": 2}, None) == {"b": 2}
    assert loops[0] is loops[1]


def test_watchdog_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLBRIDGE_LOOP_WATCHDOG_MS", raising=False)
    assert threshold_from_environment() == 1.0
    monkeypatch.setenv("MLBRIDGE_LOOP_WATCHDOG_MS", "250")
    assert threshold_from_environment() == 0.25
    monkeypatch.setenv("MLBRIDGE_LOOP_WATCHDOG_MS", "0")
    assert threshold_from_environment() is None


def test_watchdog_names_the_handler_on_the_loop_threads_stack(
    capsys: pytest.CaptureFixture,
) -> None:
    async def blocking_handler() -> None:
        time.sleep(0.6)  # blocks the loop on purpose

    watchdog = LoopWatchdog(0.1, {blocking_handler.__code__: "blocker"})
    reported = threading.Event()

    async def main() -> None:
        watchdog.start(asyncio.get_running_loop())
        await asyncio.sleep(0.05)
        await blocking_handler()
        await asyncio.sleep(0.3)  # the loop runs again: no second report for this stall
        reported.set()

    asyncio.run(main())
    assert reported.is_set()
    err = capsys.readouterr().err
    assert "command 'blocker' blocks it at" in err and "in blocking_handler" in err
    assert err.count("command 'blocker' blocks it") == 1  # once per stall


def test_a_stall_the_watchdog_shared_is_the_machines_not_a_handlers() -> None:
    """The watching thread woke late too: the whole process got no CPU, nobody is blamed."""
    assert process_was_starved(watcher_late_s=2.0, threshold_s=1.0)
    assert process_was_starved(watcher_late_s=0.5, threshold_s=1.0)
    assert not process_was_starved(watcher_late_s=0.01, threshold_s=1.0)
    assert not process_was_starved(watcher_late_s=0.4, threshold_s=1.0)
