"""One session as a handler sees it: its resources, its host-side state, its journal.

The host keeps each session's *state* (a JSON map) and sends it with a call only when this
worker's copy is not the current version (the request's ``session_state``:
``{"version": V}``, plus ``"data"`` when the copy must be replaced). A handler reads and
changes ``ctx.session.state`` like a dict; what it changed (top-level keys set and removed)
goes back with a successful response as ``session_state``
(``{"base_version", "set", "unset"}``) and the host stores it. A failed call changes
nothing: the state is put back as it was.

A handler may also add *journal entries* (``ctx.session.record(...)``): calls that rebuild
what it made on another worker, when re-running the call itself would not (a chat turn, an
optimisation). They go back with the response as ``session_journal``. See docs/sessions.md.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import BridgeError


class ResourceStore(dict[str, Any]):
    """The named objects of one session: a plain ``dict`` keyed by resource name."""


class Session:
    """One session: ``id`` (``None`` when anonymous), ``resources``, ``state``, ``record()``."""

    __slots__ = (
        "id",
        "resources",
        "dirty",
        "_state",
        "_version",
        "_before",
        "_journal",
        "_pending",
    )

    def __init__(self, session_id: str | None):
        self.id = session_id
        self.resources = ResourceStore()
        #: True once the running handler touched ``state`` or recorded a journal entry.
        self.dirty = False
        self._state: dict[str, Any] = {}
        self._version = 0  # the host's version of _state (0: none yet)
        self._before: dict[str, Any] | None = None  # _state when the handler first touched it
        self._journal: list[dict[str, Any]] | None = None
        self._pending = False  # _state holds a change the host has not numbered yet

    @property
    def state(self) -> dict[str, Any]:
        """The session's host-side state; changes made here are sent back to the host."""
        if self._before is None:
            self._before = copy.deepcopy(self._state)
            self.dirty = True
        return self._state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise BridgeError(
                f"session state must be a dict, not {type(value).__name__}",
                category="invalid_argument",
            )
        _ = self.state  # remember what it was before
        self._state = value

    @property
    def state_version(self) -> int:
        """The host's version of the state this worker holds (0: none was set)."""
        return self._version

    def record(self, command: str, args: dict[str, Any], object: str, append: bool = False) -> None:
        """Journal ``command(args)`` as what rebuilds ``object`` on another worker.

        ``object`` names what it builds, as in the plugin's session rules (for example
        ``"conversation:c1/history"``); an entry replaces earlier entries of the same object
        (and of objects under it, ``object/...``) unless ``append`` is true.
        """
        if self.id is None:
            raise BridgeError(
                "only a named session has a journal; call with a session id",
                category="invalid_argument",
            )
        if not command or not object:
            raise BridgeError("record() needs a command and an object", category="invalid_argument")
        entry = {"command": command, "args": args, "object": object}
        if append:
            entry["append"] = True
        if self._journal is None:
            self._journal = []
        self._journal.append(entry)
        self.dirty = True

    def sync(self, wire: Any) -> None:
        """Apply a request's ``session_state`` before the handler runs."""
        if not isinstance(wire, dict) or not isinstance(wire.get("version"), int):
            raise BridgeError(
                "the request's session_state is malformed; expected {'version': int}",
                category="protocol_error",
            )
        version = wire["version"]
        data = wire.get("data")
        if data is not None:
            if not isinstance(data, dict):
                raise BridgeError("session_state.data must be a map", category="protocol_error")
            self._state, self._version, self._pending = data, version, False
        elif version != self._version:
            if not (self._pending and version > self._version):
                # The host will send the data with the next call (it forgets what this worker
                # holds after a failed call).
                raise BridgeError(
                    f"session {self.id!r}: this worker holds state version {self._version}, "
                    f"the host sent version {version} without its data; retry the call",
                    category="internal",
                )
            self._version, self._pending = version, False  # the host numbered our own change

    def take_updates(self) -> dict[str, Any]:
        """The response fields for what the handler changed; resets the tracking."""
        fields: dict[str, Any] = {}
        before = self._before
        if before is not None and self.id is not None:
            state = self._state
            changed = {k: v for k, v in state.items() if k not in before or before[k] != v}
            removed = [k for k in before if k not in state]
            if changed or removed:
                fields["session_state"] = {
                    "base_version": self._version,
                    "set": changed,
                    "unset": removed,
                }
                self._pending = True
        if self._journal:
            fields["session_journal"] = self._journal
        self._before = self._journal = None
        self.dirty = False
        return fields

    def discard_updates(self) -> None:
        """The handler failed: put the state back and drop its journal entries."""
        if self._before is not None:
            self._state = self._before
        self._before = self._journal = None
        self.dirty = False

    def reset(self) -> None:
        """Forget resources and state (the anonymous session is emptied in place)."""
        self.resources.clear()
        self._state = {}
        self._version = 0
        self._before = self._journal = None
        self._pending = self.dirty = False

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, resources={len(self.resources)})"


def success_response(request_id: Any, result: Any, session: Session) -> dict[str, Any]:
    """A success response carrying what the handler changed in its session."""
    return {
        "type": "response",
        "id": request_id,
        "success": True,
        "result": result,
        **session.take_updates(),
    }
