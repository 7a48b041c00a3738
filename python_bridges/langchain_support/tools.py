"""The tools an agent may use, chosen by name from a registry the bridge exposes.

- ``calculator``: evaluates an arithmetic expression (numbers, ``+ - * / // % **``,
  parentheses) without ``eval``.
- ``retriever``: searches one of the session's retrievers (``create_retriever``); named in a
  tool list as ``{"name": "retriever", "retriever_id": "kb"}`` and exposed to the model as
  ``search_<retriever_id>`` (or the ``tool_name`` given), so an agent may have several.
- the user's own, by import path: ``"myteam.tools:search"`` names a LangChain tool or a
  typed function of a module the bridge's YAML declares (:mod:`.user_code`).

:func:`build_tools` turns validated tool specs into LangChain ``StructuredTool`` objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mlbridge.arithmetic import calculate

_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")

#: The spec name of a tool named by import path (``"myteam.tools:search"``).
USER_TOOL = "user"

#: name → description and the extra settings a tool spec takes.
REGISTRY: dict[str, dict[str, Any]] = {
    "calculator": {
        "description": "Evaluates an arithmetic expression such as '(2 + 3) * 4' and returns "
        "the number (+ - * / // % ** and parentheses).",
        "settings": {},
    },
    "retriever": {
        "description": "Searches a retriever of the session (create_retriever) and returns "
        "the most relevant passages.",
        "settings": {
            "retriever_id": "the id of a retriever of the session (required)",
            "tool_name": "the name the model sees (default search_<retriever_id>)",
            "description": "what the model is told the tool searches",
            "k": "how many passages to return (default: the retriever's k)",
        },
    },
}


def normalize_specs(raw: Any) -> list[dict[str, Any]]:
    """Validate ``create_agent``'s ``tools``: names or maps; raises ``ValueError``."""
    if raw is None:
        raw = ["calculator"]
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"tools must be a non-empty list of names from {sorted(REGISTRY)}")
    specs: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if isinstance(item, str) and ":" in item:  # the user's own, by import path
            from .user_code import resolve_tool

            tool = resolve_tool(item)
            specs.append({"name": USER_TOOL, "ref": item, "tool_name": tool.name, "tool": tool})
            continue
        spec = {"name": item} if isinstance(item, str) else item
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValueError(f"tools[{index}] must be a tool name or a map with 'name'")
        name = spec["name"]
        if name not in REGISTRY:
            raise ValueError(
                f"unknown tool {name!r}; the registry has {sorted(REGISTRY)}, and your own "
                "tools are named by import path ('package.module:function')"
            )
        unknown = sorted(set(spec) - {"name"} - set(REGISTRY[name]["settings"]))
        if unknown:
            raise ValueError(f"tools[{index}] ({name}): unknown settings {unknown}")
        if name == "retriever":
            if not isinstance(spec.get("retriever_id"), str) or not spec["retriever_id"]:
                raise ValueError(f"tools[{index}]: the retriever tool needs 'retriever_id'")
            tool_name = spec.get("tool_name") or "search_" + re.sub(
                r"[^A-Za-z0-9_-]", "_", spec["retriever_id"]
            )
            if not isinstance(tool_name, str) or not _TOOL_NAME.fullmatch(tool_name):
                raise ValueError(f"tools[{index}]: tool_name {tool_name!r} is not a valid name")
            k = spec.get("k")
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
                raise ValueError(f"tools[{index}]: k must be a positive integer")
            description = spec.get("description")
            if description is not None and not isinstance(description, str):
                raise ValueError(f"tools[{index}]: description must be a string")
            spec = {**spec, "tool_name": tool_name}
        else:
            spec = {**spec, "tool_name": name}
        specs.append(spec)
    names = [s["tool_name"] for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool names must be unique; repeated: {duplicates}")
    return specs


def build_tools(specs: list[dict[str, Any]], retrievers: Callable[[str], Any]) -> list[Any]:
    """LangChain tools for validated ``specs``; ``retrievers(id)`` finds a retriever."""
    from langchain_core.tools import StructuredTool, create_retriever_tool

    tools: list[Any] = []
    for spec in specs:
        if spec["name"] == USER_TOOL:
            tools.append(spec["tool"])
        elif spec["name"] == "calculator":

            def calculator(expression: str) -> str:
                """Evaluate an arithmetic expression such as '(2 + 3) * 4'."""
                try:
                    return str(calculate(expression))
                except ValueError as exc:  # the model sees the problem and may retry
                    return f"Error: {exc}"

            async def acalculator(expression: str) -> str:
                """Evaluate an arithmetic expression such as '(2 + 3) * 4'."""
                return calculator(expression)  # microseconds: no thread for it

            tools.append(
                StructuredTool.from_function(
                    calculator,
                    coroutine=acalculator,
                    name="calculator",
                    description=REGISTRY["calculator"]["description"],
                )
            )
        else:
            store = retrievers(spec["retriever_id"])
            retriever = store.as_retriever(spec.get("k"))
            tools.append(
                create_retriever_tool(
                    retriever,
                    spec["tool_name"],
                    spec.get("description")
                    or f"Searches the knowledge base {spec['retriever_id']!r} and returns the "
                    "passages most relevant to a query.",
                )
            )
    return tools
