"""Every optimizer of the installed DSPy by name: the two heaviest (MIPROv2, GEPA) run to
completion against the mock OpenAI server with progress chunks, and stop on a cancel.

Kept small for CI: two training examples, two trials, a handful of metric calls. The cancel
test holds the first LM request at a gate (:mod:`.gated_server`), cancels, then lets it
through: the optimizer stops at that LM call, with no timing involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai_server import MockServer

from .conftest import DSPY_BRIDGE, SLOW_TIMEOUT, BridgeClient, start_bridge
from .gated_server import Gate, running_gated_server

TRAINSET = [
    {"question": "Capital of France?", "answer": "Paris"},
    {"question": "Capital of Japan?", "answer": "Tokyo"},
]
MIPRO = {
    "optimizer": "mipro_v2",
    "optimizer_args": {
        "auto": None,
        "num_candidates": 2,
        "max_bootstrapped_demos": 1,
        "max_labeled_demos": 1,
    },
    "compile_args": {"num_trials": 2, "minibatch": False},
}
GEPA = {"optimizer": "GEPA", "optimizer_args": {"max_metric_calls": 8}}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeClient]:
    client = start_bridge(DSPY_BRIDGE, "json", tmp_path_factory.mktemp("dspy-optimizers"))
    try:
        yield client
    finally:
        client.worker.kill()


def _lm(url: str) -> dict[str, Any]:
    return {"model": "openai/gpt-test", "api_base": url, "num_retries": 0, "cache": False}


def _optimize(
    bridge: BridgeClient, session: str, extra: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """optimize_program with progress: its response and the chunks that came before it."""
    args = {
        "program_id": "qa",
        "trainset": TRAINSET,
        "metric": "exact_match",
        "progress": True,
        **extra,
    }
    request_id = bridge.worker.start_request("optimize_program", args, session)
    response, frames = bridge.worker.wait_response(request_id, timeout=SLOW_TIMEOUT * 4)
    chunks = [f["data"] for f in frames if f.get("type") == "chunk" and f["id"] == request_id]
    return response, chunks


def test_list_optimizers_is_what_dspy_teleprompt_has(bridge: BridgeClient) -> None:
    import dspy.teleprompt as teleprompt

    listed = bridge.ok("list_optimizers")
    classes = {o["class"] for o in listed["optimizers"]}
    installed = {
        name
        for name in dir(teleprompt)
        if isinstance(getattr(teleprompt, name), type)
        and issubclass(getattr(teleprompt, name), teleprompt.Teleprompter)
        and name != "Teleprompter"
    }
    assert classes == installed and {"MIPROv2", "GEPA", "COPRO", "SIMBA"} <= classes
    mipro = next(o for o in listed["optimizers"] if o["class"] == "MIPROv2")
    assert "num_candidates" in mipro["optimizer_args"] and "metric" not in mipro["optimizer_args"]


def test_unknown_optimizer_and_arguments_are_refused(bridge: BridgeClient) -> None:
    bridge.ok("create_program", {"program_id": "qa", "signature": "question -> answer"}, "bad")
    base = {"program_id": "qa", "trainset": TRAINSET}
    unknown = bridge.error("optimize_program", {**base, "optimizer": "mipro"}, "bad")
    assert unknown["category"] == "invalid_argument"
    assert "mipro" in unknown["message"] and "miprov2" in unknown["message"]
    assert "gepa" in unknown["message"]  # the list of what is installed
    wrong_arg = bridge.error(
        "optimize_program", {**base, **MIPRO, "optimizer_args": {"num_candidate": 2}}, "bad"
    )
    assert "num_candidate" in wrong_arg["message"] and "num_candidates" in wrong_arg["message"]
    filled = bridge.error(
        "optimize_program", {**base, **GEPA, "optimizer_args": {"reflection_lm": "x"}}, "bad"
    )
    assert "set by the bridge" in filled["message"]


@pytest.mark.parametrize("optimizer", [MIPRO, GEPA], ids=["miprov2", "gepa"])
def test_heaviest_optimizers_complete_with_progress(
    bridge: BridgeClient, mock_server: MockServer, optimizer: dict[str, Any]
) -> None:
    session = f"run-{optimizer['optimizer']}"
    bridge.ok("configure_lm", _lm(mock_server.url), session)
    bridge.ok("create_program", {"program_id": "qa", "signature": "question -> answer"}, session)
    mock_server.reset()
    response, chunks = _optimize(bridge, session, optimizer)
    assert response["success"] is True, response.get("error")
    result = response["result"]
    assert result["score_before"] == 0.0 and "score_after" in result
    assert result["lm_calls"] > 0 and len(mock_server.chat_requests()) == result["lm_calls"]
    assert chunks[0]["event"] == "started" and len(chunks) == result["progress"]["chunks"]
    progress = [c for c in chunks if c["event"] == "progress"]
    assert progress and all(c["optimizer"] == result["optimizer"] for c in chunks)
    last = progress[-1]
    assert last["trial"] is not None and last["best_score"] is not None, progress
    if result["optimizer"] == "miprov2":
        assert last["trials"] == 2
    info = bridge.ok("get_program_info", {"program_id": "qa"}, session)
    assert info["optimized_with"] == result["optimizer"]


@pytest.mark.parametrize("optimizer", [MIPRO, GEPA], ids=["miprov2", "gepa"])
def test_a_cancel_stops_the_optimizer(bridge: BridgeClient, optimizer: dict[str, Any]) -> None:
    session = f"cancel-{optimizer['optimizer']}"
    with running_gated_server() as server:
        gate = Gate(size=10_000)
        server.reset_counts(gate)
        bridge.ok("configure_lm", _lm(server.url), session)
        bridge.ok(
            "create_program", {"program_id": "qa", "signature": "question -> answer"}, session
        )
        worker = bridge.worker
        args = {"program_id": "qa", "trainset": TRAINSET, "progress": True, **optimizer}
        request_id = worker.start_request("optimize_program", args, session)
        server.wait_for_arrivals(1)  # the optimizer waits on its first LM call
        worker.send({"type": "cancel", "id": request_id})
        ping = worker.start_request("ping")  # answered once the cancel before it was read
        pong, early = worker.wait_response(ping, timeout=SLOW_TIMEOUT)
        assert pong["success"] is True
        gate.release()
        response, frames = worker.wait_response(request_id, timeout=SLOW_TIMEOUT)
        frames = early + frames
        assert response["success"] is False, response
        assert response["error"]["type"] == "Cancelled", response
        assert [f["data"]["event"] for f in frames if f.get("id") == request_id][:1] == ["started"]
        assert server.arrived < 5  # it stopped at once, not after the whole run


def test_progress_reads_trials_and_best_scores_from_the_optimizers_logs() -> None:
    from dspy_support.optimizers import Progress

    sent: list[Any] = []
    progress = Progress(sent.append, "miprov2", lambda: False)
    for line in (
        "== Trial 1 / 4 - Full Evaluation of Default Program ==",
        "Default program score: 25.0",
        "===== Trial 2 / 4 =====",
        "Best score so far: 50.0",
        "Iteration 3: Best score on valset: 0.75",  # GEPA's wording
    ):
        progress.on_log(line)
    assert [c["trial"] for c in sent] == [1, 1, 2, 2, 3]
    assert sent[1]["trials"] == 4 and sent[3]["best_score"] == 50.0
    assert sent[-1]["best_score"] == 50.0  # a lower score never replaces the best
    assert all(c["event"] == "progress" for c in sent)


def test_progress_metric_stops_once_cancelled() -> None:
    import asyncio

    from dspy_support.optimizers import Progress

    cancelled = False
    progress = Progress(lambda data: None, "gepa", lambda: cancelled)
    metric = progress.metric(lambda *args: 1.0)
    assert metric(None, None) == 1.0 and progress.metric_calls == 1
    cancelled = True
    with pytest.raises(asyncio.CancelledError):
        metric(None, None)
    assert progress.metric_calls == 1
