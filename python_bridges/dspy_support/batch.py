"""Run many inputs through one async function, at most ``limit`` at a time.

``execute_batch`` awaits ``program.acall`` for every input on the worker's event loop: no
threads (DSPy's ``Module.batch`` runs a thread pool), and the bound is the number of tasks
that exist, not a semaphore in front of a thousand waiting tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Outcome = tuple[Any, Exception | None]
"""``(result, None)`` for an item that succeeded, ``(None, exception)`` for one that failed."""


async def run_bounded(
    items: list[T], run: Callable[[T], Awaitable[R]], limit: int
) -> list[Outcome]:
    """``run(item)`` for every item, ``limit`` at once; outcomes in the items' order.

    An item's ``Exception`` is its outcome and the others go on. Cancelling the caller
    cancels every item in flight (``asyncio.gather`` of the runners) and re-raises.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    outcomes: list[Outcome] = [(None, None)] * len(items)
    pending = iter(enumerate(items))  # shared by the runners: one loop, no lock needed

    async def runner() -> None:
        for index, item in pending:
            try:
                outcomes[index] = (await run(item), None)
            except Exception as exc:  # noqa: BLE001 - the item's failure is its result
                outcomes[index] = (None, exc)

    await asyncio.gather(*(runner() for _ in range(min(limit, len(items)))))
    return outcomes
