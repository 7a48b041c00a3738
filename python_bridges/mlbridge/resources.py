"""Per-session state and resource stores.

Every session id gets its own :class:`Session`, whose ``resources`` dict holds the
objects (programs, chains, models) that handlers create for it, so sessions never
see each other's objects. Calls without a session id (``None`` or ``""``) share one
anonymous session.
"""

from __future__ import annotations

from .session import ResourceStore, Session

__all__ = ["ResourceStore", "Session", "SessionStore"]


class SessionStore:
    """All sessions of one worker, created on first use."""

    def __init__(self) -> None:
        self.anonymous = Session(None)  #: shared by calls without a session id
        self._sessions: dict[str, Session] = {}

    def get(self, session_id: str | None) -> Session:
        """Return the session for ``session_id``, creating it on first use."""
        if not session_id:
            return self.anonymous
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = Session(session_id)
        return session

    def drop(self, session_id: str | None) -> int:
        """Forget a session (or empty the anonymous one); return how many resources it had."""
        if not session_id:
            return self._reset_anonymous()
        session = self._sessions.pop(session_id, None)
        return len(session.resources) if session is not None else 0

    def clear(self) -> int:
        """Forget every session; return how many resources they had in all."""
        dropped = sum(self.resource_counts().values()) + self._reset_anonymous()
        self._sessions.clear()
        return dropped

    def _reset_anonymous(self) -> int:
        """Empty the anonymous session in place (it is never replaced); return its count."""
        dropped = len(self.anonymous.resources)
        self.anonymous.reset()
        return dropped

    def __len__(self) -> int:
        """The number of named sessions (the anonymous one is not counted)."""
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def resource_counts(self) -> dict[str, int]:
        """Resources per named session."""
        return {sid: len(s.resources) for sid, s in self._sessions.items()}
