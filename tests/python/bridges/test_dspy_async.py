"""The DSPy bridge holding many calls at once: ``acall`` tasks on one event loop.

In process (:mod:`.in_process`): the bridge's handlers awaited side by side against the gated
mock server (:mod:`.gated_server`), which answers only once the expected number of calls
wait there together, so no test times anything. Each call runs under its own
``dspy.context``: the tests check that every call reached the server with its own session's
LM and endpoint, that its answer and its history are its own, that ``execute_batch`` keeps
its bound, and that cancelling a call's task ends it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from .gated_server import Gate, GatedServer, running_gated_server
from .in_process import InProcessBridge, run

dspy_bridge = pytest.importorskip("dspy_bridge")

CALLS = 50


@pytest.fixture(scope="module")
def server() -> Iterator[GatedServer]:
    with running_gated_server() as server:
        yield server


@pytest.fixture(scope="module")
def other_server() -> Iterator[GatedServer]:
    with running_gated_server() as server:
        yield server


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> InProcessBridge:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    bridge = InProcessBridge(dspy_bridge.DSPyBridge, dspy_bridge, monkeypatch)
    bridge.bridge.initialize({"cache": {"disk": False, "memory": False}})
    return bridge


def lm(server: GatedServer, model: str, **extra: Any) -> dict[str, Any]:
    """A session LM on ``server`` without a key (a local server: the placeholder is sent)."""
    return {
        "model": f"openai/{model}",
        "api_base": server.url,
        "num_retries": 0,
        "cache": False,
        "temperature": 0.0,
        **extra,
    }


def question_of(request: dict[str, Any]) -> str:
    """The question a logged chat completion asked (DSPy's ChatAdapter puts it last)."""
    text = request["json"]["messages"][-1]["content"]
    match = re.search(r"\[\[ ## question ## \]\]\s*(.*?)\s*(?:\n\n|$)", text, re.S)
    assert match, text
    return match.group(1)


def test_hello_default_concurrency_is_256() -> None:
    assert dspy_bridge.DSPyBridge.concurrency == 256
    assert dspy_bridge.DSPyBridge.sync_overlap is True


def test_commands_that_wait_on_the_lm_are_async(bridge: InProcessBridge) -> None:
    for name in ("execute_program", "execute_batch"):
        assert bridge.is_async(name), name
    for name in ("optimize_program", "evaluate_program", "configure_lm", "create_program"):
        assert not bridge.is_async(name), name  # off the loop, in the SDK's thread pool


async def _prepare(bridge: InProcessBridge, session: str, settings: dict[str, Any]) -> None:
    await bridge.call("configure_lm", settings, session)
    await bridge.call(
        "create_program", {"program_id": "calc", "signature": "question -> answer: int"}, session
    )


def test_many_predict_calls_in_flight_each_with_its_own_lm(
    bridge: InProcessBridge, server: GatedServer
) -> None:
    """50 Predict calls wait at the server together; each answer, LM and history is its own."""

    async def scenario() -> list[dict[str, Any]]:
        for i in range(CALLS):
            await _prepare(bridge, f"s{i}", lm(server, f"model-{i}"))
        server.reset()
        server.reset_counts(Gate(CALLS))
        return await asyncio.gather(
            *(
                bridge.call(
                    "execute_program",
                    {"program_id": "calc", "inputs": {"question": f"What is {i}+{i}?"}},
                    f"s{i}",
                )
                for i in range(CALLS)
            )
        )

    results = run(scenario())
    gate = server.gate
    assert gate is not None and gate.opened and gate.timed_out == 0
    assert server.peak == CALLS
    for i, result in enumerate(results):
        assert result["outputs"]["answer"] == 2 * i, result
        assert result["lm"] == f"openai/model-{i}" and result["lm_calls"] == 1, result
    requests = server.chat_requests()
    assert len(requests) == CALLS
    for request in requests:  # the question of session i went out with session i's model
        i = int(request["json"]["model"].removeprefix("model-"))
        assert question_of(request) == f"What is {i}+{i}?"

    async def histories() -> list[dict[str, Any]]:
        return [await bridge.call("inspect_history", {"n": 5}, f"s{i}") for i in range(CALLS)]

    for i, history in enumerate(run(histories())):
        assert history["count"] == 1, history
        assert history["entries"][0]["model"] == f"openai/model-{i}"
        assert history["entries"][0]["response_model"] == f"model-{i}"


def test_contexts_keep_each_call_on_its_own_endpoint(
    bridge: InProcessBridge, server: GatedServer, other_server: GatedServer
) -> None:
    """Calls to two endpoints, interleaved and in flight together, never cross over."""
    per_server = 10

    async def scenario() -> list[dict[str, Any]]:
        for i in range(2 * per_server):
            target = server if i % 2 == 0 else other_server
            await _prepare(bridge, f"e{i}", lm(target, f"ep-{i}"))
        for target in (server, other_server):
            target.reset()
            target.reset_counts(Gate(per_server))
        return await asyncio.gather(
            *(
                bridge.call(
                    "execute_program",
                    {"program_id": "calc", "inputs": {"question": f"What is {i}*2?"}},
                    f"e{i}",
                )
                for i in range(2 * per_server)
            )
        )

    results = run(scenario())
    for target, parity in ((server, 0), (other_server, 1)):
        gate = target.gate
        assert gate is not None and gate.opened and gate.timed_out == 0
        models = sorted(int(r["json"]["model"].removeprefix("ep-")) for r in target.chat_requests())
        assert models == list(range(parity, 2 * per_server, 2))
    assert [r["outputs"]["answer"] for r in results] == [2 * i for i in range(2 * per_server)]


def test_execute_batch_keeps_its_bound(bridge: InProcessBridge, server: GatedServer) -> None:
    """num_threads 4: four items wait at the server together, never a fifth."""
    bound, items = 4, 12

    async def scenario() -> dict[str, Any]:
        await _prepare(bridge, "batch", lm(server, "batch-model"))
        server.reset()
        server.reset_counts(Gate(bound))
        return await bridge.call(
            "execute_batch",
            {
                "program_id": "calc",
                "num_threads": bound,
                "inputs": [{"question": f"What is {n}+1?"} for n in range(items)],
            },
            "batch",
        )

    batch = run(scenario())
    gate = server.gate
    assert gate is not None and gate.opened and gate.timed_out == 0
    assert server.peak == bound
    assert [r["outputs"]["answer"] for r in batch["results"]] == [n + 1 for n in range(items)]
    assert batch["succeeded"] == items and batch["lm_calls"] == items


def test_execute_batch_item_failure_is_its_result(bridge: InProcessBridge) -> None:
    async def scenario() -> dict[str, Any]:
        await bridge.call(
            "create_program", {"program_id": "p", "signature": "question -> answer"}, "f"
        )
        program = bridge.sessions.get("f").resources["program:p"]
        real = program.module.acall

        async def flaky(**inputs: Any) -> Any:
            if inputs["question"] == "boom":
                raise ValueError("this input fails")
            return await real(**inputs)

        program.module.acall = flaky
        return await bridge.call(
            "execute_batch",
            {"program_id": "p", "inputs": [{"question": "a"}, {"question": "boom"}]},
            "f",
        )

    batch = run(scenario())
    assert batch["succeeded"] == 1 and batch["failed"] == 1
    assert batch["results"][1]["error"]["type"] == "ValueError"
    assert "outputs" in batch["results"][0]


def test_cancelling_a_call_ends_it_and_the_session_goes_on(
    bridge: InProcessBridge, server: GatedServer
) -> None:
    """The task of an execute_program waiting on the LM is cancelled: CancelledError, at once;
    the session's next call runs normally."""

    async def scenario() -> dict[str, Any]:
        await _prepare(bridge, "cancel", lm(server, "cancel-model"))
        server.reset()
        held = Gate(2, timeout_s=120)  # one call never fills it: held until released
        server.reset_counts(held)
        call = asyncio.ensure_future(
            bridge.call(
                "execute_program",
                {"program_id": "calc", "inputs": {"question": "What is 1+1?"}},
                "cancel",
            )
        )
        await asyncio.to_thread(server.wait_for_arrivals, 1)  # it waits at the model
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        held.release()
        server.reset_counts()
        return await bridge.call(
            "execute_program",
            {"program_id": "calc", "inputs": {"question": "What is 2+2?"}},
            "cancel",
        )

    result = run(scenario())
    assert result["outputs"]["answer"] == 4 and result["lm_calls"] == 1


def test_sync_evaluate_in_a_thread_beside_async_calls(
    bridge: InProcessBridge, server: GatedServer, other_server: GatedServer
) -> None:
    """evaluate_program (a thread, its own dspy.context) and execute_program tasks of another
    session run at once; each counts and records only its own LM calls."""

    async def scenario() -> tuple[Any, ...]:
        await _prepare(bridge, "eval", lm(server, "eval-model"))
        await _prepare(bridge, "live", lm(other_server, "live-model"))
        for target in (server, other_server):
            target.reset()
            target.reset_counts(Gate(2))  # each side waits for a call of its own
        devset = [{"question": f"What is {n}+{n}?", "answer": 2 * n} for n in range(4)]
        evaluation = bridge.call(
            "evaluate_program",
            {"program_id": "calc", "devset": devset, "num_threads": 2},
            "eval",
        )
        live = [
            bridge.call(
                "execute_program",
                {"program_id": "calc", "inputs": {"question": f"What is {n}*3?"}},
                "live",
            )
            for n in range(4)
        ]
        return await asyncio.gather(evaluation, *live)

    evaluation, *live = run(scenario())
    assert evaluation["score"] == 100.0 and evaluation["lm_calls"] == 4
    assert [r["outputs"]["answer"] for r in live] == [0, 3, 6, 9]
    assert {r["json"]["model"] for r in server.chat_requests()} == {"eval-model"}
    assert {r["json"]["model"] for r in other_server.chat_requests()} == {"live-model"}

    async def history(session: str) -> dict[str, Any]:
        return await bridge.call("inspect_history", {"n": 10}, session)

    assert {e["model"] for e in run(history("eval"))["entries"]} == {"openai/eval-model"}
    assert {e["model"] for e in run(history("live"))["entries"]} == {"openai/live-model"}
