"""Named metrics (for evaluation and optimization) and rewards (for best_of_n / refine).

A metric compares a prediction with an example's labels, field by field over the output
fields the example labels, and returns the mean score in ``[0, 1]``:

- ``exact_match``: the normalized texts are equal (numbers compare as numbers);
- ``contains``: the normalized label occurs in the normalized prediction;
- ``f1``: token-level F1 of the normalized texts (SQuAD style).

Normalization is DSPy's (``dspy.evaluate.metrics.normalize_text``: lower case, no
punctuation, no articles). While an optimizer bootstraps (``trace`` is not ``None``) a
metric answers ``score >= threshold`` as DSPy's optimizers expect.
"""

from __future__ import annotations

import json
import math
from typing import Any

METRICS = ("exact_match", "contains", "f1")
REWARDS = ("non_empty", "max_words", "contains", "exact_match")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) or value is None:
        return str(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def field_score(metric: str, gold: Any, predicted: Any) -> float:
    """The score of one field under ``metric``."""
    from dspy.evaluate.metrics import f1_score, normalize_text

    if metric == "exact_match":
        gold_number, predicted_number = _number(gold), _number(predicted)
        if gold_number is not None and predicted_number is not None:
            return float(math.isclose(gold_number, predicted_number, rel_tol=1e-9, abs_tol=1e-9))
        return float(normalize_text(_text(gold)) == normalize_text(_text(predicted)))
    if metric == "contains":
        return float(normalize_text(_text(gold)) in normalize_text(_text(predicted)))
    if metric == "f1":
        return float(f1_score(_text(predicted), _text(gold)))
    raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")


class Metric:
    """A named metric as DSPy calls it: ``metric(example, prediction, trace=None)``."""

    def __init__(self, name: str, output_fields: list[str], threshold: float = 1.0):
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; use one of {', '.join(METRICS)}")
        self.name = name
        self.output_fields = output_fields
        self.threshold = threshold
        self.__name__ = name  # dspy.Evaluate names the metric in its logs

    def score(self, example: Any, prediction: Any) -> float:
        labels = [f for f in self.output_fields if f in example and example[f] is not None]
        if not labels or prediction is None:
            return 0.0
        scores = [field_score(self.name, example[f], prediction.get(f)) for f in labels]
        return sum(scores) / len(scores)

    def __call__(
        self,
        example: Any,
        prediction: Any,
        trace: Any = None,
        pred_name: Any = None,
        pred_trace: Any = None,
    ) -> float | bool:
        """DSPy's metric call; ``pred_name`` and ``pred_trace`` are GEPA's, and ignored."""
        score = self.score(example, prediction)
        return score >= self.threshold if trace is not None else score


class UserMetric:
    """The user's metric function by import path, callable as every DSPy optimizer calls one.

    The function takes ``(example, prediction)``, ``(example, prediction, trace)`` or GEPA's
    ``(gold, pred, trace, pred_name, pred_trace)``; it gets as many as it accepts. It may
    return a number, a bool, or GEPA's ``dspy.Prediction(score=..., feedback=...)``.
    """

    def __init__(self, ref: str, threshold: float = 1.0):
        import inspect

        from .user_refs import resolve_metric

        self.name = ref
        self.__name__ = ref.rpartition(":")[2]
        self.threshold = threshold
        self.func = resolve_metric(ref)
        self.arity = 2
        for arity in (5, 3):
            try:
                inspect.signature(self.func).bind(*([None] * arity))
            except TypeError:
                continue
            self.arity = arity
            break

    def __call__(
        self,
        example: Any,
        prediction: Any,
        trace: Any = None,
        pred_name: Any = None,
        pred_trace: Any = None,
    ) -> Any:
        args = (example, prediction, trace, pred_name, pred_trace)[: self.arity]
        return self.func(*args)


class Reward:
    """A reward for ``best_of_n`` / ``refine``: ``reward(inputs, prediction) -> float``."""

    def __init__(self, spec: dict[str, Any], output_fields: list[str]):
        self.name = str(spec.get("name", "non_empty"))
        if self.name not in REWARDS:
            raise ValueError(f"unknown reward {self.name!r}; use one of {', '.join(REWARDS)}")
        self.field = spec.get("field") or (output_fields[-1] if output_fields else None)
        if self.name != "non_empty" and self.field not in output_fields:
            raise ValueError(
                f"reward {self.name!r} needs 'field', one of the outputs {output_fields}"
            )
        self.value = spec.get("value")
        if self.name in ("contains", "exact_match") and self.value is None:
            raise ValueError(f"reward {self.name!r} needs 'value'")
        self.max_words = int(spec.get("max_words", 1))
        self.output_fields = output_fields

    def __call__(self, inputs: dict[str, Any], prediction: Any) -> float:
        if prediction is None:
            return 0.0
        if self.name == "non_empty":
            present = [f for f in self.output_fields if _text(prediction.get(f)).strip()]
            return len(present) / max(len(self.output_fields), 1)
        value = prediction.get(self.field)
        if self.name == "max_words":
            return float(len(_text(value).split()) <= self.max_words)
        return field_score(self.name, self.value, value)
