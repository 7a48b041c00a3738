"""A DSPy module that answers once its gate opens, naming the worker that answered."""

from __future__ import annotations

import os

import dspy

from heldteam import wait_for_gate


class HeldAnswer(dspy.Module):
    """``question, gate -> answer, worker_pid``: a Predict's answer once ``gate`` exists."""

    def __init__(self) -> None:
        super().__init__()
        self.respond = dspy.Predict("question -> answer")

    async def aforward(self, question: str, gate: str) -> dspy.Prediction:
        await wait_for_gate(gate)
        found = await self.respond.acall(question=question)
        return dspy.Prediction(answer=found.answer, worker_pid=os.getpid())

    def forward(self, question: str, gate: str) -> dspy.Prediction:
        raise RuntimeError("HeldAnswer runs on the worker's event loop only (aforward)")
