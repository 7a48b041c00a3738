"""Objects of a user package for the LangChain bridge's tests: good ones and wrong ones."""

from __future__ import annotations

import asyncio

from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

#: Returns a set: not JSON.
returns_a_set = RunnableLambda(lambda value: {"tags": {"a", "b"}}, name="returns_a_set")

#: Streams maps: chunks that are not text.
streams_maps = RunnableLambda(lambda value: {"n": len(str(value))}, name="streams_maps")


def not_a_factory(text: str) -> str:
    """A plain function: neither a Runnable nor a factory of one."""
    return text


def word_count(query: str) -> str:
    """Count the words of a query (a user tool the offline model calls as a search tool)."""
    return f"{len(query.split())} words"


def failing_tool(query: str) -> str:
    """A user tool that raises."""
    raise RuntimeError("the search backend is down")


async def hanging_tool(query: str) -> str:
    """A user tool that never answers."""
    await asyncio.Event().wait()
    return "never"


@tool
def shout(query: str) -> str:
    """Upper-case the query (a LangChain tool object)."""
    return query.upper()


class NotATool:
    """A class: not a tool."""
