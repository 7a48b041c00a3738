"""The LangChain bridge, driven over the protocol as the host drives it.

Offline tests run against LangChain's offline fake chat model (no options.model) and the
deterministic local embedding, in both codecs. The HTTP tests point the bridge at the mock
OpenAI server (langchain-openai → openai → HTTP), with the key in an environment variable of
the worker, and finally check that the planted key never appears in any answer, chunk,
error or line of the worker's stderr.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import MockServer, start_server
from worker_client import Worker

from .conftest import (
    LANGCHAIN_BRIDGE,
    PLANTED_KEY,
    PLANTED_KEY_ENV,
    SLOW_TIMEOUT,
    BridgeClient,
    start_bridge,
    wait_for_chat_request,
    worker_env,
)

OFFLINE = "offline GenericFakeChatModel"
LOCAL_EMBEDDINGS = "local-hashing"

DOCUMENTS = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Mount Fuji is the highest mountain in Japan, at 3776 metres.",
    "The Amazon river carries more water than any other river on Earth.",
]
METADATAS = [{"source": "paris.txt"}, {"source": "japan.txt"}, {"source": "amazon.txt"}]


@pytest.fixture(scope="module", params=["json", "msgpack"])
def bridge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeClient]:
    """One offline LangChain worker per codec; each test uses its own session."""
    client = start_bridge(
        LANGCHAIN_BRIDGE,
        request.param,
        tmp_path_factory.mktemp("langchain-offline"),
        worker_id="langchain-t",
    )
    try:
        yield client
    finally:
        client.worker.kill()
    assert PLANTED_KEY not in "".join(client.transcript)


@pytest.fixture
def session(request: pytest.FixtureRequest) -> str:
    return request.node.name


def stream(
    client: BridgeClient, args: dict[str, Any], session: str, command: str = "stream"
) -> tuple[list[Any], Any]:
    """Run a streaming command; return the chunk data in order and the final result."""
    worker = client.worker
    request_id = worker.start_request(command, args, session)
    response, before = worker.wait_response(request_id, timeout=SLOW_TIMEOUT)
    client.transcript.append(json.dumps([*before, response], default=repr))
    assert response["success"] is True, response.get("error")
    assert [m["type"] for m in before] == ["chunk"] * len(before)
    assert [m["seq"] for m in before] == list(range(len(before)))
    assert all(m["id"] == request_id for m in before)
    return [m["data"] for m in before], response["result"]


def tokens(chunks: list[Any]) -> str:
    return "".join(c["token"] for c in chunks if "token" in c)


# --------------------------------------------------------------------------- offline


def test_info_and_offline_default(bridge: BridgeClient) -> None:
    info = bridge.ok("get_info")
    assert info["framework"] == "langchain"
    assert info["framework_version"].startswith("1.")
    for name in (
        "configure_model",
        "get_model",
        "create_chain",
        "get_chain_info",
        "invoke",
        "batch",
        "stream",
        "create_conversation",
        "chat",
        "get_history",
        "clear_history",
        "create_retriever",
        "retrieve",
        "create_agent",
        "list_tools",
        "list_chains",
        "delete_chain",
    ):
        assert name in info["commands"]
    assert info["capabilities"]["streaming"] is True
    assert set(info["capabilities"]["chain_types"]) == {
        "llm",
        "rag",
        "agent",
        "conversation",
        "runnable",
    }
    model = bridge.ok("get_model")
    assert model["model"] == OFFLINE and model["offline"] is True
    assert model["scope"] == "default" and "no API key" in model["note"]
    tools = {t["name"] for t in bridge.ok("list_tools")["tools"]}
    assert tools == {"calculator", "retriever"}


def test_create_chain_schemas_and_invoke_with_config(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok(
        "create_chain",
        {
            "chain_id": "qa",
            "prompt": [
                {"role": "system", "template": "You are a {persona}."},
                {"role": "user", "template": "{question}"},
            ],
        },
        session,
    )
    assert created["chain_id"] == "qa" and created["type"] == "llm"
    assert created["input_variables"] == ["persona", "question"]
    schema = created["input_schema"]
    assert schema["type"] == "object" and sorted(schema["required"]) == ["persona", "question"]
    assert schema["properties"]["question"]["type"] == "string"
    assert created["output_schema"]["type"] == "string"
    info = bridge.ok("get_chain_info", {"chain_id": "qa"}, session)
    assert info["input_schema"] == schema and info["output_schema"] == created["output_schema"]
    assert info["model"] == OFFLINE and info["offline"] is True
    result = bridge.ok(
        "invoke",
        {
            "chain_id": "qa",
            "input": {"persona": "math tutor", "question": "What is 6*7?"},
            "config": {"tags": ["test", "offline"], "metadata": {"user": "u1"}, "run_name": "ask"},
        },
        session,
    )
    assert result["output"] == "42"
    assert result["model"] == OFFLINE and result["offline"] is True
    assert result["llm_calls"] == 1 and result["usage"][OFFLINE]["total_tokens"] > 0
    run = result["run"]
    assert run["name"] == "ask" and sorted(run["tags"]) == ["offline", "test"]
    assert run["metadata"] == {"user": "u1"} and run["id"]
    assert bridge.ok("get_chain_info", {"chain_id": "qa"}, session)["calls"] == 1


def test_template_string_takes_a_bare_input(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok("create_chain", {"chain_id": "t", "prompt": "Compute {expr}"}, session)
    assert created["input_variables"] == ["expr"]
    assert bridge.ok("invoke", {"chain_id": "t", "input": "2+3"}, session)["output"] == "5"
    plain = bridge.ok("invoke", {"chain_id": "t", "input": {"expr": "nothing"}}, session)
    assert plain["output"] == "offline answer"


def test_mustache_prompt(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok(
        "create_chain",
        {
            "chain_id": "m",
            "template_format": "mustache",
            "prompt": [
                {"role": "system", "template": "Answer {{style}}; braces {like this} stay."},
                {"role": "user", "template": "{{question}}"},
            ],
        },
        session,
    )
    assert created["input_variables"] == ["question", "style"]
    result = bridge.ok(
        "invoke", {"chain_id": "m", "input": {"style": "briefly", "question": "7*6"}}, session
    )
    assert result["output"] == "42"


def test_missing_prompt_variable_is_invalid_argument(bridge: BridgeClient, session: str) -> None:
    bridge.ok("create_chain", {"chain_id": "two", "prompt": "{a} and {b}"}, session)
    error = bridge.error("invoke", {"chain_id": "two", "input": {"a": "x"}}, session)
    assert error["type"] == "KeyError" and error["category"] == "invalid_argument"
    assert "missing variables" in error["message"] and "'b'" in error["message"]
    error = bridge.error("stream", {"chain_id": "two", "input": {"b": "x"}}, session)
    assert error["type"] == "KeyError" and error["category"] == "invalid_argument"


def test_json_and_structured_output(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok(
        "create_chain",
        {"chain_id": "js", "prompt": "Reply in JSON. {question}", "output": "json"},
        session,
    )
    assert created["output_schema"]["title"] == "JsonOutputParserOutput"
    assert bridge.ok("invoke", {"chain_id": "js", "input": "What is 2+3?"}, session)["output"] == {
        "answer": "5"
    }
    schema = {
        "title": "Sum",
        "type": "object",
        "properties": {
            "answer": {"type": "integer", "description": "the sum"},
            "explanation": {"type": "string"},
            "exact": {"type": "boolean"},
        },
        "required": ["answer", "explanation"],
    }
    created = bridge.ok(
        "create_chain",
        {"chain_id": "st", "prompt": "{question}", "output": "structured", "schema": schema},
        session,
    )
    assert created["output_schema"]["properties"] == schema["properties"]
    assert created["output_schema"]["title"] == "Sum"
    result = bridge.ok("invoke", {"chain_id": "st", "input": "What is 20+22?"}, session)
    assert result["output"] == {"answer": 42, "explanation": "42", "exact": True}
    chunks, streamed = stream(bridge, {"chain_id": "st", "input": "What is 1+1?"}, session)
    assert chunks and chunks[-1] == {"partial": streamed["output"]}
    assert streamed["output"]["answer"] == 2


def test_unparsable_answer_is_output_parser_exception(bridge: BridgeClient, session: str) -> None:
    # The offline model answers JSON only when the prompt asks for it: this one does not.
    bridge.ok("create_chain", {"chain_id": "j", "prompt": "{q}", "output": "json"}, session)
    error = bridge.error("invoke", {"chain_id": "j", "input": "Say hello"}, session)
    assert error["type"] == "langchain_core.OutputParserException"
    assert error["category"] == "model_error"


def test_batch_keeps_order_and_reports_item_errors(bridge: BridgeClient, session: str) -> None:
    bridge.ok("create_chain", {"chain_id": "calc", "prompt": "What is {expr}?"}, session)
    inputs: list[Any] = [{"expr": f"{n}*{n}"} for n in range(6)]
    inputs.insert(3, {"wrong": "variable"})
    result = bridge.ok(
        "batch",
        {
            "chain_id": "calc",
            "inputs": inputs,
            "max_concurrency": 3,
            "config": {"tags": ["batch"]},
        },
        session,
    )
    outputs = [r.get("output") for r in result["results"]]
    assert outputs == ["0", "1", "4", None, "9", "16", "25"]
    error = result["results"][3]["error"]
    assert error["type"] == "KeyError" and error["category"] == "invalid_argument"
    assert error["retryable"] is False
    assert result["succeeded"] == 6 and result["failed"] == 1
    assert result["max_concurrency"] == 3 and result["llm_calls"] == 6
    assert len(result["runs"]) == 7
    assert bridge.ok("get_chain_info", {"chain_id": "calc"}, session)["calls"] == 7


def test_stream_sends_tokens_then_the_result(bridge: BridgeClient, session: str) -> None:
    bridge.ok(
        "configure_model",
        {"offline": True, "replies": ["Streaming works one token at a time."]},
        session,
    )
    bridge.ok("create_chain", {"chain_id": "s", "prompt": "{topic}"}, session)
    chunks, result = stream(bridge, {"chain_id": "s", "input": "anything"}, session)
    assert [c["token"] for c in chunks] == [
        "Streaming",
        " works",
        " one",
        " token",
        " at",
        " a",
        " time.",
    ]
    assert result["output"] == "Streaming works one token at a time."
    assert result["chunks"] == len(chunks) and result["model"] == OFFLINE


def test_streamed_usage_only_when_stream_usage_asks(bridge: BridgeClient, session: str) -> None:
    bridge.ok("configure_model", {"offline": True}, session)
    bridge.ok("create_chain", {"chain_id": "u", "prompt": "{topic}"}, session)
    # Not asked for: a streamed answer has no usage (a real provider would send none) ...
    _, streamed = stream(bridge, {"chain_id": "u", "input": "What is 2+3?"}, session)
    assert "usage" not in streamed and streamed["llm_calls"] == 1
    # ... while invoke always reports it.
    invoked = bridge.ok("invoke", {"chain_id": "u", "input": "What is 2+3?"}, session)
    assert invoked["usage"][OFFLINE]["total_tokens"] > 0
    # stream_usage: true asks for it.
    bridge.ok("configure_model", {"offline": True, "stream_usage": True}, session)
    _, asked = stream(bridge, {"chain_id": "u", "input": "What is 2+3?"}, session)
    assert asked["usage"][OFFLINE]["total_tokens"] > 0


def test_scripted_offline_replies(bridge: BridgeClient, session: str) -> None:
    configured = bridge.ok(
        "configure_model", {"offline": True, "replies": ["first", "second"]}, session
    )
    assert configured["scope"] == "session" and configured["settings"]["replies"] == 2
    bridge.ok("create_chain", {"chain_id": "c", "prompt": "{x}"}, session)
    answers = [
        bridge.ok("invoke", {"chain_id": "c", "input": "What is 1+2?"}, session)["output"]
        for _ in range(3)
    ]
    assert answers == ["first", "second", "3"]  # then computed replies
    assert bridge.ok("configure_model", {"reset": True}, session)["scope"] == "default"
    error = bridge.error("configure_model", {"replies": ["x"]}, session)
    assert error["category"] == "invalid_argument" and "offline" in error["message"]


def test_conversation_history_is_per_session(bridge: BridgeClient) -> None:
    for user in ("alice", "bob"):
        created = bridge.ok(
            "create_conversation",
            {"conversation_id": "talk", "system_prompt": "You are terse."},
            user,
        )
        assert created["conversation_id"] == "talk" and created["type"] == "conversation"
        assert created["input_schema"]["required"] == ["input"]
    first = bridge.ok("chat", {"conversation_id": "talk", "message": "I am Alice."}, "alice")
    assert first["reply"] == "offline answer" and first["turns"] == 1
    assert first["history_length"] == 2
    second = bridge.ok("chat", {"conversation_id": "talk", "message": "What is 2+5?"}, "alice")
    assert second["reply"] == "7" and second["turns"] == 2
    # the model saw the earlier turn: more prompt words than the first time
    assert second["usage"][OFFLINE]["input_tokens"] > first["usage"][OFFLINE]["input_tokens"]
    bridge.ok("chat", {"conversation_id": "talk", "message": "I am Bob."}, "bob")
    alice = bridge.ok("get_history", {"conversation_id": "talk"}, "alice")
    bob = bridge.ok("get_history", {"conversation_id": "talk"}, "bob")
    assert [m["content"] for m in alice["messages"]] == [
        "I am Alice.",
        "offline answer",
        "What is 2+5?",
        "7",
    ]
    assert [m["role"] for m in alice["messages"]] == ["user", "assistant"] * 2
    assert [m["content"] for m in bob["messages"]] == ["I am Bob.", "offline answer"]
    missing = bridge.error("get_history", {"conversation_id": "talk"}, "carol")
    assert missing["category"] == "not_found"
    assert bridge.ok("get_history", {"conversation_id": "talk", "limit": 1}, "alice")[
        "messages"
    ] == [{"role": "assistant", "content": "7"}]
    assert bridge.ok("clear_history", {"conversation_id": "talk"}, "alice")["cleared"] == 4
    assert bridge.ok("get_history", {"conversation_id": "talk"}, "alice")["count"] == 0
    assert bridge.ok("get_history", {"conversation_id": "talk"}, "bob")["count"] == 2
    bridge.ok("cleanup_session", {"session_id": "alice"})
    assert (
        bridge.error("chat", {"conversation_id": "talk", "message": "hi"}, "alice")["category"]
        == "not_found"
    )


def test_conversation_from_a_chain_streams_and_trims(bridge: BridgeClient, session: str) -> None:
    bridge.ok(
        "create_chain",
        {
            "chain_id": "base",
            "prompt": [
                {"role": "system", "template": "You speak {language}."},
                {"role": "placeholder", "variable": "history"},
                {"role": "user", "template": "{input}"},
            ],
        },
        session,
    )
    bridge.ok(
        "create_conversation",
        {"conversation_id": "conv", "chain_id": "base", "max_messages": 4},
        session,
    )
    for n in range(3):
        reply = bridge.ok(
            "chat",
            {
                "conversation_id": "conv",
                "message": f"What is {n}+10?",
                "variables": {"language": "English"},
            },
            session,
        )
        assert reply["reply"] == str(n + 10)
    history = bridge.ok("get_history", {"conversation_id": "conv"}, session)
    assert history["count"] == 4 and history["turns"] == 3  # the oldest turn was dropped
    assert history["messages"][0]["content"] == "What is 1+10?"
    chunks, result = stream(
        bridge,
        {"chain_id": "conv", "input": {"input": "What is 4+4?", "language": "English"}},
        session,
    )
    assert tokens(chunks) == "8" and result["output"] == "8" and result["turns"] == 4
    chunks, result = stream(
        bridge,
        {
            "conversation_id": "conv",
            "message": "What is 5+5?",
            "variables": {"language": "English"},
            "stream": True,
        },
        session,
        command="chat",
    )
    assert tokens(chunks) == "10" and result["reply"] == "10" and result["turns"] == 5
    error = bridge.error(
        "create_conversation", {"conversation_id": "x", "chain_id": "nope"}, session
    )
    assert error["category"] == "not_found"
    bridge.ok("create_chain", {"chain_id": "flat", "prompt": "{input}"}, session)
    error = bridge.error(
        "create_conversation", {"conversation_id": "x", "chain_id": "flat"}, session
    )
    assert error["category"] == "invalid_argument" and "history" in error["message"]
    error = bridge.error("batch", {"chain_id": "conv", "inputs": ["a"]}, session)
    assert error["category"] == "invalid_argument"


def test_retriever_and_rag_find_the_right_source(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok(
        "create_retriever",
        {"retriever_id": "kb", "texts": DOCUMENTS, "metadatas": METADATAS, "k": 2},
        session,
    )
    assert created["documents"] == 3 and created["offline"] is True
    assert created["embeddings"].startswith(LOCAL_EMBEDDINGS)
    found = bridge.ok(
        "retrieve", {"retriever_id": "kb", "query": "highest mountain in Japan"}, session
    )
    assert found["count"] == 2 and found["documents"][0]["metadata"] == {"source": "japan.txt"}
    assert found["documents"][0]["score"] > found["documents"][1]["score"]
    rag = bridge.ok(
        "create_chain", {"chain_id": "rag", "type": "rag", "retriever_id": "kb"}, session
    )
    assert rag["input_schema"]["required"] == ["question"]
    assert set(rag["output_schema"]["properties"]) == {"output", "sources"}
    result = bridge.ok(
        "invoke", {"chain_id": "rag", "input": "When was the Eiffel Tower completed?"}, session
    )
    assert result["sources"][0]["metadata"]["source"] == "paris.txt"
    assert result["sources"][0]["text"] == DOCUMENTS[0]
    assert "1889" in result["output"]  # answered from the retrieved context
    assert len(result["sources"]) == 2
    chunks, streamed = stream(
        bridge,
        {"chain_id": "rag", "input": {"question": "Which river carries most water?"}},
        session,
    )
    assert chunks[0]["sources"][0]["metadata"]["source"] == "amazon.txt"
    assert tokens(chunks) == streamed["output"] and "Amazon" in streamed["output"]
    assert streamed["sources"] == chunks[0]["sources"]
    listed = bridge.ok("list_retrievers", None, session)["retrievers"]
    assert [r["retriever_id"] for r in listed] == ["kb"] and listed[0]["queries"] == 3


def test_agent_calls_the_calculator(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok("create_agent", {"agent_id": "math", "tools": ["calculator"]}, session)
    assert created["type"] == "agent" and created["tools"] == ["calculator"]
    assert "input" in created["input_schema"]["properties"]
    result = bridge.ok("invoke", {"chain_id": "math", "input": "What is 6*7?"}, session)
    assert result["output"] == "The answer is 42."
    assert result["tool_calls"] == [
        {
            "name": "calculator",
            "args": {"expression": "6*7"},
            "id": result["tool_calls"][0]["id"],
            "result": "42",
            "status": "success",
        }
    ]
    assert result["llm_calls"] == 2 and result["steps"] == 2
    chunks, streamed = stream(
        bridge, {"chain_id": "math", "input": {"input": "What is (2+3)*4?"}}, session
    )
    kinds = [next(iter(c)) for c in chunks]
    assert kinds[:2] == ["tool_call", "tool_result"] and set(kinds[2:]) == {"token"}
    assert chunks[1]["tool_result"]["result"] == "20"
    assert tokens(chunks) == streamed["output"] == "The answer is 20."


def test_agent_searches_a_session_retriever(bridge: BridgeClient, session: str) -> None:
    bridge.ok(
        "create_retriever",
        {"retriever_id": "facts", "texts": DOCUMENTS, "metadatas": METADATAS},
        session,
    )
    bridge.ok(
        "create_agent",
        {
            "agent_id": "helper",
            "tools": ["calculator", {"name": "retriever", "retriever_id": "facts", "k": 1}],
        },
        session,
    )
    result = bridge.ok(
        "invoke", {"chain_id": "helper", "input": "How high is Mount Fuji?"}, session
    )
    call = result["tool_calls"][0]
    assert call["name"] == "search_facts" and call["args"] == {"query": "How high is Mount Fuji?"}
    assert call["result"] == DOCUMENTS[1]
    assert "3776" in result["output"]
    error = bridge.error(
        "create_agent",
        {"tools": [{"name": "retriever", "retriever_id": "missing"}]},
        session,
    )
    assert error["category"] == "not_found"


def test_list_delete_and_not_found(bridge: BridgeClient, session: str) -> None:
    bridge.ok("create_chain", {"chain_id": "one", "prompt": "{x}"}, session)
    bridge.ok("create_agent", {"agent_id": "two"}, session)
    bridge.ok("create_conversation", {"conversation_id": "three"}, session)
    listed = bridge.ok("list_chains", None, session)
    assert {(c["chain_id"], c["type"]) for c in listed["chains"]} == {
        ("one", "llm"),
        ("two", "agent"),
        ("three", "conversation"),
    }
    assert [
        c["chain_id"] for c in bridge.ok("list_chains", {"type": "agent"}, session)["chains"]
    ] == ["two"]
    duplicate = bridge.error("create_chain", {"chain_id": "one", "prompt": "{y}"}, session)
    assert duplicate["category"] == "invalid_argument"
    replaced = bridge.ok(
        "create_chain", {"chain_id": "one", "prompt": "{y}", "replace": True}, session
    )
    assert replaced["input_variables"] == ["y"]
    deleted = bridge.ok("delete_chain", {"conversation_id": "three"}, session)
    assert deleted == {"chain_id": "three", "type": "conversation", "deleted": True}
    for command, args in (
        ("invoke", {"chain_id": "three", "input": {}}),
        ("stream", {"chain_id": "nope", "input": {}}),
        ("batch", {"chain_id": "nope", "inputs": [{}]}),
        ("get_chain_info", {"chain_id": "nope"}),
        ("delete_chain", {"chain_id": "three"}),
        ("chat", {"conversation_id": "three", "message": "hi"}),
        ("retrieve", {"retriever_id": "nope", "query": "x"}),
        ("delete_retriever", {"retriever_id": "nope"}),
        ("create_chain", {"type": "rag", "retriever_id": "nope"}),
    ):
        error = bridge.error(command, args, session)
        assert error["category"] == "not_found", (command, error)
    error = bridge.error("chat", {"conversation_id": "one", "message": "hi"}, session)
    assert error["category"] == "invalid_argument" and "not a conversation" in error["message"]


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("create_chain", {"prompt": 42}),
        ("create_chain", {"prompt": []}),
        ("create_chain", {"prompt": [{"role": "robot", "template": "x"}]}),
        ("create_chain", {"prompt": "{unclosed"}),
        ("create_chain", {"prompt": "{x}", "output": "xml"}),
        ("create_chain", {"prompt": "{x}", "output": "structured"}),
        ("create_chain", {"prompt": "{x}", "output": "structured", "schema": {"type": "array"}}),
        (
            "create_chain",
            {
                "prompt": "{x}",
                "output": "structured",
                "schema": {"properties": {"a": {"type": "banana"}}},
            },
        ),
        ("create_chain", {"prompt": "{x}", "color": "red"}),
        ("create_chain", {"prompt": "{x}", "type": "pipeline"}),
        ("create_chain", {"prompt": "{x}", "chain_id": "bad id!"}),
        ("create_chain", {"prompt": "{x}", "model": {"temperature": "hot"}}),
        ("create_agent", {"tools": ["shell"]}),
        ("create_agent", {"tools": []}),
        ("create_agent", {"tools": [{"name": "retriever"}]}),
        ("create_agent", {"max_iterations": 0}),
        ("create_retriever", {"texts": []}),
        ("create_retriever", {"texts": ["a"], "metadatas": [{}, {}]}),
        ("create_retriever", {"texts": ["a"], "documents": [{"text": "b"}]}),
        ("create_retriever", {"texts": ["a"], "embeddings": {"provider": "magic"}}),
        ("create_retriever", {"texts": ["a"], "k": 0}),
        ("configure_model", {"temperature": 5}),
        ("configure_model", {"model": "x", "wings": 2}),
        ("configure_model", {"base_url": "ftp://example"}),
        ("create_conversation", {"system_prompt": "x", "prompt": "{input}"}),
    ],
)
def test_bad_arguments_are_invalid(bridge: BridgeClient, command: str, args: Any) -> None:
    error = bridge.error(command, args, "bad-arguments")
    assert error["category"] == "invalid_argument", error


def test_bad_run_arguments_are_invalid(bridge: BridgeClient, session: str) -> None:
    bridge.ok("create_chain", {"chain_id": "c", "prompt": "{x}"}, session)
    for command, args in (
        ("invoke", {"chain_id": "c", "input": ["not", "a", "map"]}),
        ("invoke", {"chain_id": "c", "input": {"x": "1"}, "config": {"tags": "one"}}),
        ("invoke", {"chain_id": "c", "input": {"x": "1"}, "config": {"callbacks": []}}),
        ("invoke", {"chain_id": "c", "input": {"x": "1"}, "config": {"max_concurrency": 0}}),
        ("batch", {"chain_id": "c", "inputs": []}),
        ("batch", {"chain_id": "c", "inputs": [{"x": "1"}], "max_concurrency": -1}),
        ("invoke", {"input": {"x": "1"}}),
        ("retrieve", {"retriever_id": "kb"}),
    ):
        error = bridge.error(command, args, session)
        assert error["category"] == "invalid_argument", (command, error)
    assert bridge.error("invoke", "not a map", session)["category"] == "invalid_argument"


def test_sessions_do_not_share_chains(bridge: BridgeClient) -> None:
    bridge.ok("create_chain", {"chain_id": "mine", "prompt": "{x}"}, "sess-a")
    bridge.ok("create_retriever", {"retriever_id": "kb", "texts": ["a text"]}, "sess-a")
    assert bridge.ok("list_chains", None, "sess-b")["chains"] == []
    assert bridge.ok("list_retrievers", None, "sess-b")["retrievers"] == []
    assert "mine" not in [c["chain_id"] for c in bridge.ok("list_chains")["chains"]]
    error = bridge.error("invoke", {"chain_id": "mine", "input": "x"}, "sess-b")
    assert error["category"] == "not_found" and "sess-b" in error["message"]
    bridge.ok("invoke", {"chain_id": "mine", "input": "x"}, "sess-a")
    assert bridge.ok("cleanup_session", {"session_id": "sess-a"})["dropped"] == 2
    assert bridge.ok("list_chains", None, "sess-a")["chains"] == []


def test_chain_with_its_own_model(bridge: BridgeClient, session: str) -> None:
    bridge.ok(
        "create_chain",
        {"chain_id": "pinned", "prompt": "{x}", "model": {"offline": True, "replies": ["pinned"]}},
        session,
    )
    bridge.ok("configure_model", {"offline": True, "replies": ["session"]}, session)
    bridge.ok("create_chain", {"chain_id": "free", "prompt": "{x}"}, session)
    assert bridge.ok("invoke", {"chain_id": "pinned", "input": "q"}, session)["output"] == "pinned"
    assert bridge.ok("invoke", {"chain_id": "free", "input": "q"}, session)["output"] == "session"


def test_keys_are_refused_in_requests(bridge: BridgeClient, session: str) -> None:
    for command, args in (
        ("configure_model", {"model": "gpt-4o-mini", "api_key": PLANTED_KEY}),
        ("create_retriever", {"texts": ["a"], "embeddings": {"api_key": PLANTED_KEY}}),
        ("create_chain", {"prompt": "{x}", "model": {"openai_api_key": PLANTED_KEY}}),
    ):
        error = bridge.error(command, args, session)
        assert error["category"] == "invalid_argument"
        assert "api_key_env" in error["message"] and PLANTED_KEY not in json.dumps(error)
    # A key variable the operator did not pair with OpenAI: refused before anything (even
    # whether the variable is set) is looked at.
    unpaired = bridge.error(
        "configure_model", {"model": "gpt-4o-mini", "api_key_env": "NOT_SET_ANYWHERE"}, session
    )
    assert unpaired["category"] == "invalid_argument"
    assert "NOT_SET_ANYWHERE" in unpaired["message"]
    assert "options.endpoints" in unpaired["message"]
    # No key and no base_url: the offline fake model, and the answer says so.
    fallback = bridge.ok("configure_model", {"model": "gpt-4o-mini"}, session)
    assert fallback["model"] == OFFLINE and "no API key" in fallback["note"]
    embedded = bridge.ok(
        "create_retriever",
        {"texts": ["a text"], "embeddings": {"provider": "openai", "model": "e"}},
        session,
    )
    assert embedded["offline"] is True and "no API key" in embedded["note"]


def test_configure_model_without_a_session_is_refused(bridge: BridgeClient) -> None:
    """The default model is the operator's: no caller changes it for every other caller."""
    for args in ({"offline": True, "replies": ["hijacked"]}, {"reset": True}):
        error = bridge.error("configure_model", args)
        assert error["category"] == "invalid_argument", error
        assert "pass a session" in error["message"] and "options.model" in error["message"]
    bridge.ok("create_chain", {"chain_id": "c", "prompt": "{x}"}, "other-caller")
    answer = bridge.ok("invoke", {"chain_id": "c", "input": "q"}, "other-caller")
    assert answer["output"] != "hijacked" and answer["model"] == OFFLINE


