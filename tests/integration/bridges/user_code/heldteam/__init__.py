"""Test code for the programs and chains created without a session (every_worker_host_test).

Each object here answers only once a gate file exists, with the pid of the worker process that
ran it: a test holds one call on each worker of a pool at once, opens the gate, and sees from the
answers which workers had the object. ``programs`` is for the DSPy bridge, ``chains`` for the
LangChain bridge; a bridge declares the one it uses.
"""

from __future__ import annotations

import asyncio
import os


async def wait_for_gate(gate: str) -> None:
    """Return once the file ``gate`` exists (a cancelled call ends here at once)."""
    while not os.path.exists(gate):
        await asyncio.sleep(0.01)
