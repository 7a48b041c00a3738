"""The tools a ReAct program may use, chosen by name from a registry.

- ``calculator``: evaluates an arithmetic expression (numbers, ``+ - * / // % **``,
  parentheses) without ``eval``.
- ``lookup``: finds a key in a small in-memory table (the bridge's ``options.lookup``,
  then the program's own ``lookup`` data, then a few built-in facts).
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


def build_tools(
    names: list[str],
    lookup_data: Mapping[str, Any] | None = None,
    bridge_lookup: Mapping[str, Any] | None = None,
) -> list[Any]:
    """``dspy.Tool`` objects for ``names`` (validated by the caller)."""
    import dspy

    tools = []
    for name in names:
        if name == "calculator":
            func = _make_calculator()
        elif name == "lookup":
            func = _make_lookup(LookupTable(bridge_lookup, lookup_data))
        else:  # pragma: no cover - names are validated before
            raise ValueError(f"unknown tool {name!r}")
        tools.append(dspy.Tool(func, name=name, desc=TOOL_DESCRIPTIONS[name]))
    return tools
