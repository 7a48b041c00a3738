"""The team's metrics, named by import path (``"metric": "myteam.metrics:exact"``).

A metric gets ``(example, prediction, trace=None)``; GEPA's metrics also get
``pred_name, pred_trace`` and may return ``dspy.Prediction(score=..., feedback=...)``.
"""

from __future__ import annotations

from typing import Any


def _norm(value: Any) -> str:
    return " ".join(str(value or "").lower().strip(" .").split())


def exact(example: Any, prediction: Any, trace: Any = None) -> float | bool:
    """1.0 when the answer equals the label, ignoring case and a final period."""
    score = float(_norm(example.answer) == _norm(getattr(prediction, "answer", None)))
    return score >= 1.0 if trace is not None else score


def with_feedback(
    gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
) -> Any:
    """GEPA's kind of metric: a score and a sentence of feedback for the reflection LM."""
    import dspy

    score = float(_norm(gold.answer) == _norm(getattr(pred, "answer", None)))
    feedback = "Correct." if score else f"Expected {gold.answer!r}, got {pred.answer!r}."
    return dspy.Prediction(score=score, feedback=feedback)
