"""Errors as data: the exception a handler raises becomes the wire error map.

The wire form (PROTOCOL.md, "response") is::

    {"type": "ValueError", "message": "...", "traceback": "...", "category": "not_found"}

``type`` is the exception's class name. Builtins (and classes defined in the bridge
script itself, module ``__main__``) keep their bare name; any other class is
qualified by its *top-level package* name, e.g. ``litellm.exceptions.RateLimitError``
becomes ``litellm.RateLimitError``. ``category`` is present only when the worker
knows it (a :class:`BridgeError`, or an error the SDK makes itself); otherwise the
host's error translator picks the category from ``type`` — one translation, at the
edge. ``traceback`` is present only when a Python exception escaped a handler.
"""

from __future__ import annotations

from typing import Any

#: Every category the host understands (DESIGN.md, "Error categories").
CATEGORIES: frozenset[str] = frozenset(
    {
        "invalid_argument",
        "invalid_configuration",
        "not_found",
        "authentication",
        "rate_limit",
        "model_error",
        "resource_exhausted",
        "timeout",
        "cancelled",
        "overloaded",
        "worker_crashed",
        "session_lost",
        "session_moved",
        "bridge_unavailable",
        "protocol_error",
        "internal",
    }
)


class BridgeError(Exception):
    """An error a handler raises to tell the host exactly what went wrong.

    ``category`` is one of :data:`CATEGORIES` (``None`` leaves the choice to the
    host); ``type`` overrides the exception type name reported on the wire.
    """

    def __init__(self, message: str, category: str | None = None, type: str | None = None):
        if category is not None and category not in CATEGORIES:
            raise ValueError(
                f"unknown error category {category!r}; use one of {', '.join(sorted(CATEGORIES))}"
            )
        super().__init__(message)
        self.message = message
        self.category = category
        self.type = type


class ProtocolError(Exception):
    """The peer broke the wire protocol (bad frame, undecodable or non-map payload)."""


def type_name(cls: type) -> str:
    """Return the wire name of an exception class (see the module docstring)."""
    module = cls.__module__
    if module in ("builtins", "__main__", None):
        return cls.__qualname__
    return f"{module.partition('.')[0]}.{cls.__qualname__}"


def error_map(type: str, message: str, category: str | None = None) -> dict[str, Any]:
    """Build a wire error map for an error the SDK detects itself (no traceback)."""
    error: dict[str, Any] = {"type": type, "message": message}
    if category is not None:
        error["category"] = category
    return error


def exception_to_error(exc: BaseException) -> dict[str, Any]:
    """Turn any exception into the wire error map, traceback included."""
    import traceback  # only errors pay for it

    if isinstance(exc, BridgeError):
        name = exc.type or type_name(type(exc))
        message = exc.message
        category = exc.category
    else:
        name = type_name(type(exc))
        message = str(exc) or name
        category = None
    error: dict[str, Any] = {
        "type": name,
        "message": message,
        "traceback": "".join(traceback.format_exception(exc)),
    }
    if category is not None:
        error["category"] = category
    return error


class InvalidArgument(BridgeError):
    """The request named something it may not use; category ``invalid_argument``."""

    def __init__(self, message: str, type: str | None = None):
        super().__init__(message, "invalid_argument", type)


class InvalidConfiguration(BridgeError):
    """The bridge's configuration cannot work; category ``invalid_configuration``."""

    def __init__(self, message: str, type: str | None = None):
        super().__init__(message, "invalid_configuration", type)