def test_bad_options_fail_init(tmp_path: Path) -> None:
    worker = Worker(
        LANGCHAIN_BRIDGE, "json", env=worker_env(tmp_path), stderr_path=tmp_path / "e.txt"
    )
    try:
        worker.hello(timeout=SLOW_TIMEOUT)
        client = BridgeClient(worker)
        for options in (
            {"bogus": 1},
            {"model": {"model": "x", "temperature": "hot"}},
            {"embeddings": {"provider": "magic"}},
            {"max_concurrency": 0},
            {"endpoints": {"api_key_env": "K"}},
            {"endpoints": [{"base_url": "ftp://x", "api_key_env": "K"}]},
            {"endpoints": [{"base_url": "http://x/v1"}]},
        ):
            error = client.error("init", {"options": options}, timeout=SLOW_TIMEOUT)
            assert error["category"] == "invalid_configuration", error
    finally:
        worker.kill()


# ----------------------------------------------------------------------- real HTTP path


def model_settings(server: MockServer, model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "base_url": server.url,
        "api_key_env": PLANTED_KEY_ENV,
        "max_retries": 0,
        "temperature": 0.0,
        **extra,
    }


@pytest.fixture(scope="module")
def http_bridge(
    tmp_path_factory: pytest.TempPathFactory, mock_server: MockServer
) -> Iterator[BridgeClient]:
    """A worker whose default model (options.model) is the mock server's ``gpt-default``."""
    options = {"model": model_settings(mock_server, "gpt-default"), "max_concurrency": 2}
    client = start_bridge(
        LANGCHAIN_BRIDGE,
        "json",
        tmp_path_factory.mktemp("langchain-http"),
        options=options,
        worker_id="langchain-http",
    )
    try:
        yield client
    finally:
        mock_server.release_streams()
        client.worker.kill()


