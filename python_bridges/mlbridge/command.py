"""The ``@command`` decorator and the discovery of a bridge's commands.

A framework command ``name`` is reachable as ``name`` and ``<framework>:name``; a
built-in one as ``name`` and ``common:name``. A framework command may not reuse a
built-in's name (the bare name would be ambiguous), and two methods may not claim
the same name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

BUILTIN_NAMESPACE = "common"
_SPEC_ATTR = "__mlbridge_command__"


class CommandSpec(NamedTuple):
    """What ``@command`` records on a handler."""

    name: str
    description: str
    builtin: bool = False
    host_only: bool = False
    """A built-in only the host sends (``init``, ``shutdown``, ``cleanup*``): the host refuses it
    from clients, and ``list_commands``/``get_info`` leave it out so no client learns of it."""
    overlap: bool = False
    """A plain ``def`` command whose calls may run side by side in the worker's thread pool
    (otherwise plain ``def`` commands run one at a time, unless the bridge sets
    ``sync_overlap``). Meaningless for ``async def`` commands, which always overlap."""
    args_schema: dict[str, Any] | None = None
    """JSON Schema of the command's ``args`` (``schema={"args": ...}``), or None. Described, not
    enforced: ``list_commands`` and the host's OpenAPI document carry it."""
    result_schema: dict[str, Any] | None = None
    """JSON Schema of the command's result (``schema={"result": ...}``), or None."""


def command(
    name: str | None = None,
    *,
    description: str | None = None,
    overlap: bool = False,
    schema: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Mark a method ``(self, args, ctx) -> result`` as the handler of command ``name``.

    ``name`` defaults to the method's name, ``description`` to the first line of
    its docstring. The method may be a plain ``def``, an ``async def`` (run as an asyncio
    task) or an ``async def`` generator (each ``yield`` is a chunk; the result is
    ``{"chunks": <how many>}``). ``overlap=True`` lets calls of a plain ``def`` command
    run side by side in the thread pool of a concurrent worker.

    ``schema={"args": {...}, "result": {...}}`` (either key optional) gives JSON Schemas of
    the command's arguments and result: ``list_commands`` reports them and the host's
    OpenAPI document (``GET /openapi.json``) shows them. They document the command; the SDK
    does not validate calls against them. Each must be a JSON-serialisable mapping; another
    key or type raises ``TypeError`` when the class is defined.
    """
    args_schema, result_schema = _schemas(schema)
    return _marker(
        name,
        description,
        builtin=False,
        overlap=overlap,
        args_schema=args_schema,
        result_schema=result_schema,
    )


_SCHEMA_KEYS = ("args", "result")


def _schemas(
    schema: Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Check ``@command``'s ``schema`` and split it into the args and result schemas."""
    if schema is None:
        return None, None
    if not isinstance(schema, Mapping):
        raise TypeError(
            f"@command schema must be a mapping {{'args': ..., 'result': ...}}, "
            f"got {type(schema).__name__}"
        )
    unknown = sorted(str(key) for key in schema if key not in _SCHEMA_KEYS)
    if unknown:
        raise TypeError(
            f"@command schema: unknown key(s) {', '.join(map(repr, unknown))}; "
            "expected 'args' and/or 'result'"
        )
    out: list[dict[str, Any] | None] = []
    for key in _SCHEMA_KEYS:
        value = schema.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(
                f"@command schema[{key!r}] must be a JSON Schema object (a mapping), "
                f"got {type(value).__name__}"
            )
        if value is not None:
            try:
                value = json.loads(json.dumps(value))
            except (TypeError, ValueError) as error:
                raise TypeError(f"@command schema[{key!r}] is not JSON: {error}") from None
        out.append(value)
    return out[0], out[1]


def builtin_command(
    name: str | None = None, *, description: str | None = None, host_only: bool = False
) -> Callable[[F], F]:
    """Like :func:`command`, for the built-ins of :class:`~mlbridge.bridge.BaseBridge`."""
    return _marker(name, description, builtin=True, host_only=host_only)


def _marker(
    name: str | None,
    description: str | None,
    builtin: bool,
    host_only: bool = False,
    overlap: bool = False,
    args_schema: dict[str, Any] | None = None,
    result_schema: dict[str, Any] | None = None,
) -> Callable[[F], F]:
    if callable(name):
        raise TypeError("use @command() or @command('name'), not a bare @command")
    if name is not None and (not name or ":" in name):
        raise ValueError(f"invalid command name {name!r}: non-empty, without ':'")

    def mark(func: F) -> F:
        doc = (func.__doc__ or "").strip().splitlines()
        spec = CommandSpec(
            name=name or func.__name__,
            description=description if description is not None else (doc[0] if doc else ""),
            builtin=builtin,
            host_only=host_only,
            overlap=overlap,
            args_schema=args_schema,
            result_schema=result_schema,
        )
        setattr(func, _SPEC_ATTR, spec)
        return func

    return mark


def discover(cls: type) -> dict[str, tuple[str, CommandSpec]]:
    """Return ``{command name: (attribute name, spec)}`` for ``cls`` and its bases.

    The most derived decorated definition of an attribute wins; overriding a
    decorated method without the decorator keeps the inherited command (and calls
    the override). Raises ``TypeError`` on a name clash.
    """
    by_attr: dict[str, CommandSpec] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            spec = getattr(value, _SPEC_ATTR, None)
            if isinstance(spec, CommandSpec):
                by_attr[attr] = spec
    found: dict[str, tuple[str, CommandSpec]] = {}
    for attr, spec in by_attr.items():
        if spec.name in found:
            other_attr, other = found[spec.name]
            kind = "the built-in" if other.builtin or spec.builtin else "command"
            raise TypeError(
                f"{cls.__name__}: {attr}() and {other_attr}() both claim {kind} {spec.name!r}"
            )
        found[spec.name] = (attr, spec)
    return found


def build_routes(
    bridge: object, commands: dict[str, tuple[str, CommandSpec]], framework: str
) -> dict[str, Callable[[Any, Any], Any]]:
    """Map every accepted command string (bare and namespaced) to its bound handler."""
    routes: dict[str, Callable[[Any, Any], Any]] = {}
    for name, (attr, spec) in commands.items():
        handler = getattr(bridge, attr)
        namespace = BUILTIN_NAMESPACE if spec.builtin else framework
        routes[name] = handler
        routes[f"{namespace}:{name}"] = handler
    return routes
