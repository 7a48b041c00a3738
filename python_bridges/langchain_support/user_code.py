"""The user's own LangChain objects, named by import path (``"myteam.chains:summarize"``).

Only objects of the modules the bridge's YAML declares (``code.modules``) can be named: the
SDK's :func:`mlbridge.user_code.resolve_object` refuses anything else before importing it.
This module adds what LangChain needs on top:

- :func:`resolve_runnable`: a ``Runnable``, or a factory (a function or class) returning one,
  called with the request's ``init`` arguments;
- :func:`resolve_tool`: a LangChain ``BaseTool``, or a plain typed function (sync or
  ``async def``) that becomes a ``StructuredTool`` (its docstring is the description);
- :func:`json_output`: a run's output as JSON, or an error that names the type that is not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mlbridge import BridgeError

RUNNABLE = "a LangChain Runnable or a factory returning one"
TOOL = "a LangChain tool or a typed function"


def invalid(message: str) -> BridgeError:
    return BridgeError(message, category="invalid_argument")


def resolve(ref: Any, *, what: str, check: Callable[[object], bool] | None = None) -> object:
    """``mlbridge.user_code.resolve_object`` for ``ref``, which must be ``"pkg.mod:attr"``."""
    if not isinstance(ref, str) or ":" not in ref:
        raise invalid(f"expected an import path 'package.module:attr' for {what}, got {ref!r}")
    from mlbridge.user_code import resolve_object

    return resolve_object(ref, what=what, check=check)


def is_runnable(value: object) -> bool:
    from langchain_core.runnables import Runnable

    return isinstance(value, Runnable)


def resolve_runnable(ref: Any, init: Any = None) -> Any:
    """The ``Runnable`` that ``ref`` names, or that the factory it names returns for ``init``."""
    if init is not None and not isinstance(init, dict):
        raise invalid("init must be a map of the factory's keyword arguments")
    found = resolve(ref, what=RUNNABLE, check=lambda o: is_runnable(o) or callable(o))
    if is_runnable(found):
        if init:
            raise invalid(f"{ref!r} is a Runnable, not a factory: it takes no init arguments")
        return found
    try:
        made = found(**(init or {}))  # type: ignore[operator]
    except TypeError as exc:
        raise invalid(f"{ref!r} cannot be called with init {sorted(init or {})}: {exc}") from None
    if not is_runnable(made):
        raise invalid(
            f"{ref!r} returned a {type(made).__module__}.{type(made).__qualname__}; "
            f"expected {RUNNABLE}"
        )
    return made


def resolve_tool(ref: str) -> Any:
    """A LangChain tool for ``ref``: the ``BaseTool`` it names, or its function wrapped."""
    from langchain_core.tools import BaseTool, StructuredTool

    found = resolve(ref, what=TOOL, check=lambda o: isinstance(o, BaseTool) or callable(o))
    if isinstance(found, BaseTool):
        return found
    if inspect.isclass(found):
        raise invalid(f"{ref!r} is a class; expected {TOOL}")
    name = getattr(found, "__name__", None) or ref.rpartition(":")[2].rpartition(".")[2]
    description = inspect.getdoc(found) or f"The tool {name} ({ref})."
    try:
        if inspect.iscoroutinefunction(found):
            return StructuredTool.from_function(coroutine=found, name=name, description=description)
        return StructuredTool.from_function(found, name=name, description=description)
    except (TypeError, ValueError) as exc:
        raise invalid(f"{ref!r} cannot be a tool: {exc}") from None


def _type_name(value: object) -> str:
    kind = type(value)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def json_output(value: Any, where: str, path: str = "output", depth: int = 0) -> Any:
    """``value`` as JSON values; messages, documents and Pydantic models as LangServe sends
    them. Anything else raises ``invalid_configuration`` naming the type and where it was."""
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage

    from .retrieval import document_to_wire
    from .runs import message_to_wire, to_wire

    if depth > 64:
        raise _not_json(value, where, path, "nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return to_wire(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _not_json(value, where, path, "not a finite number")
        return value
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _not_json(key, where, f"{path} key", "map keys must be strings")
            result[key] = json_output(item, where, f"{path}[{key!r}]", depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [json_output(v, where, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, BaseMessage):
        return message_to_wire(value)
    if isinstance(value, Document):
        return document_to_wire(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not inspect.isclass(value):
        return json_output(dump(mode="json"), where, path, depth + 1)
    raise _not_json(value, where, path, "not JSON-serialisable")


def _not_json(value: object, where: str, path: str, why: str) -> BridgeError:
    return BridgeError(
        f"{where} returned a {_type_name(value)} at {path}: {why}; a runnable must return "
        "strings, numbers, booleans, null, lists, maps with string keys, messages, documents "
        "or Pydantic models",
        category="invalid_configuration",
        type="OutputNotSerializable",
    )
