"""The per-call context handed to every command handler, and ``current_call()``."""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextvars import ContextVar
from typing import Any

from .resources import ResourceStore, Session

Send = Callable[[dict[str, Any]], None]
"""Sends one message to the host (thread-safe)."""

_CURRENT: ContextVar[CallContext | None] = ContextVar("mlbridge_current_call", default=None)


def current_call() -> CallContext | None:
    """The :class:`CallContext` of the call running in this task or thread, or ``None``.

    Each asyncio task (and each thread-pool run of a plain ``def`` command) has its own
    value, so code deep inside a framework can find the call it serves without passing
    ``ctx`` down.
    """
    return _CURRENT.get()


class _Done:
    """What :meth:`CallContext.stream` returns: an awaitable that is already complete.

    ``await ctx.stream(x)`` and a plain ``ctx.stream(x)`` do the same thing; the frame is
    queued for writing before ``stream`` returns.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that finishes at once

    def __repr__(self) -> str:
        return "<mlbridge chunk sent>"


_DONE = _Done()


class CallContext:
    """What a handler knows about the call it serves.

    Attributes:
        request_id: the request's id (an unsigned 64-bit integer, or ``None``).
        session: the call's :class:`~mlbridge.resources.Session` (``.id``, ``.state``).
        deadline_ms: the time the host had left for this call when it sent it, or ``None``.
        worker_id: this worker's id, as given by ``--worker-id``.
    """

    __slots__ = (
        "request_id",
        "session",
        "deadline_ms",
        "worker_id",
        "command",
        "_send",
        "_seq",
        "_cancelled",
    )

    def __init__(
        self,
        request_id: int | None,
        session: Session,
        deadline_ms: int | None,
        worker_id: str,
        send: Send,
        command: str | None = None,
    ):
        self.request_id = request_id
        self.session = session
        self.deadline_ms = deadline_ms
        self.worker_id = worker_id
        self.command = command
        self._send = send
        self._seq = 0
        self._cancelled = False

    @property
    def session_id(self) -> str | None:
        """The session id, ``None`` for an anonymous call."""
        return self.session.id

    @property
    def resources(self) -> ResourceStore:
        """The session's resource store (anonymous calls share one)."""
        return self.session.resources

    @property
    def cancelled(self) -> bool:
        """True once the host cancelled this call.

        An ``async def`` command is cancelled for it (``CancelledError`` at its next
        ``await``); a plain ``def`` command running in the thread pool cannot be
        interrupted and should check this flag in its loops and return or raise soon.
        """
        return self._cancelled

    def stream(self, data: Any) -> _Done:
        """Send one ``chunk`` frame for this request; ``seq`` counts from 0.

        Works from the handler's task, from a thread, and with or without ``await``.
        The frame is queued before this returns; ``data`` is encoded when it is written,
        so do not change it afterwards.
        """
        seq = self._seq
        self._seq = seq + 1
        self._send({"type": "chunk", "id": self.request_id, "seq": seq, "data": data})
        return _DONE

    def __repr__(self) -> str:
        return (
            f"CallContext(request_id={self.request_id!r}, session_id={self.session.id!r}, "
            f"worker_id={self.worker_id!r})"
        )
