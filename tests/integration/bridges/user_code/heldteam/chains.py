"""A LangChain runnable that answers once its gate opens, naming the worker that answered."""

from __future__ import annotations

import os
from typing import Any

from langchain_core.runnables import RunnableLambda

from heldteam import wait_for_gate


async def _held(request: dict[str, Any]) -> dict[str, Any]:
    await wait_for_gate(request["gate"])
    return {"text": request.get("text"), "worker_pid": os.getpid()}


#: ``{"text", "gate"} -> {"text", "worker_pid"}`` once the file ``gate`` exists.
held = RunnableLambda(_held, name="held")
