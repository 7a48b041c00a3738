"""DSPy and LangChain worker processes holding many calls at once, over the protocol.

The worker runs at the bridge's default concurrency (256) unless a test passes
``--concurrency 1`` (what the host passes for ``pool.max_concurrency: 1``). Calls go to the
gated mock server (:mod:`.gated_server`), which answers only once the expected number of
calls wait there together, so nothing is timed: a worker that served one call at a time
would leave the gate shut and the test would say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    DSPY_BRIDGE,
    LANGCHAIN_BRIDGE,
    SLOW_TIMEOUT,
    BridgeClient,
    start_bridge,
)
from .gated_server import Gate, GatedServer, running_gated_server

BRIDGES = {"dspy": DSPY_BRIDGE, "langchain": LANGCHAIN_BRIDGE}


@pytest.fixture(scope="module")
def server() -> Iterator[GatedServer]:
    with running_gated_server(stream_delay_s=0.001) as server:
        yield server


def _start(name: str, tmp: Path, *extra_args: str) -> BridgeClient:
    return start_bridge(
        BRIDGES[name], "json", tmp, worker_id=f"{name}-async", extra_args=extra_args
    )


@pytest.fixture(scope="module")
def dspy_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeClient]:
    client = _start("dspy", tmp_path_factory.mktemp("dspy-async"))
    try:
        yield client
    finally:
        client.worker.kill()


@pytest.fixture(scope="module")
def langchain_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeClient]:
    client = _start("langchain", tmp_path_factory.mktemp("langchain-async"))
    try:
        yield client
    finally:
        client.worker.kill()


def dspy_lm(server: GatedServer, model: str) -> dict[str, Any]:
    return {
        "model": f"openai/{model}",
        "api_base": server.url,
        "num_retries": 0,
        "cache": False,
        "temperature": 0.0,
    }


def langchain_model(server: GatedServer, model: str) -> dict[str, Any]:
    return {"model": model, "base_url": server.url, "max_retries": 0, "temperature": 0.0}


def prepare(name: str, client: BridgeClient, server: GatedServer, session: str, model: str) -> None:
    """The session's own model on ``server`` and a program/chain ``calc`` answering sums."""
    if name == "dspy":
        client.ok("configure_lm", dspy_lm(server, model), session, timeout=SLOW_TIMEOUT)
        client.ok(
            "create_program",
            {"program_id": "calc", "signature": "question -> answer: int"},
            session,
        )
    else:
        client.ok("configure_model", langchain_model(server, model), session, timeout=SLOW_TIMEOUT)
        client.ok("create_chain", {"chain_id": "calc", "prompt": "What is {a}+{a}?"}, session)


def run_args(name: str, n: int) -> tuple[str, dict[str, Any]]:
    """The command and arguments that ask session's ``calc`` for ``n + n``."""
    if name == "dspy":
        return "execute_program", {
            "program_id": "calc",
            "inputs": {"question": f"What is {n}+{n}?"},
        }
    return "invoke", {"chain_id": "calc", "input": str(n)}


def answer_of(name: str, result: dict[str, Any]) -> Any:
    return result["outputs"]["answer"] if name == "dspy" else int(result["output"])


def collect(
    client: BridgeClient, request_ids: list[int], timeout: float = SLOW_TIMEOUT
) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """Every response of ``request_ids`` (by id), and the chunks each call sent before it."""
    responses: dict[int, dict[str, Any]] = {}
    chunks: dict[int, list[dict[str, Any]]] = {i: [] for i in request_ids}
    while len(responses) < len(request_ids):
        message = client.worker.recv(timeout)
        assert message is not None, f"worker closed its output; answered {sorted(responses)}"
        client.transcript.append(json.dumps(message))
        if message.get("type") == "chunk":
            assert message["id"] not in responses, message  # no chunk after the response
            chunks[message["id"]].append(message)
        elif message.get("type") == "response":
            assert message["id"] in chunks and message["id"] not in responses, message
            responses[message["id"]] = message
    return responses, chunks


def hello_of(client: BridgeClient) -> dict[str, Any]:
    return json.loads(client.transcript[0])


def test_hello_reports_256(dspy_worker: BridgeClient, langchain_worker: BridgeClient) -> None:
    assert hello_of(dspy_worker)["concurrency"] == 256
    assert hello_of(langchain_worker)["concurrency"] == 256


@pytest.mark.parametrize("name", ["dspy", "langchain"])
def test_fifty_calls_in_flight_on_one_worker(
    name: str, request: pytest.FixtureRequest, server: GatedServer
) -> None:
    """50 sessions, each with its own model, wait at the server together; every answer
    is its own session's."""
    client: BridgeClient = request.getfixturevalue(f"{name}_worker")
    calls = 50
    for i in range(calls):
        prepare(name, client, server, f"{name}-{i}", f"{name}-model-{i}")
    server.reset()
    server.reset_counts(Gate(calls))
    ids = []
    for i in range(calls):
        command, args = run_args(name, i)
        ids.append(client.worker.start_request(command, args, f"{name}-{i}"))
    responses, _ = collect(client, ids)
    gate = server.gate
    assert gate is not None and gate.opened and gate.timed_out == 0
    for i, request_id in enumerate(ids):
        response = responses[request_id]
        assert response["success"] is True, response
        assert answer_of(name, response["result"]) == 2 * i, response
    for logged in server.chat_requests():  # session i's question went with session i's model
        i = int(logged["json"]["model"].rpartition("-")[2])
        assert f"What is {i}+{i}?" in logged["json"]["messages"][-1]["content"]


