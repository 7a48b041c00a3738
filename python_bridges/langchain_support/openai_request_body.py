"""The OpenAI client's chat-completion request body, without its per-call type walk.

``AsyncCompletions.create`` in the ``openai`` SDK passes every request's parameters through
``async_maybe_transform(body, CompletionCreateParams)``, which walks the parameters' TypedDict
annotations recursively (``typing.get_origin``, hashing of typing objects, one coroutine per
node) to apply ``PropertyInfo`` aliases and formats. Measured with the bridge's chain
(``prompt | ChatOpenAI | StrOutputParser``) against the mock LLM, that walk is the largest single
cost of a call in the worker (about a fifth of its CPU under a profiler).

For the chat-completion parameters the walk changes nothing the request carries: their
annotations hold no ``PropertyInfo`` at all (checked here, at install, against the installed SDK),
so for plain JSON data (dicts with string keys, lists, strings, numbers, booleans, ``None``) the
transform returns the same data with the SDK's "not given" markers dropped. :func:`install`
replaces the function the completions module calls with one that does exactly that for plain
data and hands everything else (a generator of messages, a pydantic model, a file, a date, other
parameter types) to the SDK's own transform. If the installed SDK's parameter types ever carry a
``PropertyInfo``, or the module no longer has the function, nothing is replaced.

Installed by the bridge when it builds an OpenAI chat model (models.py); process-wide, once.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["install", "installed", "is_plain_json", "property_info_free"]

_MAX_DEPTH = 64
"""Deeper data goes through the SDK's transform (it has no such limit, this check has)."""

_PLAIN_SCALARS = (str, int, float, bool, type(None))

_state: dict[str, Any] = {"installed": False}


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """Is ``value`` made only of dicts with string keys, lists and JSON scalars?"""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if depth >= _MAX_DEPTH:
        return False
    if kind is list:
        return all(is_plain_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(
            type(key) is str and is_plain_json(item, depth + 1) for key, item in value.items()
        )
    return False


def property_info_free(annotation: Any, property_info: type, seen: set[int] | None = None) -> bool:
    """Does no part of ``annotation`` (TypedDicts followed field by field, unions, containers,
    ``Annotated`` metadata, ``Required``/``NotRequired``) carry a ``property_info`` instance?"""
    seen = set() if seen is None else seen
    if id(annotation) in seen:
        return True
    seen.add(id(annotation))
    for meta in getattr(annotation, "__metadata__", ()):  # Annotated[T, ...]
        if isinstance(meta, property_info):
            return False
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation, include_extras=True)
        return all(property_info_free(hint, property_info, seen) for hint in hints.values())
    origin = getattr(annotation, "__origin__", None)
    if origin is typing.Literal:
        return True
    args = getattr(annotation, "__args__", ())
    if origin is not None and not args:
        return property_info_free(origin, property_info, seen)
    return all(property_info_free(arg, property_info, seen) for arg in args)


def _given(value: Any, omitted: tuple[type, ...]) -> bool:
    return not isinstance(value, omitted)


def _fast_transform(
    original: Callable[[object, object], Awaitable[Any]],
    clean_types: frozenset[Any],
    omitted: tuple[type, ...],
) -> Callable[[object, object], Awaitable[Any]]:
    async def async_maybe_transform(data: object, expected_type: object) -> Any:
        if expected_type in clean_types and type(data) is dict:
            body = {key: value for key, value in data.items() if _given(value, omitted)}
            if is_plain_json(body):
                return body
        return await original(data, expected_type)

    async_maybe_transform.__wrapped__ = original  # type: ignore[attr-defined]
    return async_maybe_transform


def install() -> bool:
    """Replace the completions module's request transform for plain chat-completion bodies.

    Returns whether the fast path is in place (now or from an earlier call). Never raises: an SDK
    that does not look as expected keeps its own transform, with a debug log line saying why.
    """
    if _state["installed"]:
        return True
    try:
        from openai import NotGiven, Omit
        from openai._utils import PropertyInfo
        from openai.resources.chat.completions import completions as module
        from openai.types.chat import completion_create_params as params
    except ImportError as exc:  # another SDK version: its own transform stays
        log.debug("the OpenAI request fast path is off: %s", exc)
        return False
    original = getattr(module, "async_maybe_transform", None)
    candidates = [
        getattr(params, name, None)
        for name in (
            "CompletionCreateParams",
            "CompletionCreateParamsBase",
            "CompletionCreateParamsNonStreaming",
            "CompletionCreateParamsStreaming",
        )
    ]
    clean_types = frozenset(t for t in candidates if t is not None)
    if original is None or not clean_types:
        log.debug("the OpenAI request fast path is off: the SDK's completions module changed")
        return False
    try:
        free = all(property_info_free(t, PropertyInfo) for t in clean_types)
    except Exception as exc:  # noqa: BLE001 - an annotation we cannot read: keep the SDK's path
        log.debug("the OpenAI request fast path is off: %s", exc)
        return False
    if not free:
        log.debug("the OpenAI request fast path is off: the parameters carry aliases or formats")
        return False
    module.async_maybe_transform = _fast_transform(original, clean_types, (NotGiven, Omit))
    _state["installed"] = True
    return True


def installed() -> bool:
    """Is the fast path in place?"""
    return bool(_state["installed"])
