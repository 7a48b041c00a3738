"""The team's own DSPy programs, served by the DSPy bridge by import path.

- ``RAG``: retrieval over the notes of ``myteam.tools`` (``search``), then ChainOfThought;
  ``{"module": "myteam.programs:RAG", "init": {"k": 2}}``.
- ``make_rag``: a factory returning a ``RAG`` (factories work as classes do).
- ``AnswerWithCitations``: a signature with a Pydantic output type, for the built-in modules
  (``{"module": "predict", "signature": "myteam.programs:AnswerWithCitations"}``).
"""

from __future__ import annotations

import dspy
import pydantic

from myteam.tools import search


class RAG(dspy.Module):
    """Answer a question from the k passages of the team's notes that match it best."""

    def __init__(self, k: int = 2):
        super().__init__()
        self.k = k
        self.respond = dspy.ChainOfThought("context: list[str], question: str -> answer: str")

    def forward(self, question: str) -> dspy.Prediction:
        return self.respond(context=search(question, self.k), question=question)

    async def aforward(self, question: str) -> dspy.Prediction:
        return await self.respond.acall(context=search(question, self.k), question=question)


def make_rag(k: int = 2) -> RAG:
    """A ``RAG`` with k passages."""
    return RAG(k=k)


class Citation(pydantic.BaseModel):
    source: str
    quote: str


class AnswerWithCitations(dspy.Signature):
    """Answer the question and cite the passages used."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()
    citations: list[Citation] = dspy.OutputField()
