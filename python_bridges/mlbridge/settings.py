"""Bridge settings: checked integer options, and settings a session may override.

Framework bridges run every call under one setting of their own, the language model
(DSPy's LM, LangChain's chat model): the bridge's default from its YAML options, or
the one a session configured for itself. :class:`ScopedSetting` keeps both and
applies a ``configure_*`` command; the bridge supplies how to build a handle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .context import CallContext
from .errors import BridgeError

__all__ = ["ScopedSetting", "option_int"]

T = TypeVar("T")


def option_int(options: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    """``options[name]`` (or ``default``), an integer from ``low`` to ``high``.

    Anything else is the deployment's mistake: ``invalid_configuration`` naming the key.
    """
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BridgeError(
            f"options.{name} must be an integer from {low} to {high}",
            category="invalid_configuration",
        )
    return value


class ScopedSetting(Generic[T]):
    """A setting each call runs under: its session's own if it set one, else the default.

    A session's own handle lives in the session's resources under ``key``, so it goes
    with the session (ended, expired, replayed elsewhere). The default belongs to the
    worker; the bridge sets it in ``initialize``. Worker thread only, like handlers.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.default: T | None = None

    def current(self, ctx: CallContext) -> T:
        """The handle the call runs under."""
        own = ctx.resources.get(self.key)
        if own is not None:
            return own
        assert self.default is not None, "the bridge sets the default in initialize()"
        return self.default

    def configure(
        self,
        args: dict[str, Any],
        ctx: CallContext,
        build: Callable[[dict[str, Any]], T],
        initial: Callable[[], T],
    ) -> None:
        """Apply a ``configure_*`` command to the call's session, or without one to the default.

        ``args`` are the settings given to ``build``, or ``{"reset": true}`` alone: a
        session drops its own handle, the worker's default goes back to ``initial()``
        (the bridge's YAML options).
        """
        settings = {k: v for k, v in args.items() if k != "reset"}
        if args.get("reset"):
            if settings:
                raise BridgeError("reset takes no other settings", category="invalid_argument")
            if ctx.session_id:
                ctx.resources.pop(self.key, None)
            else:
                self.default = initial()
            return
        handle = build(settings)
        if ctx.session_id:
            ctx.resources[self.key] = handle
        else:
            self.default = handle

    def describe(self, ctx: CallContext, details: dict[str, Any]) -> dict[str, Any]:
        """``details`` of the current handle, with whose it is: ``scope`` and ``session_id``."""
        own = ctx.session_id is not None and self.key in ctx.resources
        return {"scope": "session" if own else "default", "session_id": ctx.session_id, **details}
