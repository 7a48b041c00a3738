"""The LangChain bridge serving the user's own code: runnables and tools by import path.

In process (:mod:`.in_process`), with ``mlbridge.user_code`` declaring the example package
(examples/user_code: ``myteam.chains``) and this directory's test package (``lcteam``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from mlbridge import BridgeError, user_code

from .in_process import InProcessBridge, run

langchain_bridge = pytest.importorskip("langchain_bridge")

ROOT = Path(__file__).resolve().parents[3]
PATHS = [str(ROOT / "examples" / "user_code"), str(Path(__file__).parent / "langchain_user_code")]
MODULES = ["myteam.chains", "lcteam.objects"]
TEXT = "LangChain serves runnables. They have schemas. Workers run them."


@pytest.fixture(autouse=True)
def declared_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's start with --code-path/--code-module; undone after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(user_code, "_declared", user_code._declared)
    user_code.load_user_code(PATHS, MODULES)


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> InProcessBridge:
    bridge = InProcessBridge(langchain_bridge.LangChainBridge, langchain_bridge, monkeypatch)
    bridge.bridge.initialize({})
    return bridge


def call(bridge: InProcessBridge, command: str, args: dict[str, Any], session: str = "s") -> Any:
    return run(bridge.call(command, args, session))


def refused(bridge: InProcessBridge, command: str, args: dict[str, Any]) -> BridgeError:
    with pytest.raises(BridgeError) as caught:
        call(bridge, command, args)
    return caught.value


def test_runnable_by_import_path_with_schemas(bridge: InProcessBridge) -> None:
    created = call(
        bridge, "create_chain", {"chain_id": "sum", "runnable": "myteam.chains:summarize"}
    )
    assert created["type"] == "runnable" and created["runnable"] == "myteam.chains:summarize"
    assert created["input_schema"]["properties"]["text"]["type"] == "string"
    assert created["input_schema"]["required"] == ["text"]
    assert set(created["output_schema"]["properties"]) == {"summary", "words", "sentences"}
    info = call(bridge, "get_chain_info", {"chain_id": "sum"})
    assert info["input_schema"] == created["input_schema"]
    result = call(bridge, "invoke", {"chain_id": "sum", "input": {"text": TEXT, "max_words": 2}})
    assert result["output"] == {"summary": "LangChain serves", "words": 2, "sentences": 3}
    batch = call(
        bridge, "batch", {"chain_id": "sum", "inputs": [{"text": "One. Two."}, {"text": 3}]}
    )
    assert batch["results"][0]["output"]["summary"] == "One."
    assert batch["succeeded"] == 1 and batch["failed"] == 1
    assert batch["results"][1]["error"]["type"] == "pydantic_core.ValidationError"


def test_factory_with_init_streams_tokens(bridge: InProcessBridge) -> None:
    args = {
        "chain_id": "qa",
        "runnable": "myteam.chains:make_answerer",
        "init": {"answers": ["Paris."]},
    }
    created = call(bridge, "create_chain", args)
    assert created["input_schema"]["required"] == ["question"]
    assert (
        call(bridge, "invoke", {"chain_id": "qa", "input": {"question": "Capital?"}})["output"]
        == "Paris."
    )
    streamed = call(bridge, "stream", {"chain_id": "qa", "input": {"question": "Capital?"}})
    chunks = bridge.chunks[max(bridge.chunks)]
    assert "".join(c["token"] for c in chunks) == streamed["output"] == "Paris."
    assert streamed["chunks"] == len(chunks) > 1


def test_non_text_chunks_stream_as_json(bridge: InProcessBridge) -> None:
    call(bridge, "create_chain", {"chain_id": "m", "runnable": "lcteam.objects:streams_maps"})
    streamed = call(bridge, "stream", {"chain_id": "m", "input": "abc"})
    assert bridge.chunks[max(bridge.chunks)] == [{"chunk": {"n": 3}}]
    assert streamed["output"] == {"n": 3}


def test_output_that_is_not_json_names_the_type(bridge: InProcessBridge) -> None:
    call(bridge, "create_chain", {"chain_id": "bad", "runnable": "lcteam.objects:returns_a_set"})
    error = refused(bridge, "invoke", {"chain_id": "bad", "input": 1})
    assert error.category == "invalid_configuration"
    assert "returned a set at output['tags']" in error.message
    assert "lcteam.objects:returns_a_set" in error.message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"runnable": "os:system"}, "not declared"),
        ({"runnable": "myteam.chains:missing"}, "no attribute"),
        ({"runnable": "myteam.chains"}, "import path"),
        ({"runnable": "lcteam.objects:NotATool"}, "returned a lcteam.objects.NotATool"),
        ({"runnable": "lcteam.objects:not_a_factory"}, "cannot be called"),
        ({"runnable": "myteam.chains:summarize", "init": {"x": 1}}, "takes no init"),
        ({"runnable": "myteam.chains:summarize", "prompt": "x"}, "unknown arguments"),
        ({"runnable": "myteam.chains:summarize", "type": "llm"}, "goes with type"),
    ],
)
def test_bad_runnables_are_invalid_argument(
    bridge: InProcessBridge, args: dict[str, Any], expected: str
) -> None:
    error = refused(bridge, "create_chain", args)
    assert error.category == "invalid_argument" and expected in error.message


def test_agent_with_user_tools(bridge: InProcessBridge) -> None:
    created = call(
        bridge, "create_agent", {"agent_id": "a", "tools": ["lcteam.objects:word_count"]}
    )
    assert created["tools"] == ["word_count"]
    result = call(bridge, "invoke", {"chain_id": "a", "input": "find three little words"})
    assert result["tool_calls"][0]["name"] == "word_count"
    assert result["tool_calls"][0]["result"] == "4 words"
    call(bridge, "create_agent", {"agent_id": "b", "tools": ["lcteam.objects:shout"]})
    result = call(bridge, "invoke", {"chain_id": "b", "input": "hello there"})
    assert result["tool_calls"][0]["result"] == "HELLO THERE"


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("os:system", "not declared"),
        ("lcteam.objects:NotATool", "is a class"),
        ("lcteam.objects:nothing", "no attribute"),
        ("web_search", "import path"),
    ],
)
def test_bad_user_tools_are_invalid_argument(
    bridge: InProcessBridge, tool: str, expected: str
) -> None:
    error = refused(bridge, "create_agent", {"tools": [tool]})
    assert error.category == "invalid_argument" and expected in error.message


def test_a_tool_that_raises_fails_the_run_with_its_error(bridge: InProcessBridge) -> None:
    call(bridge, "create_agent", {"agent_id": "f", "tools": ["lcteam.objects:failing_tool"]})
    with pytest.raises(Exception) as caught:
        call(bridge, "invoke", {"chain_id": "f", "input": "search it"})
    assert "the search backend is down" in str(caught.value)


def test_a_hanging_tool_is_cancelled_with_its_call(bridge: InProcessBridge) -> None:
    call(bridge, "create_agent", {"agent_id": "h", "tools": ["lcteam.objects:hanging_tool"]})

    async def cancel_while_hanging() -> None:
        task = asyncio.ensure_future(bridge.call("invoke", {"chain_id": "h", "input": "q"}, "s"))
        for _ in range(200):  # until the run reaches the tool (no timing: bounded yields)
            await asyncio.sleep(0)
            if task.done():
                break
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(cancel_while_hanging())


# ------------------------------------------------------------------ options.chains


def declared_bridge(monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]) -> InProcessBridge:
    bridge = InProcessBridge(langchain_bridge.LangChainBridge, langchain_bridge, monkeypatch)
    bridge.bridge.initialize(options)
    return bridge


def test_chains_declared_in_options_serve_every_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = {"vector_store": {"directory": str(tmp_path / "vectors")}}
    first = declared_bridge(monkeypatch, store)
    texts = ["Mount Fuji is 3776 metres high.", "The Nile flows north."]
    call(first, "create_retriever", {"retriever_id": "kb", "texts": texts, "persist": True})
    chains = {
        "sum": {"runnable": "myteam.chains:summarize"},
        "hello": {"prompt": "What is {a}+{a}?"},
        "rag": {"type": "rag", "retriever_id": "kb", "k": 1},
        "helper": {"type": "agent", "tools": ["calculator"]},
    }
    bridge = declared_bridge(monkeypatch, {**store, "chains": chains})
    for session in ("one", "two", None):
        result = call(bridge, "invoke", {"chain_id": "sum", "input": {"text": TEXT}}, session)
        assert result["output"]["sentences"] == 3
    assert call(bridge, "invoke", {"chain_id": "hello", "input": "2"})["output"] == "4"
    answer = call(bridge, "invoke", {"chain_id": "rag", "input": "How high is Mount Fuji?"})
    assert "3776" in answer["output"]
    assert call(bridge, "invoke", {"chain_id": "helper", "input": "What is 6*7?"})["tool_calls"]
    listed = call(bridge, "list_chains", {}, "three")["chains"]
    assert {c["chain_id"] for c in listed if c.get("declared")} == set(chains)
    error = refused(bridge, "delete_chain", {"chain_id": "sum"})
    assert error.category == "invalid_argument" and "options.chains" in error.message


@pytest.mark.parametrize(
    ("chains", "expected"),
    [
        ({"c": {"runnable": "os:system"}}, "options.chains.c: "),
        ({"c": {"type": "conversation"}}, "cannot be shared"),
        ({"c": {"type": "rag", "retriever_id": "nowhere"}}, "persistent retriever 'nowhere'"),
        ({"c": "myteam.chains:summarize"}, "must be a map"),
        ({"bad id": {"prompt": "x"}}, "a chain id"),
        (["myteam.chains:summarize"], "options.chains must be a map"),
    ],
)
def test_bad_declared_chains_fail_init(
    monkeypatch: pytest.MonkeyPatch, chains: Any, expected: str
) -> None:
    with pytest.raises(BridgeError) as caught:
        declared_bridge(monkeypatch, {"chains": chains})
    assert caught.value.category == "invalid_configuration"
    assert expected in caught.value.message


# ------------------------------------------------------------------ a real worker


def test_a_worker_started_with_declared_code_serves_it(tmp_path: Path) -> None:
    """What the host starts: --code-path/--code-module on the command line, options.chains."""
    from .conftest import LANGCHAIN_BRIDGE, start_bridge

    args = []
    for path in PATHS:
        args += ["--code-path", path]
    for module in MODULES:
        args += ["--code-module", module]
    options = {"chains": {"summary": {"runnable": "myteam.chains:summarize"}}}
    client = start_bridge(
        LANGCHAIN_BRIDGE, "msgpack", tmp_path, options, worker_id="lc-code", extra_args=args
    )
    try:
        result = client.ok("invoke", {"chain_id": "summary", "input": {"text": TEXT}})
        assert result["output"]["summary"] == "LangChain serves runnables."
        client.ok("create_chain", {"chain_id": "bad", "runnable": "lcteam.objects:returns_a_set"})
        error = client.error("invoke", {"chain_id": "bad", "input": 1})
        assert error["category"] == "invalid_configuration"
        assert error["type"] == "OutputNotSerializable" and "returned a set" in error["message"]
        refused = client.error("create_chain", {"runnable": "os:system"})
        assert refused["category"] == "invalid_argument" and "not declared" in refused["message"]
    finally:
        client.worker.kill()
