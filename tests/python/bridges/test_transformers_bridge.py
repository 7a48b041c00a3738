"""The Transformers bridge, driven over the protocol as the host drives it, fully offline.

The models are the tiny ones of scripts/build_tiny_models.py (random weights, tokenizers built
from the repo's corpus, written with save_pretrained), built once into build/models (or
$MLBRIDGE_TINY_MODELS) and loaded from disk exactly as a real model would be. Two workers
start side by side: a MessagePack one with defaults, and a JSON one with a memory budget
and a preloaded (pinned) model.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_client import ROOT, Worker

from .conftest import SLOW_TIMEOUT, BridgeClient, worker_env

TRANSFORMERS_BRIDGE = ROOT / "python_bridges" / "transformers_bridge.py"
BUILD_SCRIPT = ROOT / "scripts" / "build_tiny_models.py"
SENTIMENT = {"negative", "neutral", "positive"}
NER_GROUPS = {"PER", "LOC"}
CALL = 60.0  # generous: the first call of a model on a busy 2-core machine

# Checked without importing them: the workers import torch, this process never needs to.
if not all(importlib.util.find_spec(name) for name in ("torch", "transformers", "tokenizers")):
    pytest.skip(
        "the Transformers bridge needs torch, transformers and tokenizers", allow_module_level=True
    )


def _build_script() -> Any:
    spec = importlib.util.spec_from_file_location("build_tiny_models", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models_dir() -> Path:
    """The tiny models, built (or found up to date) by scripts/build_tiny_models.py."""
    out = Path(os.environ.get("MLBRIDGE_TINY_MODELS") or ROOT / "build" / "models")
    _build_script().build(out, quiet=True)
    return out


def _start(
    codec: str, tmp: Path, options: dict[str, Any], worker_id: str
) -> tuple[Worker, BridgeClient]:
    worker = Worker(
        TRANSFORMERS_BRIDGE,
        codec,
        env=worker_env(tmp),
        stderr_path=tmp / "stderr.txt",
        worker_id=worker_id,
    )
    return worker, BridgeClient(worker)


@pytest.fixture(scope="module")
def workers(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, BridgeClient]]:
    """Both workers, started and initialised side by side (each imports torch on init)."""
    specs = {
        "msgpack": ({"model_dirs": [str(models_dir)]}, "tf-msgpack"),
        "json": (
            {
                "model_dirs": [str(models_dir)],
                "max_model_memory_mb": 8,
                "preload": [{"model": "tiny-bert-sentiment", "model_id": "pinned-sentiment"}],
            },
            "tf-json",
        ),
    }
    started: dict[str, BridgeClient] = {}
    try:
        pending = {}
        for codec, (options, worker_id) in specs.items():
            worker, client = _start(codec, tmp_path_factory.mktemp(worker_id), options, worker_id)
            started[codec] = client
            worker.hello(timeout=SLOW_TIMEOUT)
            pending[codec] = worker.start_request("init", {"options": options})
        for codec, request_id in pending.items():
            response, _ = started[codec].worker.wait_response(request_id, timeout=180.0)
            assert response["success"], (response.get("error"), started[codec].stderr()[-3000:])
        yield started
    finally:
        for client in started.values():
            client.worker.kill()


@pytest.fixture(scope="module")
def bridge(workers: dict[str, BridgeClient]) -> BridgeClient:
    return workers["msgpack"]


@pytest.fixture(scope="module")
def budget_bridge(workers: dict[str, BridgeClient]) -> BridgeClient:
    return workers["json"]


@pytest.fixture
def session(request: pytest.FixtureRequest) -> str:
    return request.node.name


def load(bridge: BridgeClient, session: str | None, model: str, **extra: Any) -> dict[str, Any]:
    return bridge.ok("load_model", {"model": model, **extra}, session, timeout=CALL)


def run(bridge: BridgeClient, session: str | None, model_id: str, inputs: Any, **extra: Any) -> Any:
    args = {"model_id": model_id, "inputs": inputs, **extra}
    return bridge.ok("run_pipeline", args, session, timeout=CALL)


def stream(
    bridge: BridgeClient, session: str, args: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    worker = bridge.worker
    request_id = worker.start_request("generate_stream", args, session)
    response, before = worker.wait_response(request_id, timeout=CALL)
    return response, before


def built_parameters(models_dir: Path, name: str) -> int:
    return json.loads((models_dir / name / "mlbridge-tiny-model.json").read_text())["parameters"]


# --------------------------------------------------------------------------- basics


def test_info_commands_and_capabilities(bridge: BridgeClient) -> None:
    info = bridge.ok("get_info")
    assert info["framework"] == "transformers"
    assert info["framework_version"].startswith("5.")
    for name in (
        "load_model",
        "run_pipeline",
        "generate_stream",
        "tokenize",
        "detokenize",
        "embed",
        "list_models",
        "get_model_info",
        "unload_model",
    ):
        assert name in info["commands"]
    capabilities = info["capabilities"]
    assert capabilities["offline"] is True and capabilities["streaming"] is True
    for task in (
        "text-generation",
        "text-classification",
        "token-classification",
        "feature-extraction",
        "fill-mask",
    ):
        assert task in capabilities["tasks"]


def test_build_script_is_idempotent(models_dir: Path) -> None:
    assert _build_script().build(models_dir, quiet=True) == []
    for name in ("tiny-gpt2", "tiny-bert", "tiny-bert-sentiment", "tiny-bert-ner", "small-gpt2"):
        assert (models_dir / name / "config.json").is_file()
        assert (models_dir / name / "model.safetensors").is_file()
        assert (models_dir / name / "tokenizer.json").is_file()


def test_load_model_reports_task_parameters_and_memory(
    bridge: BridgeClient, session: str, models_dir: Path
) -> None:
    loaded = load(bridge, session, "tiny-gpt2")
    assert loaded["model_id"] == "tiny-gpt2"
    assert loaded["task"] == "text-generation"  # inferred from GPT2LMHeadModel
    assert loaded["device"] == "cpu" or loaded["device"].startswith("cuda")
    assert loaded["parameters"] == built_parameters(models_dir, "tiny-gpt2")
    if loaded["dtype"] == "float32":
        assert loaded["memory_bytes"] >= 4 * loaded["parameters"]
    assert loaded["rss_bytes"] > 0 and loaded["references"] >= 1
    # The same directory by its path is the same model: shared, not loaded twice.
    again = load(bridge, session, str(models_dir / "tiny-gpt2"))
    assert again["model_id"] == "tiny-gpt2" and again["shared"] is True
    info = bridge.ok("get_model_info", {"model_id": "tiny-gpt2"}, session)
    assert info["model_type"] == "gpt2" and info["architectures"] == ["GPT2LMHeadModel"]
    assert info["tokenizer"]["vocab_size"] == info["vocab_size"]
    listed = bridge.ok("list_models", {}, session)
    assert [m["model_id"] for m in listed["models"]] == ["tiny-gpt2"]
    assert listed["scope"] == "session" and listed["model_dirs"] == [str(models_dir.resolve())]


def test_models_are_shared_by_sessions_through_references(bridge: BridgeClient) -> None:
    first = load(bridge, "share-a", "tiny-bert-ner")
    second = load(bridge, "share-b", "tiny-bert-ner")
    assert first["shared"] is False and second["shared"] is True
    assert second["model_id"] == first["model_id"] and second["references"] == 2
    model_id = first["model_id"]
    # A session that did not load it cannot use it.
    error = bridge.error("run_pipeline", {"model_id": model_id, "inputs": "Oslo"}, "share-c")
    assert error["category"] == "not_found" and "load_model" in error["message"]
    dropped = bridge.ok("unload_model", {"model_id": model_id}, "share-a")
    assert dropped["unloaded"] is False and dropped["references"] == 1
    assert run(bridge, "share-b", model_id, "Amara drove to Mombasa")["outputs"] is not None
    assert bridge.error("run_pipeline", {"model_id": model_id, "inputs": "x"}, "share-a")
    dropped = bridge.ok("unload_model", {"model_id": model_id}, "share-b")
    assert dropped["unloaded"] is True and dropped["references"] == 0
    everything = bridge.ok("list_models", {"all": True})
    assert model_id not in [m["model_id"] for m in everything["models"]]


def test_a_callers_model_id_names_a_model_another_session_loaded(bridge: BridgeClient) -> None:
    first = load(bridge, "alias-a", "tiny-gpt2")
    # The same model under the caller's own id: shared, and answered by that id.
    mine = load(bridge, "alias-b", "tiny-gpt2", model_id="mygen")
    assert mine["model_id"] == "mygen" and mine["shared"] is True
    assert first["model_id"] in mine["aliases"]
    ran = run(bridge, "alias-b", "mygen", "The river", kwargs={"max_new_tokens": 2})
    assert ran["model_id"] == "mygen" and ran["outputs"][0]["generated_text"]
    assert bridge.ok("get_model_info", {"model_id": "mygen"}, "alias-b")["model_id"] == "mygen"
    # A session that loaded nothing still cannot use it, and the alias is taken.
    missing = bridge.error("run_pipeline", {"model_id": "mygen", "inputs": "x"}, "alias-c")
    assert missing["category"] == "not_found"
    taken = bridge.error("load_model", {"model": "tiny-bert", "model_id": "mygen"}, "alias-c")
    assert taken["category"] == "invalid_argument" and "already taken" in taken["message"]
    dropped = bridge.ok("unload_model", {"model_id": "mygen"}, "alias-b")
    assert dropped["model_id"] == "mygen"
    assert bridge.error("run_pipeline", {"model_id": "mygen", "inputs": "x"}, "alias-b")
    bridge.ok("unload_model", {"model_id": first["model_id"]}, "alias-a")


# ----------------------------------------------------------------------- pipelines


def test_generation_same_seed_same_text(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    kwargs = {"max_new_tokens": 12, "temperature": 0.9, "top_k": 50}
    first = run(bridge, session, "tiny-gpt2", "The river", kwargs=kwargs, seed=11)
    second = run(bridge, session, "tiny-gpt2", "The river", kwargs=kwargs, seed=11)
    other = run(bridge, session, "tiny-gpt2", "The river", kwargs=kwargs, seed=12)
    text = first["outputs"][0]["generated_text"]
    assert first["task"] == "text-generation" and first["batch"] is False
    assert text.startswith("The river") and len(text) > len("The river")
    assert second["outputs"] == first["outputs"]
    assert other["outputs"] != first["outputs"]


@pytest.fixture(scope="module")
def sampling_gpt2(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-gpt2 whose generation_config.json says: sample, and exactly 4 new tokens."""
    out = tmp_path_factory.mktemp("checkpoints") / "sampling-gpt2"
    shutil.copytree(models_dir / "tiny-gpt2", out)
    config_file = out / "generation_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    config.update(do_sample=True, max_new_tokens=4, min_new_tokens=4)
    config_file.write_text(json.dumps(config))
    return out


