"""The tools a ReAct program may use, chosen by name from a registry.

- ``calculator``: evaluates an arithmetic expression (numbers, ``+ - * / // % **``,
  parentheses) without ``eval``.
- ``lookup``: finds a key in a small in-memory table (the bridge's ``options.lookup``,
  then the program's own ``lookup`` data, then a few built-in facts).

Beside these names, a tool may be the user's own, by import path (``"myteam.tools:search"``,
see user_refs.py): a ``dspy.Tool`` or a plain typed function. A synchronous user tool runs in
a thread when a program runs on the event loop (:class:`ThreadedTool`), so a tool that blocks
or hangs never stalls the worker's other calls, and the call's deadline and cancel still end
the call (the thread finishes on its own; its result is dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlbridge.arithmetic import calculate

#: Facts every lookup table starts with, so that a ReAct demo works out of the box.
BUILTIN_FACTS: dict[str, str] = {
    "capital of france": "Paris",
    "capital of japan": "Tokyo",
    "capital of italy": "Rome",
    "boiling point of water": "100 degrees Celsius at sea level",
    "speed of light": "299792458 metres per second",
}


def _normalize_key(key: str) -> str:
    return " ".join(str(key).lower().replace("?", " ").split())


class LookupTable:
    """A case-insensitive key → text table with a forgiving lookup."""

    def __init__(self, *tables: Mapping[str, Any] | None):
        self.entries: dict[str, str] = {}
        for table in (BUILTIN_FACTS, *tables):
            for key, value in (table or {}).items():
                self.entries[_normalize_key(key)] = str(value)

    def lookup(self, key: str) -> str:
        wanted = _normalize_key(key)
        if wanted in self.entries:
            return self.entries[wanted]
        for known, value in self.entries.items():  # "what is the capital of France"
            if known and known in wanted:
                return value
        return f"No entry for {key!r}. Known keys: {', '.join(sorted(self.entries))}."


def _make_calculator() -> Callable[[str], Any]:
    def calculator(expression: str) -> Any:
        """Evaluate an arithmetic expression such as '(2 + 3) * 4' and return the number."""
        return calculate(expression)

    return calculator


def _make_lookup(table: LookupTable) -> Callable[[str], str]:
    def lookup(key: str) -> str:
        """Look up a fact by key (for example 'capital of France') in the in-memory table."""
        return table.lookup(key)

    return lookup


#: name → one-line description, for ``list_tools`` and error messages.
TOOL_DESCRIPTIONS: dict[str, str] = {
    "calculator": "Evaluates an arithmetic expression (+ - * / // % ** and parentheses).",
    "lookup": "Looks a key up in an in-memory table of facts (options.lookup, program lookup).",
}


class ThreadedTool:
    """Builds ``dspy.Tool`` subclasses lazily (DSPy is imported only when a tool is made)."""

    _cls: Any = None

    @classmethod
    def wrap(cls, tool: Any) -> Any:
        """``tool`` whose ``acall`` runs a synchronous function in a thread."""
        import inspect

        if inspect.iscoroutinefunction(tool.func):
            return tool
        if cls._cls is None:
            import asyncio

            import dspy

            class _Threaded(dspy.Tool):
                async def acall(self, **kwargs: Any) -> Any:
                    parsed = self._validate_and_parse_args(**kwargs)
                    return await asyncio.to_thread(self.func, **parsed)

            cls._cls = _Threaded
        return cls._cls(
            tool.func,
            name=tool.name,
            desc=tool.desc,
            args=tool.args,
            arg_types=tool.arg_types,
            arg_desc=tool.arg_desc,
        )


def check_tool_names(tools: Any) -> list[str]:
    """The ``tools`` of a react spec: registry names or import paths; raises ``ValueError``."""
    from .user_refs import is_ref, resolve_tool

    if not isinstance(tools, list) or not tools:
        raise ValueError(
            f"react needs 'tools', a list of names from {sorted(TOOL_DESCRIPTIONS)} "
            "or import paths such as 'myteam.tools:search'"
        )
    unknown = [t for t in tools if t not in TOOL_DESCRIPTIONS and not is_ref(t)]
    if unknown:
        raise ValueError(
            f"unknown tools {unknown}; the registry has {sorted(TOOL_DESCRIPTIONS)}, and a tool "
            "of your own is named by import path ('package.module:function')"
        )
    for ref in tools:
        if is_ref(ref):
            resolve_tool(ref)
    return list(dict.fromkeys(tools))


def build_tools(
    names: list[str],
    lookup_data: Mapping[str, Any] | None = None,
    bridge_lookup: Mapping[str, Any] | None = None,
) -> list[Any]:
    """``dspy.Tool`` objects for ``names`` (validated by the caller)."""
    import dspy

    from .user_refs import is_ref, resolve_tool

    tools = []
    for name in names:
        if is_ref(name):
            found = resolve_tool(name)
            tool = found if isinstance(found, dspy.Tool) else dspy.Tool(found)
            tools.append(ThreadedTool.wrap(tool))
            continue
        if name == "calculator":
            func = _make_calculator()
        elif name == "lookup":
            func = _make_lookup(LookupTable(bridge_lookup, lookup_data))
        else:  # pragma: no cover - names are validated before
            raise ValueError(f"unknown tool {name!r}")
        tools.append(dspy.Tool(func, name=name, desc=TOOL_DESCRIPTIONS[name]))
    return tools
