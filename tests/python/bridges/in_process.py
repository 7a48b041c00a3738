"""A framework bridge driven in this process: its handlers awaited as the SDK's runtime would.

The worker tests (test_*_bridge.py, test_*_async.py) drive real worker processes over the
protocol. These tests go one level down: many handler coroutines on one event loop, with no
runtime in between, so that a failure names the bridge, not the SDK. Plain ``def`` commands
run in a thread (``asyncio.to_thread``), as the SDK runs them off the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from typing import Any

import pytest

from mlbridge import CallContext
from mlbridge.command import discover
from mlbridge.resources import SessionStore


class InProcessBridge:
    """One bridge object, its sessions, and the chunks its calls streamed (by request id)."""

    def __init__(self, bridge_class: type, module: Any, monkeypatch: pytest.MonkeyPatch):
        # The worker redacts its stdio once; in pytest that would wrap pytest's own capture.
        monkeypatch.setattr(module, "install_redacting_stdio", lambda: None)
        self.bridge = bridge_class()
        self.sessions = SessionStore()
        self.chunks: dict[int, list[Any]] = {}
        self._ids = itertools.count(1)
        self._commands = {name: attr for name, (attr, _) in discover(bridge_class).items()}

    def context(self, session: str | None, deadline_ms: int | None = None) -> CallContext:
        request_id = next(self._ids)
        chunks = self.chunks.setdefault(request_id, [])

        def send(message: dict[str, Any]) -> None:
            assert message["type"] == "chunk" and message["id"] == request_id, message
            chunks.append(message["data"])

        return CallContext(request_id, self.sessions.get(session), deadline_ms, "in-process", send)

    async def call(
        self, command: str, args: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        """The command's result (its exception raised as is)."""
        handler = getattr(self.bridge, self._commands[command])
        ctx = self.context(session)
        if inspect.iscoroutinefunction(handler):
            return await handler(args or {}, ctx)
        return await asyncio.to_thread(handler, args or {}, ctx)

    def is_async(self, command: str) -> bool:
        return inspect.iscoroutinefunction(getattr(self.bridge, self._commands[command]))


_LOOP: asyncio.AbstractEventLoop | None = None


def run(coroutine: Any) -> Any:
    """Run ``coroutine`` on the one event loop of these tests, as a worker has one loop.

    ``asyncio.run`` would make a loop per test, and LangChain's OpenAI client keeps its
    pooled connections (made on the first loop) across them.
    """
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(coroutine)
