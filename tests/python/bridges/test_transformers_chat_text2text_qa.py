"""The Transformers bridge's chat messages, text-to-text tasks and question answering, on the
tiny local models of scripts/build_tiny_models.py (tiny-gpt2 with its chat template, tiny-t5,
tiny-bert-qa: random weights, so the tests check shapes and plumbing, not wisdom), through one
real worker."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import SLOW_TIMEOUT, BridgeClient
from .test_transformers_bridge import _build_script, _start, stream

if not all(importlib.util.find_spec(name) for name in ("torch", "transformers", "tokenizers")):
    pytest.skip("the Transformers bridge needs torch and transformers", allow_module_level=True)

CALL = 60.0
CHAT = [
    {"role": "system", "content": "You are brief."},
    {"role": "user", "content": "Say hello."},
]
CONTEXT = "The Eiffel Tower was completed in 1889 in Paris."


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeClient]:
    from worker_client import ROOT

    out = Path(ROOT / "build" / "models")
    _build_script().build(out, quiet=True)
    options = {"model_dirs": [str(out)]}
    worker, client = _start("msgpack", tmp_path_factory.mktemp("tf-chat"), options, "tf-chat")
    try:
        worker.hello(timeout=SLOW_TIMEOUT)
        client.ok("init", {"options": options}, timeout=180.0)
        for model, task in (
            ("tiny-gpt2", None),
            ("tiny-t5", "summarization"),
            ("tiny-bert-qa", None),
            ("tiny-bert-sentiment", None),
        ):
            args: dict[str, Any] = {"model": model, "model_id": task or model}
            if task:
                args["task"] = task
            client.ok("load_model", args, timeout=CALL)
        client.ok("load_model", {"model": "tiny-t5", "task": "translation", "model_id": "tr"})
        client.ok("load_model", {"model": "tiny-t5", "model_id": "t2t"})  # inferred
        yield client
    finally:
        worker.kill()


def test_chat_messages_go_through_the_chat_template(bridge: BridgeClient) -> None:
    settings = {"max_new_tokens": 4, "min_new_tokens": 4}
    result = bridge.ok(
        "run_pipeline", {"model_id": "tiny-gpt2", "inputs": CHAT, "kwargs": settings, "seed": 1}
    )
    assert result["batch"] is False and result["count"] == 1
    answer = result["outputs"][0]
    assert answer["messages"][:2] == CHAT
    assert answer["messages"][2] == {"role": "assistant", "content": answer["generated_text"]}
    assert "<|user|>" not in answer["generated_text"]  # the reply only, not the template
    batch = bridge.ok(
        "run_pipeline",
        {"model_id": "tiny-gpt2", "inputs": [CHAT, CHAT[1:]], "kwargs": settings, "seed": 1},
    )
    assert batch["batch"] is True and batch["count"] == 2
    assert batch["outputs"][0][0]["generated_text"] == answer["generated_text"]  # same seed
    args = {"model_id": "tiny-gpt2", "messages": CHAT, "kwargs": settings, "seed": 1}
    response, chunks = stream(bridge, None, args)  # type: ignore[arg-type]
    assert response["success"] is True, response.get("error")
    tokens = response["result"]
    assert tokens["text"] == answer["generated_text"]
    assert "".join(c["data"]["text"] for c in chunks) == tokens["text"]
    rendered = bridge.ok("tokenize", {"model_id": "tiny-gpt2", "text": "<|assistant|>\n"})
    assert tokens["prompt_tokens"] > rendered["count"]


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"role": "user", "content": "hi"}, "wrap it in a list"),
        ([{"role": "robot", "content": "hi"}], "role must be one of"),
        ([{"role": "user"}], "content must be a string"),
        ([{"role": "user", "content": "hi", "extra": 1}], "unknown keys ['extra']"),
        (["hi", {"role": "user", "content": "hi"}], "inputs[0] is a str, not a message"),
        ([[{"role": "user", "content": "hi"}], []], "inputs[1] must be a non-empty list"),
    ],
)
def test_bad_messages_are_invalid_argument(
    bridge: BridgeClient, inputs: Any, expected: str
) -> None:
    error = bridge.error("run_pipeline", {"model_id": "tiny-gpt2", "inputs": inputs})
    assert error["category"] == "invalid_argument"
    assert expected in error["message"], error["message"]


def test_messages_need_a_chat_template_and_a_generator(bridge: BridgeClient) -> None:
    error = bridge.error("run_pipeline", {"model_id": "tiny-bert-sentiment", "inputs": CHAT})
    assert error["category"] == "invalid_argument" and "text-generation" in error["message"]
    both = bridge.error(
        "generate_stream", {"model_id": "tiny-gpt2", "prompt": "x", "messages": CHAT}
    )
    assert both["category"] == "invalid_argument" and "one of them" in both["message"]


def test_summarization_translation_and_text2text(bridge: BridgeClient) -> None:
    settings = {"max_new_tokens": 3, "min_new_tokens": 3}
    summary = bridge.ok(
        "run_pipeline",
        {"model_id": "summarization", "inputs": [CONTEXT, "Another text."], "kwargs": settings},
    )
    assert summary["task"] == "summarization" and summary["count"] == 2
    assert all(isinstance(item[0]["summary_text"], str) for item in summary["outputs"])
    translated = bridge.ok(
        "run_pipeline",
        {"model_id": "tr", "inputs": CONTEXT, "kwargs": {**settings, "target_lang": "French"}},
    )
    assert isinstance(translated["outputs"][0]["translation_text"], str)
    generated = bridge.ok(
        "run_pipeline", {"model_id": "t2t", "inputs": CONTEXT, "kwargs": settings}
    )
    assert generated["task"] == "text2text-generation"
    assert isinstance(generated["outputs"][0]["generated_text"], str)
    error = bridge.error("run_pipeline", {"model_id": "tr", "inputs": CONTEXT})
    assert error["category"] == "invalid_argument" and "target_lang" in error["message"]
    error = bridge.error(
        "run_pipeline", {"model_id": "t2t", "inputs": CONTEXT, "kwargs": {"beam": 2}}
    )
    assert error["category"] == "invalid_argument" and "['beam']" in error["message"]


def test_question_answering_finds_a_span_of_the_context(bridge: BridgeClient) -> None:
    question = {"question": "When was the tower completed?", "context": CONTEXT}
    result = bridge.ok("run_pipeline", {"model_id": "tiny-bert-qa", "inputs": question})
    answer = result["outputs"]
    assert result["task"] == "question-answering"
    assert CONTEXT[answer["start"] : answer["end"]] == answer["answer"] != ""
    assert 0 < answer["score"] <= 1
    top = bridge.ok(
        "run_pipeline",
        {"model_id": "tiny-bert-qa", "inputs": [question, question], "kwargs": {"top_k": 3}},
    )
    assert top["batch"] is True and [len(a) for a in top["outputs"]] == [3, 3]
    scores = [a["score"] for a in top["outputs"][0]]
    assert scores == sorted(scores, reverse=True) and top["outputs"][0][0] == answer
    for bad in ("When?", {"question": "When?"}, [], {"question": "", "context": CONTEXT}):
        error = bridge.error("run_pipeline", {"model_id": "tiny-bert-qa", "inputs": bad})
        assert error["category"] == "invalid_argument", bad