def test_langchain_streams_interleave_by_id(
    langchain_worker: BridgeClient, server: GatedServer
) -> None:
    """Ten streams and ten invokes in flight at once: chunks of different calls interleave,
    each call's chunks arrive in order and make up its own answer."""
    streams = 10
    for i in range(2 * streams):
        prepare("langchain", langchain_worker, server, f"mix-{i}", f"mix-model-{i}")
    server.reset()
    server.reset_counts(Gate(2 * streams))
    ids = [
        langchain_worker.worker.start_request(
            "stream" if i < streams else "invoke", {"chain_id": "calc", "input": str(i)}, f"mix-{i}"
        )
        for i in range(2 * streams)
    ]
    responses, chunks = collect(langchain_worker, ids)
    gate = server.gate
    assert gate is not None and gate.opened
    for i, request_id in enumerate(ids):
        result = responses[request_id]["result"]
        assert result["output"] == str(2 * i)
        sent = chunks[request_id]
        if i < streams:
            assert [c["seq"] for c in sent] == list(range(len(sent))) and sent
            assert "".join(c["data"]["token"] for c in sent) == result["output"]
            assert result["chunks"] == len(sent)
        else:
            assert sent == []


@pytest.mark.parametrize("name", ["dspy", "langchain"])
def test_cancel_message_ends_one_call_and_spares_the_others(
    name: str, request: pytest.FixtureRequest, server: GatedServer
) -> None:
    client: BridgeClient = request.getfixturevalue(f"{name}_worker")
    prepare(name, client, server, f"{name}-victim", f"{name}-victim-model")
    prepare(name, client, server, f"{name}-bystander", f"{name}-bystander-model")
    server.reset()
    held = Gate(1000, timeout_s=120)  # shut until released
    server.reset_counts(held)
    command, args = run_args(name, 3)
    victim = client.worker.start_request(command, args, f"{name}-victim")
    bystander = client.worker.start_request(command, args, f"{name}-bystander")
    server.wait_for_arrivals(2)  # both wait at the model
    client.worker.send({"type": "cancel", "id": victim})
    response, before = client.worker.wait_response(victim, timeout=SLOW_TIMEOUT)
    assert before == []
    assert response["success"] is False and response["error"]["type"] == "Cancelled", response
    assert client.ok("ping")["status"] == "ok"  # answered while the bystander still waits
    held.release()
    response, _ = client.worker.wait_response(bystander, timeout=SLOW_TIMEOUT)
    assert response["success"] is True and answer_of(name, response["result"]) == 6, response
    client.worker.send({"type": "cancel", "id": bystander})  # finished: ignored
    assert client.ok("ping")["status"] == "ok"


@pytest.mark.parametrize("name", ["dspy", "langchain"])
def test_concurrency_1_serves_async_commands_and_sigint_cancels(
    name: str, tmp_path: Path, server: GatedServer
) -> None:
    """``--concurrency 1`` (pool.max_concurrency: 1): today's path. The async commands run
    one at a time, and SIGINT cancels the running one."""
    client = _start(name, tmp_path, "--concurrency", "1")
    try:
        assert hello_of(client)["concurrency"] == 1
        prepare(name, client, server, "one", f"{name}-one")
        server.reset_counts()
        command, args = run_args(name, 4)
        assert answer_of(name, client.ok(command, args, "one")) == 8
        server.reset()
        held = Gate(1000, timeout_s=120)
        server.reset_counts(held)
        request_id = client.worker.start_request(command, args, "one")
        server.wait_for_arrivals(1)
        client.worker.interrupt()
        response, _ = client.worker.wait_response(request_id, timeout=SLOW_TIMEOUT)
        assert response["success"] is False and response["error"]["type"] == "Cancelled"
        held.release()
        server.reset_counts()
        assert answer_of(name, client.ok(command, args, "one")) == 8
    finally:
        client.worker.kill()


def test_cancelled_evaluation_stops_after_its_next_lm_call(
    dspy_worker: BridgeClient, server: GatedServer
) -> None:
    """evaluate_program runs in the SDK's thread pool, where a cancel cannot interrupt it:
    it stops at the first LM call that ends after the cancel, and starts no other example."""
    prepare("dspy", dspy_worker, server, "evaluate", "evaluate-model")
    server.reset()
    held = Gate(1000, timeout_s=120)
    server.reset_counts(held)
    devset = [{"question": f"What is {n}+{n}?", "answer": 2 * n} for n in range(6)]
    request_id = dspy_worker.worker.start_request(
        "evaluate_program",
        {"program_id": "calc", "devset": devset, "num_threads": 1},
        "evaluate",
    )
    server.wait_for_arrivals(1)  # the first example waits at the model
    dspy_worker.worker.send({"type": "cancel", "id": request_id})
    assert dspy_worker.ok("ping")["status"] == "ok"  # the loop is free meanwhile
    held.release()
    response, _ = dspy_worker.worker.wait_response(request_id, timeout=SLOW_TIMEOUT)
    assert response["success"] is False and response["error"]["type"] == "Cancelled", response
    assert len(server.chat_requests()) == 1
    server.reset_counts()
    again = dspy_worker.ok(
        "evaluate_program", {"program_id": "calc", "devset": devset[:2]}, "evaluate"
    )
    assert again["score"] == 100.0 and again["lm_calls"] == 2
