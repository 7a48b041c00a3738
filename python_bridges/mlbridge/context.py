"""The per-call context handed to every command handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .resources import ResourceStore, Session

Send = Callable[[dict[str, Any]], None]
"""Sends one message to the host (thread-safe)."""


class CallContext:
    """What a handler knows about the call it serves.

    Attributes:
        request_id: the request's id (an unsigned 64-bit integer, or ``None``).
        session: the call's :class:`~mlbridge.resources.Session` (``.id``, ``.state``).
        deadline_ms: the time the host had left for this call when it sent it, or ``None``.
        worker_id: this worker's id, as given by ``--worker-id``.
    """

    __slots__ = ("request_id", "session", "deadline_ms", "worker_id", "_send", "_seq")

    def __init__(
        self,
        request_id: int | None,
        session: Session,
        deadline_ms: int | None,
        worker_id: str,
        send: Send,
    ):
        self.request_id = request_id
        self.session = session
        self.deadline_ms = deadline_ms
        self.worker_id = worker_id
        self._send = send
        self._seq = 0

    @property
    def session_id(self) -> str | None:
        """The session id, ``None`` for an anonymous call."""
        return self.session.id

    @property
    def resources(self) -> ResourceStore:
        """The session's resource store (anonymous calls share one)."""
        return self.session.resources

    def stream(self, data: Any) -> None:
        """Send one ``chunk`` frame for this request now; ``seq`` counts from 0."""
        seq = self._seq
        self._seq = seq + 1
        self._send({"type": "chunk", "id": self.request_id, "seq": seq, "data": data})

    def __repr__(self) -> str:
        return (
            f"CallContext(request_id={self.request_id!r}, session_id={self.session.id!r}, "
            f"worker_id={self.worker_id!r})"
        )
