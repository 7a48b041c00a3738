"""``execute_program`` with ``"stream": true`` (``dspy.streamify`` over chunks), and the
cost of every result: LiteLLM's price where the model has one, ``null`` (with the usage
tokens) where it does not. Against the mock OpenAI server, which streams one token a chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai_server import MockServer

from .conftest import DSPY_BRIDGE, SLOW_TIMEOUT, BridgeClient, start_bridge


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeClient]:
    client = start_bridge(DSPY_BRIDGE, "msgpack", tmp_path_factory.mktemp("dspy-stream"))
    try:
        yield client
    finally:
        client.worker.kill()


def _lm(server: MockServer, model: str) -> dict[str, Any]:
    return {"model": model, "api_base": server.url, "num_retries": 0, "cache": False}


def test_stream_sends_the_text_as_it_comes(bridge: BridgeClient, mock_server: MockServer) -> None:
    s = "stream"
    bridge.ok("configure_lm", _lm(mock_server, "openai/gpt-test"), s)
    bridge.ok(
        "create_program",
        {"program_id": "cot", "module": "chain_of_thought", "signature": "question -> answer"},
        s,
    )
    args = {"program_id": "cot", "inputs": {"question": "Say it"}, "stream": True}
    request_id = bridge.worker.start_request("execute_program", args, s)
    response, frames = bridge.worker.wait_response(request_id, timeout=SLOW_TIMEOUT)
    assert response["success"] is True, response
    result = response["result"]
    chunks = [f["data"] for f in frames if f.get("type") == "chunk"]
    by_field: dict[str, str] = {}
    for chunk in chunks:
        assert chunk["predictor"] == "predict"
        by_field[chunk["field"]] = by_field.get(chunk["field"], "") + chunk["chunk"]
    assert by_field["answer"] == result["outputs"]["answer"] == "mock answer"
    assert by_field["reasoning"] == result["reasoning"]
    assert len([c for c in chunks if c["field"] == "answer"]) == 2  # one token a chunk
    assert mock_server.chat_requests()[-1]["json"]["stream"] is True


def test_stream_must_be_a_boolean(bridge: BridgeClient) -> None:
    bridge.ok("create_program", {"program_id": "p", "signature": "q -> a"}, "flag")
    error = bridge.error(
        "execute_program", {"program_id": "p", "inputs": {"q": "x"}, "stream": "yes"}, "flag"
    )
    assert error["category"] == "invalid_argument" and "stream" in error["message"]


def test_cost_is_litellms_price_or_null(bridge: BridgeClient, mock_server: MockServer) -> None:
    for session, model in (("priced", "openai/gpt-4o-mini"), ("unpriced", "openai/gpt-test")):
        bridge.ok("configure_lm", _lm(mock_server, model), session)
        bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, session)
        result = bridge.ok(
            "execute_program", {"program_id": "p", "inputs": {"question": "hi"}}, session
        )
        usage = result["usage"][model]
        assert usage["total_tokens"] > 0
        if session == "priced":
            assert isinstance(result["cost"], float) and result["cost"] > 0, result
        else:
            assert result["cost"] is None, result
