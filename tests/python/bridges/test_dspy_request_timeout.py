"""The DSPy bridge's per-call request timeout stays on a coarse grid (LiteLLM's client cache)."""

from __future__ import annotations

import pytest

pytest.importorskip("dspy")

from dspy_support.lm import request_timeout_within  # noqa: E402


@pytest.mark.parametrize(
    ("seconds_left", "expected"),
    [(29.987, 29.0), (29.001, 29.0), (2.0, 2.0), (1.99, 1.9), (0.25, 0.2), (0.01, 0.1)],
)
def test_the_timeout_is_rounded_down_to_a_coarse_grid(seconds_left: float, expected: float):
    assert request_timeout_within(seconds_left) == expected


def test_calls_with_nearby_deadlines_share_one_timeout():
    """Deadlines a few milliseconds apart (every call's) give one value, so one cached client."""
    timeouts = {request_timeout_within(29.9 + i / 1000) for i in range(90)}
    assert timeouts == {29.0}


def test_the_timeout_never_passes_what_is_left_above_the_floor():
    for tenth_ms in range(1000, 400000, 137):
        seconds_left = tenth_ms / 10000
        assert request_timeout_within(seconds_left) <= seconds_left
