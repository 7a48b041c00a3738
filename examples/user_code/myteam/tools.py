"""The team's tools: plain typed functions, which the DSPy bridge turns into ``dspy.Tool``s.

Used by ReAct programs (``"tools": ["myteam.tools:search"]``) and by ``myteam.programs.RAG``.
"""

from __future__ import annotations

#: A small in-memory corpus: the team's notes, one fact per entry.
CORPUS: dict[str, str] = {
    "mlbridge": "mlbridge serves Python ML frameworks to C++ through a worker pool.",
    "dspy": "DSPy programs are built from signatures and modules such as ChainOfThought.",
    "paris": "Paris is the capital of France.",
    "tokyo": "Tokyo is the capital of Japan.",
    "rome": "Rome is the capital of Italy.",
}


def _words(text: str) -> set[str]:
    return {w.strip(".,?!'\"").lower() for w in text.split() if w.strip(".,?!'\"")}


def search(query: str, k: int = 2) -> list[str]:
    """Search the team's notes; returns the k passages that share the most words with query."""
    wanted = _words(query)
    ranked = sorted(CORPUS.values(), key=lambda text: (-len(wanted & _words(text)), text))
    return ranked[: max(k, 1)]


def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())
