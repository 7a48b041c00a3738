"""DSPy's model-metadata lookups memoised (dspy_support/metadata_memo.py): same answers, once.

The memo must not change what DSPy sees: for models its table names and for models it does
not, with and without namespaces, every answer equals DSPy's own, and each is a copy the
caller may change. And it must memoise: a repeated lookup does not reach DSPy's function.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("dspy")

from dspy.clients import capabilities, costs, model_metadata  # noqa: E402
from dspy_support import metadata_memo  # noqa: E402

CASES = [
    ("openai", "gpt-4o-mini", None),  # a model DSPy's table names
    ("openai", "mock", None),  # one it does not: a scan of the table without the memo
    ("openai", "my-local-llama", ["openai"]),  # namespaces given as a list
    ("vllm", "served-model", ()),  # no namespace to read: an empty answer
]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """The memo installed over a counting stand-in for DSPy's function; the calls it got."""
    assert metadata_memo.install()
    calls: list[tuple[Any, ...]] = []
    dspy_own = model_metadata.model_info

    def counting(provider: Any, model: Any, *, namespaces: Any = None) -> Any:
        calls.append((provider, model, namespaces))
        return dspy_own(provider, model, namespaces=namespaces)

    monkeypatch.setattr(metadata_memo, "_original", counting)
    monkeypatch.setattr(metadata_memo, "_memo", {})
    yield calls


def test_install_rebinds_both_consumers_and_is_idempotent() -> None:
    assert metadata_memo.install()
    assert metadata_memo.install()
    assert metadata_memo.installed()
    assert capabilities.model_info is metadata_memo.memoised
    assert costs.model_info is metadata_memo.memoised
    assert model_metadata.model_info is not metadata_memo.memoised  # DSPy's own stays


@pytest.mark.parametrize(("provider", "model", "namespaces"), CASES)
def test_answers_equal_dspys_own(
    counted: list[tuple[Any, ...]], provider: str, model: str, namespaces: Any
) -> None:
    expected = model_metadata.model_info(provider, model, namespaces=namespaces)
    first = costs.model_info(provider, model, namespaces=namespaces)
    again = capabilities.model_info(provider, model, namespaces=namespaces)
    assert first == expected
    assert again == expected
    assert len(counted) == 1, "the second lookup reached DSPy's function"


def test_each_answer_is_a_copy_the_caller_may_change(counted: list[tuple[Any, ...]]) -> None:
    first = costs.model_info("openai", "gpt-4o-mini")
    assert first, "gpt-4o-mini is in DSPy's table"
    first["input_cost_per_token"] = -1
    first.clear()
    again = costs.model_info("openai", "gpt-4o-mini")
    assert again == model_metadata.model_info("openai", "gpt-4o-mini")
    assert again is not first


def test_a_new_table_is_not_answered_from_the_old_one(
    counted: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    costs.model_info("openai", "mock")
    monkeypatch.setattr(model_metadata, "_data", {"openai/mock": {"litellm_provider": "openai"}})
    assert costs.model_info("openai", "mock") == {"litellm_provider": "openai"}
    assert len(counted) == 2


def test_the_memo_is_bounded(
    counted: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metadata_memo, "MAX_ENTRIES", 3)
    for i in range(10):
        costs.model_info("openai", f"unknown-{i}")
    assert len(metadata_memo._memo) <= 3


def test_an_unknown_layout_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another DSPy version whose consumer no longer imports model_info: nothing rebound."""
    monkeypatch.setattr(costs, "model_info", lambda *a, **k: {}, raising=True)
    monkeypatch.setattr(capabilities, "model_info", model_metadata.model_info)
    assert not metadata_memo.install()
    assert capabilities.model_info is model_metadata.model_info
    assert "dspy.clients.costs" in sys.modules
