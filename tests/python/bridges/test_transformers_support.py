"""Parts of the Transformers bridge on their own (no torch, no worker): the model registry (the
ids callers give always resolve to the model they loaded, aliases included) and the generation
defaults (the checkpoint's generation_config before the bridge's own)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from worker_client import ROOT

sys.path.insert(0, str(ROOT / "python_bridges"))

from transformers_support.generation import fill_defaults  # noqa: E402
from transformers_support.registry import LoadedModel, ModelRegistry  # noqa: E402

from mlbridge import BridgeError  # noqa: E402


def _model(model_id: str, name: str = "tiny-gpt2", holder: str = "a") -> LoadedModel:
    return LoadedModel(
        model_id=model_id,
        reference=name,
        path=Path("/models") / name,
        task="text-generation",
        device="cpu",
        dtype="float32",
        pipeline=object(),
        parameters=1,
        weight_bytes=4,
        rss_delta_bytes=0,
        load_ms=0,
        holders={holder},
    )


def test_a_callers_id_for_a_loaded_model_becomes_an_alias() -> None:
    registry = ModelRegistry()
    gpt2 = _model("gpt2")
    registry.add(gpt2)
    # Session b loads the same model and names it: its name is what it gets back.
    assert registry.name(gpt2, "mygen") == "mygen"
    gpt2.holders.add("b")
    assert registry.get("mygen", "b") is gpt2
    assert registry.get("gpt2", "b") is gpt2
    assert gpt2.summary("mygen")["model_id"] == "mygen"
    assert gpt2.summary("mygen")["aliases"] == ["gpt2"]
    assert gpt2.summary()["aliases"] == ["mygen"]
    # No id given: the model's own; the same alias again: still fine.
    assert registry.name(gpt2, None) == "gpt2"
    assert registry.name(gpt2, "mygen") == "mygen"


def test_an_alias_is_taken_like_a_model_id() -> None:
    registry = ModelRegistry()
    gpt2, bert = _model("gpt2"), _model("bert", "tiny-bert")
    registry.add(gpt2)
    registry.add(bert)
    registry.name(gpt2, "mygen")
    for taken in ("mygen", "gpt2"):
        with pytest.raises(BridgeError) as refused:
            registry.name(bert, taken)
        assert refused.value.category == "invalid_argument"
        assert repr(taken) in refused.value.message and "tiny-gpt2" in refused.value.message
        with pytest.raises(BridgeError):
            registry.new_id(taken, Path("/models/other"), "text-generation")
    # A generated id never lands on an alias either.
    registry.aliases["other"] = "gpt2"
    assert registry.new_id(None, Path("/models/other"), "fill-mask") == "other-fill-mask"


def test_dropping_a_model_frees_its_aliases() -> None:
    registry = ModelRegistry()
    gpt2 = _model("gpt2")
    registry.add(gpt2)
    registry.name(gpt2, "mygen")
    assert [m.model_id for m in registry.release("a")] == ["gpt2"]
    assert registry.resolve("mygen") is None and registry.aliases == {}
    with pytest.raises(BridgeError) as missing:
        registry.get("mygen", "a")
    assert missing.value.category == "not_found"
    # The freed alias may name another model now.
    assert registry.new_id("mygen", Path("/models/tiny-bert"), "fill-mask") == "mygen"


def test_bad_ids_are_refused() -> None:
    registry = ModelRegistry()
    gpt2 = _model("gpt2")
    registry.add(gpt2)
    for bad in ("", "a:b", 7, "x" * 201):
        with pytest.raises(BridgeError) as refused:
            registry.name(gpt2, bad)
        assert refused.value.category == "invalid_argument"


class _GenerationConfig:
    """What fill_defaults reads of a transformers GenerationConfig: its non-default values."""

    def __init__(self, **diff: Any) -> None:
        self.diff = {"transformers_version": "5", **diff}

    def to_diff_dict(self) -> dict[str, Any]:
        return dict(self.diff)


def _filled(settings: dict[str, Any], **model: Any) -> dict[str, Any]:
    settings = dict(settings)
    fill_defaults(settings, _GenerationConfig(**model), 32, 100)
    return settings


def test_generation_defaults_follow_the_checkpoint() -> None:
    # The checkpoint says nothing: greedy, the bridge's 32 tokens.
    assert _filled({}) == {"do_sample": False, "max_new_tokens": 32}
    # The checkpoint's generation_config is left to generate() (nothing overrides it).
    assert _filled({}, do_sample=True, max_new_tokens=7) == {"do_sample": True}
    assert _filled({}, max_length=50) == {"do_sample": False}
    # ... within the operator's max_new_tokens_limit.
    assert _filled({}, max_new_tokens=500) == {"do_sample": False, "max_new_tokens": 100}
    assert _filled({}, max_length=500) == {"do_sample": False, "max_new_tokens": 100}
    # The caller's settings win over both.
    assert _filled({"do_sample": False, "max_new_tokens": 3}, do_sample=True, max_new_tokens=7) == {
        "do_sample": False,
        "max_new_tokens": 3,
    }
    assert _filled({"max_length": 9}, max_new_tokens=7) == {"do_sample": False, "max_length": 9}
    # A model without a generation_config gets the bridge's defaults.
    settings: dict[str, Any] = {}
    fill_defaults(settings, None, 32, 100)
    assert settings == {"do_sample": False, "max_new_tokens": 32}