def test_generation_follows_the_checkpoints_generation_config(
    bridge: BridgeClient, session: str, sampling_gpt2: Path
) -> None:
    model_id = load(bridge, session, str(sampling_gpt2))["model_id"]
    # Nothing set by the caller: the checkpoint's 4 tokens (not the bridge's 32) ...
    response, _ = stream(bridge, session, {"model_id": model_id, "prompt": "The river"})
    assert response["success"], response.get("error")
    assert response["result"]["tokens"] == 4
    # ... and its sampling: another seed, another text.
    texts = {
        run(bridge, session, model_id, "The river", seed=seed)["outputs"][0]["generated_text"]
        for seed in (1, 2, 3)
    }
    assert len(texts) > 1
    # The caller's settings win: 6 tokens, greedy (every seed gives the same text).
    kwargs = {"max_new_tokens": 6, "min_new_tokens": 6}
    response, _ = stream(
        bridge, session, {"model_id": model_id, "prompt": "The river", "kwargs": kwargs}
    )
    assert response["success"], response.get("error")
    assert response["result"]["tokens"] == 6
    greedy = {"max_new_tokens": 6, "do_sample": False}
    texts = {
        run(bridge, session, model_id, "The river", kwargs=greedy, seed=seed)["outputs"][0][
            "generated_text"
        ]
        for seed in (1, 2, 3)
    }
    assert len(texts) == 1
    bridge.ok("unload_model", {"model_id": model_id}, session)


