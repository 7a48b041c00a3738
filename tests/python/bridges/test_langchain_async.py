"""The LangChain bridge holding many calls at once: ``ainvoke``/``abatch``/``astream`` tasks.

In process (:mod:`.in_process`), against the gated mock server (:mod:`.gated_server`), which
answers only once the expected number of calls wait there together: no test times anything.
Checks that a prompt | model | parser chain serves many sessions at once, each with its own
model, that streams interleave and stay whole, that ``batch`` keeps its bound, that a
conversation's turns never overlap, and that cancelling a call's task ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from .gated_server import Gate, GatedServer, running_gated_server
from .in_process import InProcessBridge, run

langchain_bridge = pytest.importorskip("langchain_bridge")

CALLS = 50


@pytest.fixture(scope="module")
def server() -> Iterator[GatedServer]:
    with running_gated_server(stream_delay_s=0.001) as server:
        yield server


@pytest.fixture(scope="module", autouse=True)
def close_http_sessions() -> Iterator[None]:
    """The bridge's aiohttp sessions live on the tests' loop: closed when the module ends."""
    yield
    from langchain_support.http_client import close_sessions

    run(close_sessions())


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> InProcessBridge:
    bridge = InProcessBridge(langchain_bridge.LangChainBridge, langchain_bridge, monkeypatch)
    bridge.bridge.initialize({})
    return bridge


def model(server: GatedServer, name: str, **extra: Any) -> dict[str, Any]:
    """A session model on ``server`` without a key (a local server: none is needed)."""
    return {"model": name, "base_url": server.url, "max_retries": 0, "temperature": 0.0, **extra}


async def _prepare(bridge: InProcessBridge, session: str, settings: dict[str, Any]) -> None:
    await bridge.call("configure_model", settings, session)
    await bridge.call("create_chain", {"chain_id": "sum", "prompt": "What is {a}+{a}?"}, session)


def test_default_concurrency_is_256() -> None:
    assert langchain_bridge.LangChainBridge.concurrency == 256
    assert langchain_bridge.LangChainBridge.sync_overlap is True


def test_commands_that_wait_on_the_model_are_async(bridge: InProcessBridge) -> None:
    for name in ("invoke", "batch", "stream", "chat", "create_retriever", "retrieve"):
        assert bridge.is_async(name), name
    for name in ("create_chain", "configure_model", "create_agent", "list_chains"):
        assert not bridge.is_async(name), name


def test_many_chain_calls_in_flight_each_with_its_own_model(
    bridge: InProcessBridge, server: GatedServer
) -> None:
    """50 prompt | model | parser runs wait at the server together; answers are their own."""

    async def scenario() -> list[dict[str, Any]]:
        for i in range(CALLS):
            await _prepare(bridge, f"s{i}", model(server, f"model-{i}"))
        server.reset()
        server.reset_counts(Gate(CALLS))
        return await asyncio.gather(
            *(
                bridge.call("invoke", {"chain_id": "sum", "input": str(i)}, f"s{i}")
                for i in range(CALLS)
            )
        )

    results = run(scenario())
    gate = server.gate
    assert gate is not None and gate.opened and gate.timed_out == 0
    assert server.peak == CALLS
    for i, result in enumerate(results):
        assert result["output"] == str(2 * i), result
        assert result["model"] == f"model-{i}" and result["llm_calls"] == 1, result
    for request in server.chat_requests():
        i = int(request["json"]["model"].removeprefix("model-"))
        assert request["json"]["messages"][-1]["content"] == f"What is {i}+{i}?"


def test_streams_interleave_and_each_stays_whole(
    bridge: InProcessBridge, server: GatedServer
) -> None:
    streams = 10

    async def scenario() -> list[dict[str, Any]]:
        for i in range(streams):
            await _prepare(bridge, f"st{i}", model(server, f"stream-{i}"))
        server.reset()
        server.reset_counts(Gate(streams))
        return await asyncio.gather(
            *(
                bridge.call("stream", {"chain_id": "sum", "input": str(100 + i)}, f"st{i}")
                for i in range(streams)
            )
        )

    first_id = max(bridge.chunks, default=0) + 1
    results = run(scenario())
    gate = server.gate
    assert gate is not None and gate.opened and gate.timed_out == 0
    streamed = [chunks for request_id, chunks in bridge.chunks.items() if request_id >= first_id]
    streamed = [chunks for chunks in streamed if chunks]
    assert len(streamed) == streams
    for i, result in enumerate(results):
        assert result["output"] == str(2 * (100 + i)) and result["chunks"] >= 1, result
    outputs = sorted("".join(c["token"] for c in chunks) for chunks in streamed)
    assert outputs == sorted(r["output"] for r in results)
    assert all(r["json"]["stream"] is True for r in server.chat_requests())


def test_batch_keeps_its_bound(bridge: InProcessBridge, server: GatedServer) -> None:
    bound, items = 3, 9

    async def scenario() -> dict[str, Any]:
        await _prepare(bridge, "batch", model(server, "batch-model"))
        server.reset()
        server.reset_counts(Gate(bound))
        return await bridge.call(
            "batch",
            {"chain_id": "sum", "inputs": [str(n) for n in range(items)], "max_concurrency": bound},
            "batch",
        )

    batch = run(scenario())
    gate = server.gate
    assert gate is not None and gate.opened and gate.timed_out == 0
    assert server.peak == bound
    assert [r["output"] for r in batch["results"]] == [str(2 * n) for n in range(items)]
    assert batch["succeeded"] == items and batch["llm_calls"] == items


def test_conversation_turns_never_overlap_even_without_a_session(
    bridge: InProcessBridge, server: GatedServer
) -> None:
    """Anonymous calls run side by side, but each turn sees every turn before it."""
    turns = 5

    async def scenario() -> list[dict[str, Any]]:
        await bridge.call(
            "create_conversation",
            {"conversation_id": "c", "system_prompt": "Be brief.", "model": model(server, "chat")},
        )
        server.reset()
        server.reset_counts()
        return await asyncio.gather(
            *(
                bridge.call("chat", {"conversation_id": "c", "message": f"What is {n}+{n}?"})
                for n in range(turns)
            )
        )

    replies = run(scenario())
    assert sorted(r["turns"] for r in replies) == list(range(1, turns + 1))
    sizes = [len(r["json"]["messages"]) for r in server.chat_requests()]
    assert sizes == [2 + 2 * n for n in range(turns)]  # system + history + the new message
    assert server.peak == 1


def test_cancelling_a_call_ends_it_and_the_session_goes_on(
    bridge: InProcessBridge, server: GatedServer
) -> None:
    async def scenario(command: str) -> dict[str, Any]:
        session = f"cancel-{command}"
        await _prepare(bridge, session, model(server, f"cancel-{command}"))
        server.reset()
        held = Gate(2, timeout_s=120)  # one call never fills it: held until released
        server.reset_counts(held)
        call = asyncio.ensure_future(
            bridge.call(command, {"chain_id": "sum", "input": "1"}, session)
        )
        await asyncio.to_thread(server.wait_for_arrivals, 1)  # it waits at the model
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        held.release()
        server.reset_counts()
        return await bridge.call(command, {"chain_id": "sum", "input": "2"}, session)

    for command in ("invoke", "stream"):
        assert run(scenario(command))["output"] == "4"


def test_retrieval_and_rag_are_async_and_concurrent(
    bridge: InProcessBridge, server: GatedServer
) -> None:
    """Remote embeddings: create_retriever, retrieve and a rag chain's search await them;
    three rag runs wait at the server together."""
    texts = ["cats purr", "dogs bark", "fish swim"]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        server.reset()
        server.reset_counts()
        await bridge.call(
            "create_retriever",
            {
                "retriever_id": "r",
                "texts": texts,
                "embeddings": {"provider": "openai", "model": "lexical", "base_url": server.url},
            },
            "rag",
        )
        found = await asyncio.gather(
            *(
                bridge.call("retrieve", {"retriever_id": "r", "query": q, "k": 1}, "rag")
                for q in texts
            )
        )
        await bridge.call("configure_model", model(server, "rag-model"), "rag")
        await bridge.call(
            "create_chain", {"chain_id": "rag", "type": "rag", "retriever_id": "r", "k": 1}, "rag"
        )
        server.reset_counts(Gate(len(texts)))
        answers = await asyncio.gather(
            *(bridge.call("invoke", {"chain_id": "rag", "input": q}, "rag") for q in texts)
        )
        return found, answers

    found, answers = run(scenario())
    assert [r["documents"][0]["text"] for r in found] == texts
    assert all(r["offline"] is False for r in found)
    embedded = [r for r in server.requests if r["path"].endswith("/embeddings")]
    assert len(embedded) == 1 + 2 * len(texts)  # the texts, the queries, the rag questions
    gate = server.gate
    assert gate is not None and gate.opened and gate.timed_out == 0
    assert [a["sources"][0]["text"] for a in answers] == texts