def test_http_invoke_and_batch(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    mock_server.reset()
    configured = http_bridge.ok(
        "configure_model", model_settings(mock_server), "web", timeout=SLOW_TIMEOUT
    )
    assert configured["model"] == "gpt-test" and configured["offline"] is False
    assert configured["api_key_set"] is True and PLANTED_KEY not in json.dumps(configured)
    http_bridge.ok(
        "create_chain",
        {
            "chain_id": "qa",
            "prompt": [
                {"role": "system", "template": "You are precise."},
                {"role": "user", "template": "{question}"},
            ],
        },
        "web",
    )
    result = http_bridge.ok(
        "invoke", {"chain_id": "qa", "input": "What is 2+2?"}, "web", timeout=SLOW_TIMEOUT
    )
    assert result["output"] == "4" and result["model"] == "gpt-test" and result["offline"] is False
    assert result["usage"]["gpt-test"]["input_tokens"] > 0 and result["llm_calls"] == 1
    requests = mock_server.chat_requests()
    assert len(requests) == 1
    body = requests[0]["json"]
    assert body["model"] == "gpt-test" and body["temperature"] == 0.0
    assert body["messages"] == [
        {"role": "system", "content": "You are precise."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert requests[0]["headers"]["authorization"] == f"Bearer {PLANTED_KEY}"
    batch = http_bridge.ok(
        "batch",
        {"chain_id": "qa", "inputs": [f"What is {n}+1?" for n in range(4)], "max_concurrency": 2},
        "web",
    )
    assert [r["output"] for r in batch["results"]] == ["1", "2", "3", "4"]
    assert batch["succeeded"] == 4 and batch["max_concurrency"] == 2
    assert len(mock_server.chat_requests()) == 5


def test_http_default_model_comes_from_options(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    mock_server.reset()
    assert http_bridge.ok("get_model", None, "defaults")["model"] == "gpt-default"
    http_bridge.ok("create_chain", {"chain_id": "c", "prompt": "{q}"}, "defaults")
    result = http_bridge.ok("invoke", {"chain_id": "c", "input": "hello"}, "defaults")
    assert result["model"] == "gpt-default" and result["output"] == "mock answer"
    assert [r["json"]["model"] for r in mock_server.chat_requests()] == ["gpt-default"]


def test_http_endpoint_without_key_env_gets_no_key(http_bridge: BridgeClient) -> None:
    """A local server (vLLM, Ollama) needs no key: the placeholder is sent, never a real one."""
    with start_server() as (_, local):
        settings = {"model": "local-model", "base_url": local.url}
        configured = http_bridge.ok("configure_model", settings, "local")
        assert configured["offline"] is False and "api_key_set" not in configured
        http_bridge.ok("create_chain", {"chain_id": "c", "prompt": "{q}"}, "local")
        assert http_bridge.ok("invoke", {"chain_id": "c", "input": "1+1"}, "local")["output"] == "2"
        assert local.chat_requests()[0]["headers"]["authorization"] == "Bearer EMPTY"


def test_http_key_goes_only_to_configured_endpoints(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    """Every command that takes a base_url and a key variable: the key goes only where the
    operator paired it (options.model pairs the mock server with it), refused elsewhere."""
    with start_server() as (_, elsewhere):
        for command, args in (
            ("configure_model", model_settings(elsewhere)),
            ("create_chain", {"prompt": "{q}", "model": model_settings(elsewhere)}),
            ("create_agent", {"tools": ["calculator"], "model": model_settings(elsewhere)}),
            ("create_conversation", {"model": model_settings(elsewhere)}),
            (
                "create_retriever",
                {
                    "texts": ["a"],
                    "embeddings": {
                        "provider": "openai",
                        "base_url": elsewhere.url,
                        "api_key_env": PLANTED_KEY_ENV,
                    },
                },
            ),
        ):
            refused = http_bridge.error(command, args, "mallory")
            assert refused["category"] == "invalid_argument", (command, refused)
            message = refused["message"]
            assert elsewhere.url in message and mock_server.url in message, message
            assert "options.endpoints" in message and PLANTED_KEY_ENV in message
        assert elsewhere.requests == []
    # The configured endpoint (spelt with a trailing slash), named without its key variable.
    mock_server.reset()
    settings = {"model": "gpt-paired", "base_url": mock_server.url + "/"}
    configured = http_bridge.ok("configure_model", settings, "trent")
    assert configured["settings"]["api_key_env"] == PLANTED_KEY_ENV
    http_bridge.ok("create_chain", {"chain_id": "c", "prompt": "{q}"}, "trent")
    http_bridge.ok("invoke", {"chain_id": "c", "input": "hi"}, "trent")
    sent = mock_server.chat_requests()
    assert len(sent) == 1 and sent[0]["headers"]["authorization"] == f"Bearer {PLANTED_KEY}"
    # The operator's max_retries (0 here) is what a session gets, and the most it may ask for.
    assert configured["settings"]["max_retries"] == 0
    too_many = http_bridge.error("configure_model", {**settings, "max_retries": 1}, "trent")
    assert too_many["category"] == "invalid_argument"
    assert "options.model.max_retries" in too_many["message"]


def test_openai_key_goes_only_where_paired(tmp_path: Path) -> None:
    """OPENAI_API_KEY in the worker's environment, paired by the operator with a gateway only:
    OpenAI itself does not get it (the offline model instead), nor does a server a request
    names; the client is never left to pick it up from the environment by itself."""
    with start_server() as (_, gateway), start_server() as (_, elsewhere):
        client = start_bridge(
            LANGCHAIN_BRIDGE,
            "json",
            tmp_path,
            options={
                "model": {"offline": True},  # else the default model is OpenAI with that key
                "endpoints": [{"base_url": gateway.url, "api_key_env": "OPENAI_API_KEY"}],
            },
            worker_id="langchain-keys",
            extra_env={"OPENAI_API_KEY": PLANTED_KEY},
        )
        try:
            openai_itself = client.ok("configure_model", {"model": "gpt-4o-mini"}, "s")
            assert openai_itself["model"] == OFFLINE and "no API key" in openai_itself["note"]
            refused = client.error(
                "configure_model", {"model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}, "s"
            )
            assert refused["category"] == "invalid_argument", refused
            assert gateway.url in refused["message"]
            for server, key in ((elsewhere, "EMPTY"), (gateway, PLANTED_KEY)):
                client.ok("configure_model", {"model": "gpt-test", "base_url": server.url}, "s")
                client.ok("create_chain", {"chain_id": "c", "prompt": "{q}", "replace": True}, "s")
                client.ok("invoke", {"chain_id": "c", "input": "hi"}, "s")
                sent = server.chat_requests()
                assert len(sent) == 1 and sent[0]["headers"]["authorization"] == f"Bearer {key}"
            assert PLANTED_KEY not in json.dumps(elsewhere.requests)
        finally:
            client.worker.kill()


def test_http_stream_chunks_arrive_one_by_one(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    """The server holds the stream after its first token: that token must reach the caller
    while the rest of the answer does not exist yet."""
    http_bridge.ok("configure_model", model_settings(mock_server), "stream")
    http_bridge.ok("create_chain", {"chain_id": "s", "prompt": "{topic}"}, "stream")
    mock_server.reset()
    mock_server.script(["Tokens flow as they are made."])
    mock_server.hold_streams(after=1)
    worker = http_bridge.worker
    try:
        request_id = worker.start_request("stream", {"chain_id": "s", "input": "streams"}, "stream")
        first = worker.recv(timeout=SLOW_TIMEOUT)
        assert first["type"] == "chunk" and first["id"] == request_id, first
        assert first["data"] == {"token": "Tokens"}
    finally:
        mock_server.release_streams()
    response, rest = worker.wait_response(request_id, timeout=SLOW_TIMEOUT)
    http_bridge.transcript.append(json.dumps([first, *rest, response]))
    assert response["success"] is True, response
    assert [m["seq"] for m in rest] == list(range(1, len(rest) + 1))
    assert "".join(m["data"]["token"] for m in [first, *rest]) == "Tokens flow as they are made."
    assert response["result"]["output"] == "Tokens flow as they are made."
    assert response["result"]["chunks"] == 6
    assert mock_server.chat_requests()[0]["json"]["stream"] is True
    assert "usage" not in response["result"]  # stream_usage was not asked for


def test_http_stream_usage_when_asked(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    settings = model_settings(mock_server, stream_usage=True)
    http_bridge.ok("configure_model", settings, "stream-usage")
    http_bridge.ok("create_chain", {"chain_id": "s", "prompt": "{topic}"}, "stream-usage")
    mock_server.reset()
    mock_server.script(["Counted tokens."])
    _, result = stream(http_bridge, {"chain_id": "s", "input": "usage"}, "stream-usage")
    assert result["output"] == "Counted tokens."
    assert result["usage"]["gpt-test"]["output_tokens"] > 0
    body = mock_server.chat_requests()[0]["json"]
    assert body["stream_options"] == {"include_usage": True}


def test_http_structured_output(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    http_bridge.ok("configure_model", model_settings(mock_server), "structured")
    schema = {
        "title": "Answer",
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
    }
    http_bridge.ok(
        "create_chain",
        {"chain_id": "st", "prompt": "{question}", "output": "structured", "schema": schema},
        "structured",
    )
    mock_server.reset()
    result = http_bridge.ok("invoke", {"chain_id": "st", "input": "What is 3+4?"}, "structured")
    assert result["output"] == {"answer": "mock answer", "confidence": 0.9}  # the server's
    response_format = mock_server.chat_requests()[0]["json"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Answer"


def test_http_structured_output_is_held_to_its_schema(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    http_bridge.ok("configure_model", model_settings(mock_server), "checked")
    schema = {
        "title": "Answer",
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
    }
    args = {"chain_id": "st", "prompt": "{question}", "output": "structured", "schema": schema}
    http_bridge.ok("create_chain", args, "checked")
    mock_server.reset()
    # The model answers JSON of the wrong shape: a number where a string belongs, and no
    # confidence. The caller gets model_error naming both, never the object.
    mock_server.script(['{"answer": 7}'])
    error = http_bridge.error("invoke", {"chain_id": "st", "input": "What is 3+4?"}, "checked")
    assert error["category"] == "model_error", error
    assert error["type"] == "langchain_core.OutputParserException"
    assert "schema 'Answer'" in error["message"]
    assert "answer: 7 is not of type 'string'" in error["message"]
    assert "'confidence' is a required property" in error["message"]
    # A conforming answer still passes, and the chain keeps working after the failure.
    mock_server.script(['{"answer": "seven", "confidence": 0.5}'])
    result = http_bridge.ok("invoke", {"chain_id": "st", "input": "What is 3+4?"}, "checked")
    assert result["output"] == {"answer": "seven", "confidence": 0.5}


def test_http_conversation_sends_the_history(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    http_bridge.ok("configure_model", model_settings(mock_server), "talk")
    http_bridge.ok("create_conversation", {"conversation_id": "c", "system_prompt": "Hi."}, "talk")
    mock_server.reset()
    mock_server.script(["Nice to meet you, Ann.", "Your name is Ann."])
    http_bridge.ok("chat", {"conversation_id": "c", "message": "My name is Ann."}, "talk")
    reply = http_bridge.ok("chat", {"conversation_id": "c", "message": "Who am I?"}, "talk")
    assert reply["reply"] == "Your name is Ann." and reply["history_length"] == 4
    assert mock_server.chat_requests()[1]["json"]["messages"] == [
        {"role": "system", "content": "Hi."},
        {"role": "user", "content": "My name is Ann."},
        {"role": "assistant", "content": "Nice to meet you, Ann."},
        {"role": "user", "content": "Who am I?"},
    ]


def test_http_rag_with_remote_embeddings(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    mock_server.reset()
    embeddings = {
        "provider": "openai",
        "model": "lexical-embedding",
        "base_url": mock_server.url,
        "api_key_env": PLANTED_KEY_ENV,
        "max_retries": 0,
    }
    created = http_bridge.ok(
        "create_retriever",
        {
            "retriever_id": "kb",
            "documents": [
                {"text": t, "metadata": m, "id": m["source"]}
                for t, m in zip(DOCUMENTS, METADATAS, strict=True)
            ],
            "embeddings": embeddings,
            "k": 1,
        },
        "rag",
        timeout=SLOW_TIMEOUT,
    )
    assert created["offline"] is False and created["embeddings"] == "lexical-embedding"
    http_bridge.ok("configure_model", model_settings(mock_server), "rag")
    http_bridge.ok("create_chain", {"chain_id": "rag", "type": "rag", "retriever_id": "kb"}, "rag")
    result = http_bridge.ok(
        "invoke", {"chain_id": "rag", "input": "Which mountain is the highest in Japan?"}, "rag"
    )
    assert [s["id"] for s in result["sources"]] == ["japan.txt"]
    embedded = [r for r in mock_server.requests if r["path"].endswith("/embeddings")]
    assert len(embedded) == 2  # the documents, then the question
    assert embedded[0]["headers"]["authorization"] == f"Bearer {PLANTED_KEY}"
    system = mock_server.chat_requests()[0]["json"]["messages"][0]["content"]
    assert DOCUMENTS[1] in system and DOCUMENTS[0] not in system


def test_http_agent_calls_the_calculator(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    http_bridge.ok("configure_model", model_settings(mock_server), "agent")
    http_bridge.ok("create_agent", {"agent_id": "math", "tools": ["calculator"]}, "agent")
    mock_server.reset()
    result = http_bridge.ok("invoke", {"chain_id": "math", "input": "What is 12*12?"}, "agent")
    assert result["output"] == "The answer is 144."
    assert [(c["name"], c["args"], c["result"]) for c in result["tool_calls"]] == [
        ("calculator", {"expression": "12*12"}, "144")
    ]
    requests = mock_server.chat_requests()
    assert len(requests) == 2 and result["llm_calls"] == 2
    assert [t["function"]["name"] for t in requests[0]["json"]["tools"]] == ["calculator"]
    assert requests[1]["json"]["messages"][-1]["role"] == "tool"
    chunks, streamed = stream(http_bridge, {"chain_id": "math", "input": "What is 9-4?"}, "agent")
    assert chunks[0]["tool_call"]["name"] == "calculator"
    assert chunks[1]["tool_result"]["result"] == "5"
    assert tokens(chunks) == streamed["output"] == "The answer is 5."


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("model", "extra", "error_type", "category"),
    [
        ("fail-429", {}, "openai.RateLimitError", "rate_limit"),
        ("fail-401", {}, "openai.AuthenticationError", "authentication"),
        ("fail-400", {}, "openai.BadRequestError", "invalid_argument"),
        ("ctx-5", {}, "openai.BadRequestError", "invalid_argument"),
        ("fail-500", {}, "openai.InternalServerError", "model_error"),
        ("slow-3000", {"timeout": 0.5}, "openai.APITimeoutError", "model_error"),
        ("gpt-test", {"base_url": "closed"}, "openai.APIConnectionError", "model_error"),
    ],
)
def test_http_failures_keep_their_types(
    http_bridge: BridgeClient,
    mock_server: MockServer,
    model: str,
    extra: dict[str, Any],
    error_type: str,
    category: str,
) -> None:
    session = f"fail-{model}-{len(extra)}"
    settings = model_settings(mock_server, model, **extra)
    if extra.get("base_url") == "closed":  # a server of the caller's own: no key goes there
        settings["base_url"] = f"http://127.0.0.1:{_closed_port()}/v1"
        del settings["api_key_env"]
    http_bridge.ok("configure_model", settings, session)
    http_bridge.ok("create_chain", {"chain_id": "p", "prompt": "{question}"}, session)
    sent_before = len(mock_server.chat_requests())
    question = "Please explain why the sky is blue in a few words."
    error = http_bridge.error("invoke", {"chain_id": "p", "input": question}, session)
    assert error["type"] == error_type, error
    assert error["category"] == category
    # One request (none to a closed port) and no retry behind the caller's back (max_retries 0).
    expected = 0 if extra.get("base_url") == "closed" else 1
    assert len(mock_server.chat_requests()) - sent_before == expected
    assert PLANTED_KEY not in json.dumps(error)
    if model in ("fail-400", "ctx-5"):
        assert "context length" in error["message"]
    if model == "fail-401":  # the server echoed the key; the bridge did not
        assert "[REDACTED]" in error["message"]
    streamed = http_bridge.error("stream", {"chain_id": "p", "input": question}, session)
    assert streamed["type"] == error_type and streamed["category"] == category


def test_http_batch_reports_failed_items(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    http_bridge.ok("configure_model", model_settings(mock_server), "batch-errors")
    http_bridge.ok("create_chain", {"chain_id": "p", "prompt": "{q}"}, "batch-errors")
    mock_server.reset()
    mock_server.script(["fine", {"status": 429}, "also fine"])
    result = http_bridge.ok(
        "batch",
        {"chain_id": "p", "inputs": ["a", "b", "c"], "max_concurrency": 1},
        "batch-errors",
    )
    assert result["results"][0] == {"output": "fine"}
    assert result["results"][2] == {"output": "also fine"}
    error = result["results"][1]["error"]
    assert error["type"] == "openai.RateLimitError" and error["category"] == "rate_limit"
    assert error["retryable"] is True
    assert result["succeeded"] == 2 and result["failed"] == 1


def test_http_agent_step_limit(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    """A model that never stops calling tools ends in LangGraph's recursion error."""
    http_bridge.ok("configure_model", model_settings(mock_server), "loop")
    http_bridge.ok("create_agent", {"agent_id": "a", "max_iterations": 1}, "loop")
    mock_server.reset()
    call = {"tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}]}
    mock_server.script([call] * 3)
    try:
        error = http_bridge.error("invoke", {"chain_id": "a", "input": "Loop forever"}, "loop")
    finally:
        mock_server.reset()
    assert error["type"] == "langgraph.GraphRecursionError", error
    assert error["category"] == "model_error" and "step limit" in error["message"]


def test_http_cancellation(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    """A cancel message during a model call answers Cancelled, and the worker keeps serving.

    (This worker runs at the bridge's default concurrency, 256; SIGINT cancellation at
    concurrency 1 is tested in test_bridge_workers_async.py.)"""
    http_bridge.ok("configure_model", model_settings(mock_server, "slow-2000"), "cancel")
    http_bridge.ok("create_chain", {"chain_id": "p", "prompt": "{q}"}, "cancel")
    worker = http_bridge.worker
    mock_server.reset()
    request_id = worker.start_request("invoke", {"chain_id": "p", "input": "x"}, "cancel")
    wait_for_chat_request(mock_server)
    worker.send({"type": "cancel", "id": request_id})
    response, _ = worker.wait_response(request_id, timeout=10)
    http_bridge.transcript.append(json.dumps(response))
    assert response["success"] is False and response["error"]["type"] == "Cancelled", response
    assert http_bridge.ok("ping")["status"] == "ok"


def test_http_planted_key_never_leaks(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    """Runs last in this module: every answer so far, errors included, and the stderr."""
    http_bridge.ok("configure_model", model_settings(mock_server, "fail-401"), "leak")
    http_bridge.ok("create_chain", {"chain_id": "p", "prompt": f"Is {PLANTED_KEY} {{q}}"}, "leak")
    info = http_bridge.ok("get_chain_info", {"chain_id": "p"}, "leak")
    assert "[REDACTED]" in json.dumps(info)
    error = http_bridge.error("invoke", {"chain_id": "p", "input": "x"}, "leak")
    assert error["type"] == "openai.AuthenticationError"
    http_bridge.ok("shutdown")
    assert http_bridge.worker.wait(10) == 0
    everything = "".join(http_bridge.transcript)
    assert PLANTED_KEY not in everything
    stderr = http_bridge.stderr()
    assert PLANTED_KEY not in stderr
    assert "[REDACTED]" in stderr  # the 401's original error was logged, redacted


def test_chat_journals_its_history_as_data(bridge: BridgeClient) -> None:
    """A chat turn goes to the host's replay journal as its history, never as a model call."""
    bridge.ok("create_conversation", {"conversation_id": "j"}, "journal")
    response = bridge.call("chat", {"conversation_id": "j", "message": "I am Ada."}, "journal")
    assert response["success"] is True, response
    [entry] = response["session_journal"]
    assert entry["command"] == "restore_history" and entry["object"] == "chain:j/history"
    assert [m["role"] for m in entry["args"]["messages"]] == ["user", "assistant"]
    # What a replay on another worker does: the same conversation, no model asked.
    bridge.ok("create_conversation", {"conversation_id": "j"}, "journal-copy")
    bridge.ok("restore_history", entry["args"], "journal-copy")
    original = bridge.ok("get_history", {"conversation_id": "j"}, "journal")
    copy = bridge.ok("get_history", {"conversation_id": "j"}, "journal-copy")
    assert copy["messages"] == original["messages"] and copy["turns"] == original["turns"] == 1
    bad = bridge.error("restore_history", {"conversation_id": "j", "messages": [{}]}, "journal")
    assert bad["category"] == "invalid_argument"