def test_generation_batch(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    prompts = ["The river", "A fox found a bell", "Numbers appear"]
    result = run(
        bridge,
        session,
        "tiny-gpt2",
        prompts,
        kwargs={"max_new_tokens": 5, "do_sample": False},
        batch_size=2,
    )
    assert result["batch"] is True and result["count"] == 3
    assert len(result["outputs"]) == 3
    for prompt, outputs in zip(prompts, result["outputs"], strict=True):
        assert outputs[0]["generated_text"].startswith(prompt)
    # Greedy decoding is the same alone and in a batch.
    greedy = {"max_new_tokens": 5, "do_sample": False}
    alone = run(bridge, session, "tiny-gpt2", prompts[0], kwargs=greedy)
    assert alone["outputs"][0] == result["outputs"][0][0]


def test_classification_labels_and_scores(bridge: BridgeClient, session: str) -> None:
    loaded = load(bridge, session, "tiny-bert-sentiment")
    assert loaded["task"] == "text-classification"
    result = run(
        bridge, session, loaded["model_id"], "This was a wonderful day.", kwargs={"top_k": None}
    )
    scores = result["outputs"]
    assert {s["label"] for s in scores} == SENTIMENT
    assert math.isclose(sum(s["score"] for s in scores), 1.0, rel_tol=1e-4)
    assert scores == sorted(scores, key=lambda s: -s["score"])
    batch = run(bridge, session, loaded["model_id"], ["Nothing worked.", "The bus leaves."])
    assert len(batch["outputs"]) == 2
    for item in batch["outputs"]:
        assert item["label"] in SENTIMENT and 0.0 < item["score"] <= 1.0
    info = bridge.ok("get_model_info", {"model_id": loaded["model_id"]}, session)
    assert info["labels"] == {"0": "negative", "1": "neutral", "2": "positive"}


def test_token_classification(bridge: BridgeClient, session: str) -> None:
    loaded = load(bridge, session, "tiny-bert-ner", task="ner")  # an alias
    assert loaded["task"] == "token-classification"
    text = "Maria flew from Lisbon to Oslo in March."
    result = run(
        bridge, session, loaded["model_id"], text, kwargs={"aggregation_strategy": "simple"}
    )
    for entity in result["outputs"]:
        assert entity["entity_group"] in NER_GROUPS
        assert text[entity["start"] : entity["end"]].lower() == entity["word"].replace(" ##", "")


def test_fill_mask_and_a_missing_mask(bridge: BridgeClient, session: str) -> None:
    loaded = load(bridge, session, "tiny-bert")
    assert loaded["task"] == "fill-mask"
    result = run(
        bridge, session, "tiny-bert", "The river [MASK] in the mountains.", kwargs={"top_k": 3}
    )
    assert len(result["outputs"]) == 3
    for guess in result["outputs"]:
        assert "[MASK]" not in guess["sequence"] and isinstance(guess["token"], int)
    error = bridge.error("run_pipeline", {"model_id": "tiny-bert", "inputs": "no mask"}, session)
    assert error["category"] == "invalid_argument" and "[MASK]" in error["message"]


def test_feature_extraction_pipeline(bridge: BridgeClient, session: str) -> None:
    loaded = load(bridge, session, "tiny-bert", task="feature-extraction", model_id="bert-features")
    assert loaded["model_id"] == "bert-features" and loaded["task"] == "feature-extraction"
    tokens = bridge.ok(
        "tokenize", {"model_id": "bert-features", "text": "The river rises"}, session
    )
    result = run(bridge, session, "bert-features", "The river rises")
    hidden = result["outputs"][0]
    assert len(hidden) == tokens["count"] and all(len(row) == 64 for row in hidden)


# ------------------------------------------------------------------ tokens, vectors


def test_embeddings_shape_bytes_and_lists(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-bert")
    texts = ["The fox buried the bell.", "The owl kept the secret.", "Rivers run to the sea."]
    packed = bridge.ok("embed", {"model_id": "tiny-bert", "inputs": texts}, session)
    assert packed["shape"] == [3, 64] and packed["dtype"] == "float32"
    assert packed["format"] == "bytes" and isinstance(packed["embeddings"], bytes)
    assert len(packed["embeddings"]) == 3 * 64 * 4
    values = struct.unpack("<192f", packed["embeddings"])
    listed = bridge.ok(
        "embed", {"model_id": "tiny-bert", "inputs": texts, "format": "list"}, session
    )["embeddings"]
    assert len(listed) == 3 and all(len(row) == 64 for row in listed)
    flat = [v for row in listed for v in row]
    assert all(
        math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6) for a, b in zip(values, flat, strict=True)
    )
    unit = bridge.ok(
        "embed",
        {"model_id": "tiny-bert", "inputs": texts[0], "format": "list", "normalize": True},
        session,
    )
    assert unit["shape"] == [1, 64] and unit["batch"] is False
    assert math.isclose(math.sqrt(sum(v * v for v in unit["embeddings"][0])), 1.0, rel_tol=1e-5)
    cls = bridge.ok(
        "embed",
        {"model_id": "tiny-bert", "inputs": texts, "format": "list", "pooling": "cls"},
        session,
    )["embeddings"]
    assert cls != listed
    bad = bridge.error(
        "embed", {"model_id": "tiny-bert", "inputs": texts, "pooling": "sum"}, session
    )
    assert bad["category"] == "invalid_argument"


def test_embeddings_of_a_causal_lm_and_padding(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    args = {"model_id": "tiny-gpt2", "format": "list", "pooling": "last"}
    batch = bridge.ok("embed", {**args, "inputs": ["A fox", "A fox found a bell"]}, session)
    alone = bridge.ok("embed", {**args, "inputs": "A fox"}, session)
    assert batch["shape"] == [2, 64]
    # Padding does not change a row: the short text pooled alone and in a batch agree.
    assert all(
        math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5)
        for a, b in zip(batch["embeddings"][0], alone["embeddings"][0], strict=True)
    )


def test_tokenize_detokenize_round_trip(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    load(bridge, session, "tiny-bert")
    text = "Anna walked from the station to the harbour."
    gpt = bridge.ok(
        "tokenize", {"model_id": "tiny-gpt2", "text": text, "return_offsets": True}, session
    )
    assert gpt["count"] == len(gpt["ids"]) == len(gpt["tokens"]) == len(gpt["offsets"])
    assert "".join(text[s:e] for s, e in gpt["offsets"]) == text
    back = bridge.ok("detokenize", {"model_id": "tiny-gpt2", "ids": gpt["ids"]}, session)
    assert back["text"] == text  # byte-level BPE round-trips exactly
    bert = bridge.ok("tokenize", {"model_id": "tiny-bert", "text": text}, session)
    assert bert["tokens"][0] == "[CLS]" and bert["tokens"][-1] == "[SEP]"
    plain = bridge.ok(
        "detokenize",
        {"model_id": "tiny-bert", "ids": bert["ids"], "skip_special_tokens": True},
        session,
    )
    assert plain["text"] == text.lower()  # WordPiece lower-cases; decoding rejoins " ."
    many = bridge.ok("tokenize", {"model_id": "tiny-gpt2", "text": ["a", "b c"]}, session)
    assert many["count"] == 2 and [i["count"] for i in many["items"]] == [1, 2]
    texts = bridge.ok(
        "detokenize", {"model_id": "tiny-gpt2", "ids": [i["ids"] for i in many["items"]]}, session
    )
    assert texts["texts"] == ["a", "b c"]
    error = bridge.error("detokenize", {"model_id": "tiny-gpt2", "ids": [10**9]}, session)
    assert error["category"] == "invalid_argument"


# ------------------------------------------------------------------------ streaming


def test_stream_arrives_chunk_by_chunk(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    kwargs = {"max_new_tokens": 16, "temperature": 0.8}
    args = {"model_id": "tiny-gpt2", "prompt": "Once upon a time", "kwargs": kwargs, "seed": 5}
    response, chunks = stream(bridge, session, args)
    assert response["success"] is True, response.get("error")
    result = response["result"]
    assert all(c["type"] == "chunk" and c["id"] == response["id"] for c in chunks)
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert len(chunks) == result["chunks"] >= 2
    assert "".join(c["data"]["text"] for c in chunks) == result["text"]
    assert result["tokens"] == 16 or result["finish_reason"] == "eos"
    # The same seed streams the same text again, and the pipeline generates it too.
    again, _ = stream(bridge, session, args)
    assert again["result"]["text"] == result["text"]
    piped = run(
        bridge,
        session,
        "tiny-gpt2",
        args["prompt"],
        kwargs={**kwargs, "return_full_text": False},
        seed=5,
    )
    assert piped["outputs"][0]["generated_text"] == result["text"]


def test_stream_refusals(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    load(bridge, session, "tiny-bert-sentiment")
    for args in (
        {"model_id": "tiny-bert-sentiment", "prompt": "x"},
        {"model_id": "tiny-gpt2", "prompt": "x", "kwargs": {"num_beams": 2}},
        {"model_id": "tiny-gpt2", "prompt": "x", "kwargs": {"max_new_tokens": 0}},
        {"model_id": "tiny-gpt2", "prompt": "x", "kwargs": {"colour": "blue"}},
        {"model_id": "tiny-gpt2", "prompt": ""},
        {"model_id": "tiny-gpt2", "prompt": "x", "seed": -1},
    ):
        response, chunks = stream(bridge, session, args)
        assert response["success"] is False and chunks == []
        assert response["error"]["category"] == "invalid_argument", args


def test_cancelling_a_stream_keeps_the_worker(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "small-gpt2")
    pid = bridge.ok("get_info")["pid"]
    worker = bridge.worker
    kwargs = {"max_new_tokens": 250, "min_new_tokens": 250, "do_sample": False}
    request_id = worker.start_request(
        "generate_stream", {"model_id": "small-gpt2", "prompt": "The", "kwargs": kwargs}, session
    )
    first = worker.recv(timeout=CALL)
    assert first["type"] == "chunk" and first["id"] == request_id
    worker.interrupt()  # what the host does on a deadline or a cancel
    response, _ = worker.wait_response(request_id, timeout=CALL)
    assert response["success"] is False
    assert response["error"]["category"] == "cancelled"
    assert bridge.ok("get_info")["pid"] == pid
    bridge.ok("unload_model", {"model_id": "small-gpt2"}, session)


# --------------------------------------------------------------------------- memory


def test_unload_returns_memory(bridge: BridgeClient, session: str) -> None:
    loaded = load(bridge, session, "small-gpt2")
    weights = loaded["memory_bytes"]
    assert weights > 30 * 1024 * 1024
    # The weights are memory-mapped from model.safetensors: a call touches every page.
    run(bridge, session, "small-gpt2", "The river", kwargs={"max_new_tokens": 2})
    before = bridge.ok("get_stats")["rss_bytes"]
    dropped = bridge.ok("unload_model", {"model_id": "small-gpt2"}, session)
    after = bridge.ok("get_stats")["rss_bytes"]
    assert dropped["unloaded"] is True and dropped["memory_bytes"] == weights
    assert dropped["freed_bytes"] >= weights // 2
    assert before - after >= weights // 2
    error = bridge.error("get_model_info", {"model_id": "small-gpt2"}, session)
    assert error["category"] == "not_found"


def test_over_limit_allocation_is_resource_exhausted(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    pid = bridge.ok("get_info")["pid"]
    # 2**55 sequences (2**58 bytes): beyond RAM and any x86-64 address space; refused at once.
    kwargs = {"max_new_tokens": 2, "do_sample": True, "num_return_sequences": 2**55}
    error = bridge.error(
        "run_pipeline", {"model_id": "tiny-gpt2", "inputs": "x", "kwargs": kwargs}, session
    )
    assert error["category"] == "resource_exhausted"
    assert "out of memory" in error["message"]
    assert bridge.ok("get_info")["pid"] == pid  # the same worker goes on
    assert run(bridge, session, "tiny-gpt2", "x", kwargs={"max_new_tokens": 1})["outputs"]


def test_memory_budget_and_pinned_models(budget_bridge: BridgeClient, session: str) -> None:
    error = budget_bridge.error("load_model", {"model": "small-gpt2"}, session)
    assert error["category"] == "resource_exhausted" and error["type"] == "MemoryBudgetExceeded"
    assert "max_model_memory_mb" in error["message"]
    tiny = budget_bridge.ok("load_model", {"model": "tiny-gpt2"}, session, timeout=CALL)
    assert tiny["shared"] is False
    # The preloaded model serves every session without load_model, and stays.
    pinned = budget_bridge.ok(
        "run_pipeline", {"model_id": "pinned-sentiment", "inputs": "A good day."}, "anyone"
    )
    assert pinned["outputs"][0]["label"] in SENTIMENT
    listed = budget_bridge.ok("list_models", {}, "anyone")
    assert [m["model_id"] for m in listed["models"]] == ["pinned-sentiment"]
    assert listed["models"][0]["pinned"] is True
    refused = budget_bridge.error("unload_model", {"model_id": "pinned-sentiment"}, "anyone")
    assert refused["category"] == "invalid_argument" and "force" in refused["message"]
    # JSON carries embeddings as base64 bytes.
    packed = budget_bridge.ok("embed", {"model_id": "pinned-sentiment", "inputs": "x"}, "anyone")
    assert isinstance(packed["embeddings"], bytes) and len(packed["embeddings"]) == 64 * 4


def test_cleanup_session_releases_its_models(bridge: BridgeClient) -> None:
    # No other test loads tiny-gpt2 for feature-extraction: this session is its only holder.
    loaded = load(
        bridge, "short-lived", "tiny-gpt2", task="feature-extraction", model_id="gpt2-short"
    )
    assert loaded["model_id"] == "gpt2-short" and loaded["shared"] is False
    result = bridge.ok("cleanup_session", {"session_id": "short-lived"})
    assert result["models_unloaded"] == ["gpt2-short"]
    everything = bridge.ok("list_models", {"all": True})
    assert "gpt2-short" not in [m["model_id"] for m in everything["models"]]


# --------------------------------------------------------------------------- errors


def test_missing_path_is_not_found_and_the_worker_lives(
    bridge: BridgeClient, session: str, tmp_path: Path
) -> None:
    pid = bridge.ok("get_info")["pid"]
    missing = str(tmp_path / "no-such-model")
    error = bridge.error("load_model", {"model": missing}, session)
    assert error["category"] == "not_found" and missing in error["message"]
    error = bridge.error("load_model", {"model": "org/not-downloaded"}, session)
    assert error["category"] == "not_found" and "org/not-downloaded" in error["message"]
    assert "HF_HUB_OFFLINE=1" in error["message"]
    (tmp_path / "empty").mkdir()
    error = bridge.error("load_model", {"model": str(tmp_path / "empty")}, session)
    assert error["category"] == "not_found" and "config.json" in error["message"]
    assert bridge.ok("get_info")["pid"] == pid
    assert load(bridge, session, "tiny-gpt2")["model_id"] == "tiny-gpt2"


def test_unknown_task_and_wrong_task(bridge: BridgeClient, session: str) -> None:
    error = bridge.error("load_model", {"model": "tiny-gpt2", "task": "summarise"}, session)
    assert error["category"] == "invalid_argument" and "text-generation" in error["message"]
    error = bridge.error("load_model", {"model": "tiny-gpt2", "task": "fill-mask"}, session)
    assert error["category"] == "invalid_argument"
    error = bridge.error("load_model", {"model": "tiny-gpt2", "dtype": "int3"}, session)
    assert error["category"] == "invalid_argument"


def test_cuda_unavailable_is_invalid_configuration(bridge: BridgeClient, session: str) -> None:
    if bridge.ok("get_info")["capabilities"]["cuda"]:
        pytest.skip("this machine has a GPU")
    error = bridge.error("load_model", {"model": "tiny-gpt2", "device": "cuda"}, session)
    assert error["category"] == "invalid_configuration" and "CUDA" in error["message"]


def test_bad_arguments_are_invalid(bridge: BridgeClient, session: str) -> None:
    load(bridge, session, "tiny-gpt2")
    for args in (
        {"model_id": "tiny-gpt2", "inputs": []},
        {"model_id": "tiny-gpt2", "inputs": "x", "seed": "seven"},
        {"model_id": "tiny-gpt2", "inputs": "x", "kwargs": {"temperature": "hot"}},
        {"model_id": "tiny-gpt2", "inputs": "x", "kwargs": {"max_new_tokens": 10**9}},
        {"model_id": "tiny-gpt2", "inputs": "x", "batch_size": 0},
        {"model_id": "tiny-gpt2", "inputs": "x", "kwargs": {"no_such_setting": 1}},
    ):
        error = bridge.error("run_pipeline", args, session, timeout=CALL)
        assert error["category"] == "invalid_argument", (args, error)
    error = bridge.error("run_pipeline", {"inputs": "x"}, session)
    assert error["category"] == "invalid_argument"


@pytest.mark.parametrize(
    ("options", "phrase"),
    [
        ({"model_dirs": ["/no/such/dir"]}, "/no/such/dir"),
        ({"cache_dir": "/no/such/cache"}, "/no/such/cache"),
        ({"colour": "blue"}, "unknown keys"),
        ({"device": "tpu"}, "options.device"),
        ({"max_batch": 0}, "options.max_batch"),
    ],
)
def test_bad_options_fail_init(options: dict[str, Any], phrase: str, tmp_path: Path) -> None:
    worker = Worker(
        TRANSFORMERS_BRIDGE,
        "json",
        env=worker_env(tmp_path),
        stderr_path=tmp_path / "stderr.txt",
        worker_id="tf-bad",
    )
    try:
        worker.hello(timeout=SLOW_TIMEOUT)
        response = worker.call("init", {"options": options}, timeout=SLOW_TIMEOUT)
        assert response["success"] is False
        assert response["error"]["category"] == "invalid_configuration"
        assert phrase in response["error"]["message"]
    finally:
        worker.kill()
