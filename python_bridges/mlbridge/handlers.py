"""What kind of handler a command has, and how to run the asynchronous kinds.

- ``SYNC``: a plain ``def``; in a concurrent worker it runs in the thread pool.
- ``ASYNC``: an ``async def``; it runs as an asyncio task.
- ``ASYNC_GEN``: an ``async def`` generator; every ``yield`` sends a chunk and the result
  is ``{"chunks": <how many>}``.

A worker at concurrency 1 runs the asynchronous kinds to completion on one persistent
event loop in the main thread (:class:`MainThreadLoop`), so SIGINT still cancels them.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from .context import CallContext


class Kind(enum.IntEnum):
    SYNC = 0
    ASYNC = 1
    ASYNC_GEN = 2


def kind_of(handler: Callable[..., Any]) -> Kind:
    """The kind of a (bound) handler."""
    if inspect.isasyncgenfunction(handler):
        return Kind.ASYNC_GEN
    if inspect.iscoroutinefunction(handler):
        return Kind.ASYNC
    return Kind.SYNC


async def stream_generator(chunks: AsyncIterator[Any], ctx: CallContext) -> dict[str, int]:
    """Send every item of an async generator handler as a chunk; answer how many."""
    count = 0
    async for item in chunks:
        ctx.stream(item)
        count += 1
    return {"chunks": count}


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when it is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class MainThreadLoop:
    """One event loop in the main thread that runs async handlers one at a time.

    For workers at concurrency 1: a SIGINT raises ``KeyboardInterrupt`` out of the loop;
    the handler's task is then cancelled (``CancelledError`` inside it), run until it
    ends, and the ``KeyboardInterrupt`` goes on to the serving loop, which answers
    ``Cancelled``.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def wrap(self, handler: Callable[..., Any], kind: Kind) -> Callable[[Any, CallContext], Any]:
        """A plain callable ``(args, ctx) -> result`` that runs ``handler`` here."""
        if kind is Kind.ASYNC_GEN:

            def run_generator(args: Any, ctx: CallContext) -> Any:
                return self.run(stream_generator(handler(args, ctx), ctx))

            return run_generator

        def run_coroutine(args: Any, ctx: CallContext) -> Any:
            return self.run(handler(args, ctx))

        return run_coroutine

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine (or other awaitable) to completion on this loop."""
        loop = self._loop
        if loop is None:
            loop = self._loop = new_event_loop()
            asyncio.set_event_loop(loop)
        task = asyncio.ensure_future(coroutine, loop=loop)
        try:
            return loop.run_until_complete(task)
        except KeyboardInterrupt:
            if not task.done():
                task.cancel()
                try:
                    loop.run_until_complete(task)
                except BaseException:  # noqa: BLE001 - the cancellation's outcome is moot
                    pass
            raise
