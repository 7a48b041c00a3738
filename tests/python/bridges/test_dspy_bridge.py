"""The DSPy bridge, driven over the protocol as the host drives it.

Offline tests run against DSPy's offline DummyLM (no options.lm), in both codecs. The HTTP
tests point a session's LM at the mock OpenAI server (DSPy → LiteLLM → HTTP), with the key
in an environment variable of the worker, and finally check that the planted key never
appears in any answer, error or line of the worker's stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import MockServer, embedding, start_server
from worker_client import Worker

from .conftest import (
    DSPY_BRIDGE,
    PLANTED_KEY,
    PLANTED_KEY_ENV,
    SLOW_TIMEOUT,
    BridgeClient,
    start_bridge,
    wait_for_chat_request,
    worker_env,
)

OFFLINE = "offline DummyLM"


@pytest.fixture(scope="module", params=["json", "msgpack"])
def bridge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeClient]:
    """One offline DSPy worker per codec; each test uses its own session."""
    client = start_bridge(DSPY_BRIDGE, request.param, tmp_path_factory.mktemp("dspy-offline"))
    try:
        yield client
    finally:
        client.worker.kill()
    assert PLANTED_KEY not in "".join(client.transcript)


@pytest.fixture
def session(request: pytest.FixtureRequest) -> str:
    return request.node.name


# --------------------------------------------------------------------------- offline


def test_hello_info_and_commands(bridge: BridgeClient) -> None:
    info = bridge.ok("get_info")
    assert info["framework"] == "dspy"
    assert info["framework_version"].startswith("3.")
    for name in (
        "configure_lm",
        "create_program",
        "execute_program",
        "execute_batch",
        "list_programs",
        "get_program_info",
        "delete_program",
        "save_program",
        "load_program",
        "inspect_history",
        "optimize_program",
        "evaluate_program",
    ):
        assert name in info["commands"]
    assert "react" in info["capabilities"]["modules"]
    lm = bridge.ok("get_lm")
    assert lm["lm"] == OFFLINE and lm["offline"] is True and lm["scope"] == "default"


def test_execute_preserves_types(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok(
        "create_program",
        {
            "program_id": "typed",
            "signature": "question, context: list[str] -> answer, confidence: float, "
            "tags: list[str], count: int, ok: bool",
        },
        session,
    )
    assert created["program_id"] == "typed" and created["module"] == "predict"
    result = bridge.ok(
        "execute_program",
        {
            "program_id": "typed",
            "inputs": {"question": "What is 2+2?", "context": ["a", "b"]},
        },
        session,
    )
    outputs = result["outputs"]
    assert outputs["answer"] == "4"
    assert isinstance(outputs["confidence"], float) and outputs["confidence"] == 4.0
    assert isinstance(outputs["count"], int) and not isinstance(outputs["count"], bool)
    assert outputs["count"] == 4
    assert isinstance(outputs["tags"], list) and all(isinstance(t, str) for t in outputs["tags"])
    assert outputs["ok"] is True
    assert result["lm"] == OFFLINE
    assert result["lm_calls"] == 1
    assert result["usage"]["dummy"]["total_tokens"] > 0
    assert "reasoning" not in result


def test_chain_of_thought_returns_reasoning(bridge: BridgeClient, session: str) -> None:
    bridge.ok(
        "create_program",
        {
            "program_id": "cot",
            "module": "chain_of_thought",
            "signature": "question -> answer: float",
        },
        session,
    )
    result = bridge.ok(
        "execute_program", {"program_id": "cot", "inputs": {"question": "What is 3*4?"}}, session
    )
    assert result["outputs"] == {"answer": 12.0}
    assert isinstance(result["reasoning"], str) and result["reasoning"]


def test_structured_signature_and_generated_id(bridge: BridgeClient, session: str) -> None:
    created = bridge.ok(
        "create_program",
        {
            "signature": {
                "inputs": [{"name": "text", "type": "str", "description": "the text to classify"}],
                "outputs": [
                    {"name": "label", "type": "Literal['spam', 'ham']"},
                    {"name": "score", "type": "float", "description": "how sure"},
                ],
            },
            "instructions": "Classify the text.",
        },
        session,
    )
    program_id = created["program_id"]
    assert program_id.startswith("program-")
    info = bridge.ok("get_program_info", {"program_id": program_id}, session)
    assert info["instructions"] == "Classify the text."
    assert info["inputs"] == [
        {"name": "text", "type": "str", "description": "the text to classify"}
    ]
    assert info["outputs"][1] == {"name": "score", "type": "float", "description": "how sure"}
    result = bridge.ok(
        "execute_program", {"program_id": program_id, "inputs": {"text": "win money"}}, session
    )
    assert result["outputs"]["label"] in ("spam", "ham")


def test_list_info_delete_and_not_found(bridge: BridgeClient, session: str) -> None:
    for name in ("one", "two"):
        bridge.ok(
            "create_program", {"program_id": name, "signature": "question -> answer"}, session
        )
    listed = bridge.ok("list_programs", None, session)
    assert sorted(p["program_id"] for p in listed["programs"]) == ["one", "two"]
    bridge.ok("execute_program", {"program_id": "one", "inputs": {"question": "hi"}}, session)
    info = bridge.ok("get_program_info", {"program_id": "one"}, session)
    assert info["calls"] == 1 and info["demos"] == 0 and info["module"] == "predict"
    assert info["signature"] == "question: str -> answer: str"
    assert bridge.ok("delete_program", {"program_id": "one"}, session)["deleted"] is True
    assert [p["program_id"] for p in bridge.ok("list_programs", None, session)["programs"]] == [
        "two"
    ]
    for command in ("execute_program", "get_program_info", "delete_program", "save_program"):
        error = bridge.error(command, {"program_id": "one", "inputs": {"question": "x"}}, session)
        assert error["category"] == "not_found", error
        assert "'one'" in error["message"]
    duplicate = bridge.error(
        "create_program", {"program_id": "two", "signature": "a -> b"}, session
    )
    assert duplicate["category"] == "invalid_argument"


@pytest.mark.parametrize(
    "signature",
    [
        "question answer",
        "question ->",
        "a, a -> b",
        "a: nosuchtype -> b",
        "a -> b: list[",
        {"inputs": [{"name": "1bad"}], "outputs": ["x"]},
        42,
    ],
)
def test_bad_signature_is_invalid_argument(bridge: BridgeClient, signature: Any) -> None:
    error = bridge.error("create_program", {"program_id": "bad", "signature": signature})
    assert error["category"] == "invalid_argument", error


def test_bad_arguments_are_invalid(bridge: BridgeClient, session: str) -> None:
    bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, session)
    for args in (
        {"program_id": "p", "inputs": {}},
        {"program_id": "p", "inputs": {"q": 1}},
        {"program_id": "p", "inputs": "text"},
    ):
        assert bridge.error("execute_program", args, session)["category"] == "invalid_argument"
    for args in (
        {"signature": "a -> b", "module": "nope"},
        {"signature": "a -> b", "module": "react", "tools": ["shell"]},
        {"signature": "a -> b", "color": "red"},
    ):
        assert bridge.error("create_program", args, session)["category"] == "invalid_argument"


def test_execute_program_refuses_unknown_arguments(bridge: BridgeClient, session: str) -> None:
    bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, session)
    # "input" for "inputs": refused by name, with the accepted keys, before the program runs.
    error = bridge.error(
        "execute_program", {"program_id": "p", "input": {"question": "x"}}, session
    )
    assert error["category"] == "invalid_argument"
    assert "unknown arguments ['input']" in error["message"], error
    assert "accepted: ['async', 'inputs', 'program_id', 'stream']" in error["message"], error
    error = bridge.error(
        "execute_program", {"program_id": "p", "inputs": {"question": "x"}, "async": "yes"}, session
    )
    assert error["category"] == "invalid_argument" and "async" in error["message"], error
    ran = bridge.ok("execute_program", {"program_id": "p", "inputs": {"question": "x"}}, session)
    assert "answer" in ran["outputs"]


def test_sessions_do_not_share_programs(bridge: BridgeClient) -> None:
    bridge.ok("create_program", {"program_id": "mine", "signature": "question -> answer"}, "alice")
    assert bridge.ok("list_programs", None, "bob")["programs"] == []
    assert "mine" not in [p["program_id"] for p in bridge.ok("list_programs")["programs"]]
    assert (
        bridge.error("execute_program", {"program_id": "mine", "inputs": {"question": "x"}}, "bob")[
            "category"
        ]
        == "not_found"
    )
    bridge.ok("execute_program", {"program_id": "mine", "inputs": {"question": "x"}}, "alice")
    bridge.ok("cleanup_session", {"session_id": "alice"})
    assert bridge.ok("list_programs", None, "alice")["programs"] == []


def test_session_lm_settings_are_per_session(bridge: BridgeClient) -> None:
    configured = bridge.ok("configure_lm", {"offline": True, "temperature": 0.5}, "carol")
    assert configured["scope"] == "session" and configured["settings"]["temperature"] == 0.5
    assert bridge.ok("get_lm", None, "carol")["scope"] == "session"
    assert bridge.ok("get_lm", None, "dave")["scope"] == "default"
    assert bridge.ok("configure_lm", {"reset": True}, "carol")["scope"] == "default"


def test_configure_lm_without_a_session_is_refused(bridge: BridgeClient) -> None:
    """The default LM is the operator's: no caller changes it for every other caller."""
    for args in ({"offline": True, "temperature": 0.3}, {"reset": True}):
        error = bridge.error("configure_lm", args)
        assert error["category"] == "invalid_argument", error
        assert "pass a session" in error["message"] and "options.lm" in error["message"]
    other = bridge.ok("get_lm", None, "frank")
    assert other["scope"] == "default" and "temperature" not in other["settings"]
    assert bridge.ok("get_lm")["scope"] == "default"


def test_bad_options_fail_init(tmp_path: Path) -> None:
    client = None
    worker = Worker(DSPY_BRIDGE, "json", env=worker_env(tmp_path), stderr_path=tmp_path / "e.txt")
    try:
        worker.hello(timeout=SLOW_TIMEOUT)
        client = BridgeClient(worker)
        for options in (
            {"bogus": 1},
            {"lm": {"model": "x", "temperature": "hot"}},
            {"num_threads": 0},
            {"endpoints": {"api_base": "http://x/v1", "api_key_env": "K"}},
            {"endpoints": [{"api_base": "ftp://x", "api_key_env": "K"}]},
            {"endpoints": [{"api_base": "http://x/v1", "provider": "openai", "api_key_env": "K"}]},
            {"endpoints": [{"api_base": "http://x/v1"}]},
        ):
            error = client.error("init", {"options": options})
            assert error["category"] == "invalid_configuration", error
    finally:
        worker.kill()


def test_key_values_are_refused_in_requests(bridge: BridgeClient) -> None:
    error = bridge.error(
        "configure_lm", {"model": "openai/gpt-4o-mini", "api_key": PLANTED_KEY}, "eve"
    )
    assert error["category"] == "invalid_argument"
    assert "api_key_env" in error["message"] and PLANTED_KEY not in json.dumps(error)
    # A key variable the operator did not pair with OpenAI's endpoint: refused before anything
    # (even whether the variable is set) is looked at.
    unpaired = bridge.error(
        "configure_lm", {"model": "openai/gpt-4o-mini", "api_key_env": "NOT_SET_ANYWHERE"}, "eve"
    )
    assert unpaired["category"] == "invalid_argument"
    assert "NOT_SET_ANYWHERE" in unpaired["message"]
    assert "options.endpoints" in unpaired["message"]
    # No key, no api_base: DSPy's offline DummyLM, and the answer says so.
    fallback = bridge.ok("configure_lm", {"model": "openai/gpt-4o-mini"}, "eve")
    assert fallback["lm"] == OFFLINE and "no API key" in fallback["note"]


def test_save_and_load_round_trip(bridge: BridgeClient, session: str) -> None:
    trainset = [
        {"question": "Who wrote Hamlet?", "answer": "Shakespeare"},
        {"question": "Largest planet?", "answer": "Jupiter"},
    ]
    bridge.ok(
        "create_program",
        {"program_id": "src", "module": "chain_of_thought", "signature": "question -> answer"},
        session,
    )
    optimized = bridge.ok(
        "optimize_program",
        {
            "program_id": "src",
            "optimizer": "labeled_few_shot",
            "trainset": trainset,
            "metric": "exact_match",
        },
        session,
    )
    assert optimized["score_before"] == 0.0 and optimized["score_after"] == 100.0
    assert optimized["improved"] is True and optimized["demos"] == 2
    saved = bridge.ok("save_program", {"program_id": "src"}, session)
    assert saved["format"] == "mlbridge.dspy.program/1"
    assert saved["state"]["predict"]["demos"][0]["answer"] in ("Shakespeare", "Jupiter")
    data = json.loads(json.dumps(saved))  # survives storage as JSON
    loaded = bridge.ok("load_program", {"data": data, "program_id": "copy"}, session + "-other")
    assert loaded["demos"] == 2 and loaded["module"] == "chain_of_thought"
    answer = bridge.ok(
        "execute_program",
        {"program_id": "copy", "inputs": {"question": "Largest planet?"}},
        session + "-other",
    )
    assert answer["outputs"]["answer"] == "Jupiter"
    # DSPy's own state file plus a signature loads too.
    raw = bridge.ok(
        "load_program",
        {
            "program_id": "raw",
            "module": "chain_of_thought",
            "signature": "question -> answer",
            "state": saved["state"],
        },
        session,
    )
    assert raw["demos"] == 2
    mismatch = bridge.error(
        "load_program",
        {"program_id": "bad", "signature": "question -> answer", "state": saved["state"]},
        session,
    )
    assert mismatch["category"] == "invalid_argument"


def test_react_uses_the_calculator(bridge: BridgeClient, session: str) -> None:
    tools = bridge.ok("list_tools")["tools"]
    assert {t["name"] for t in tools} >= {"calculator", "lookup"}
    bridge.ok(
        "create_program",
        {
            "program_id": "agent",
            "module": "react",
            "signature": "question -> answer: float",
            "tools": ["calculator", "lookup"],
            "max_iters": 4,
        },
        session,
    )
    result = bridge.ok(
        "execute_program", {"program_id": "agent", "inputs": {"question": "What is 6*7?"}}, session
    )
    assert result["outputs"]["answer"] == 42.0
    assert result["trajectory"]["tool_name_0"] == "calculator"
    assert result["trajectory"]["observation_0"] == 42
    assert result["lm_calls"] == 3


def test_best_of_n_and_refine(bridge: BridgeClient, session: str) -> None:
    for module in ("best_of_n", "refine"):
        bridge.ok(
            "create_program",
            {
                "program_id": module,
                "module": module,
                "n": 2,
                "base_module": "chain_of_thought",
                "reward": {"name": "max_words", "max_words": 3},
                "signature": "question -> answer",
            },
            session,
        )
        result = bridge.ok(
            "execute_program",
            {"program_id": module, "inputs": {"question": "What is 1+1?"}},
            session,
        )
        assert result["outputs"]["answer"] == "2" and result["reasoning"]


def test_execute_batch_and_async(bridge: BridgeClient, session: str) -> None:
    bridge.ok(
        "create_program", {"program_id": "calc", "signature": "question -> answer: int"}, session
    )
    batch = bridge.ok(
        "execute_batch",
        {
            "program_id": "calc",
            "num_threads": 2,
            "inputs": [{"question": f"What is {n}+{n}?"} for n in range(5)],
        },
        session,
    )
    assert [r["outputs"]["answer"] for r in batch["results"]] == [0, 2, 4, 6, 8]
    assert batch["succeeded"] == 5 and batch["failed"] == 0 and batch["lm_calls"] == 5
    result = bridge.ok(
        "execute_program",
        {"program_id": "calc", "async": True, "inputs": {"question": "What is 5*5?"}},
        session,
    )
    assert result["outputs"]["answer"] == 25
    info = bridge.ok("get_program_info", {"program_id": "calc"}, session)
    assert info["calls"] == 6


def test_evaluate_and_history_offline(bridge: BridgeClient, session: str) -> None:
    bridge.ok("create_program", {"program_id": "ev", "signature": "question -> answer"}, session)
    evaluation = bridge.ok(
        "evaluate_program",
        {
            "program_id": "ev",
            "metric": "exact_match",
            "devset": [
                {"question": "What is 2+2?", "answer": "4"},
                {"inputs": {"question": "What is 2+3?"}, "outputs": {"answer": "6"}},
            ],
        },
        session,
    )
    assert evaluation["score"] == 50.0 and evaluation["count"] == 2
    assert [r["score"] for r in evaluation["results"]] == [1.0, 0.0]
    history = bridge.ok("inspect_history", {"n": 5}, session)
    assert history["count"] == 2
    assert history["entries"][-1]["messages"][-1]["role"] == "user"
    assert bridge.ok("inspect_history", {"n": 5}, session + "-other")["count"] == 0


# ----------------------------------------------------------------------- real HTTP path


@pytest.fixture(scope="module")
def http_bridge(
    tmp_path_factory: pytest.TempPathFactory, mock_server: MockServer
) -> Iterator[BridgeClient]:
    """A worker whose default LM (options.lm) is the mock server's ``gpt-default``: that pairs
    the mock server with the planted key's variable, and allows sessions 3 retries."""
    options = {"num_threads": 2, "lm": lm_settings(mock_server, "gpt-default", num_retries=3)}
    client = start_bridge(
        DSPY_BRIDGE,
        "json",
        tmp_path_factory.mktemp("dspy-http"),
        options=options,
        worker_id="dspy-http",
    )
    try:
        yield client
    finally:
        client.worker.kill()


def lm_settings(server: MockServer, model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    return {
        "model": f"openai/{model}",
        "api_base": server.url,
        "api_key_env": PLANTED_KEY_ENV,
        "num_retries": 0,
        "cache": False,
        "temperature": 0.0,
        **extra,
    }


def test_http_execute_through_litellm(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    mock_server.reset()
    configured = http_bridge.ok(
        "configure_lm", lm_settings(mock_server), "web", timeout=SLOW_TIMEOUT
    )
    assert configured["lm"] == "openai/gpt-test" and configured["offline"] is False
    assert configured["api_key_set"] is True and PLANTED_KEY not in json.dumps(configured)
    http_bridge.ok(
        "create_program",
        {
            "program_id": "qa",
            "module": "chain_of_thought",
            "signature": "question -> answer, confidence: float",
        },
        "web",
    )
    result = http_bridge.ok(
        "execute_program",
        {"program_id": "qa", "inputs": {"question": "What is 2+2?"}},
        "web",
        timeout=SLOW_TIMEOUT,
    )
    assert result["outputs"] == {"answer": "4", "confidence": 4.0}
    assert result["reasoning"] and result["lm"] == "openai/gpt-test" and result["lm_calls"] == 1
    assert result["usage"]["openai/gpt-test"]["prompt_tokens"] > 0
    requests = mock_server.chat_requests()
    assert len(requests) == 1
    assert requests[0]["json"]["model"] == "gpt-test"
    assert requests[0]["headers"]["authorization"] == f"Bearer {PLANTED_KEY}"


def test_http_lm_is_per_session(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    mock_server.reset()
    http_bridge.ok("configure_lm", lm_settings(mock_server, "gpt-alpha"), "alpha")
    http_bridge.ok("configure_lm", {"offline": True}, "beta")
    answers = {}
    for session in ("alpha", "beta", "gamma"):  # gamma has no LM of its own: options.lm
        http_bridge.ok(
            "create_program", {"program_id": "p", "signature": "question -> answer"}, session
        )
        answers[session] = http_bridge.ok(
            "execute_program", {"program_id": "p", "inputs": {"question": "hi"}}, session
        )
    assert answers["alpha"]["lm"] == "openai/gpt-alpha"
    assert answers["alpha"]["outputs"]["answer"] == "mock answer"
    assert answers["beta"]["lm"] == OFFLINE
    assert answers["beta"]["outputs"]["answer"] == "offline answer"
    assert answers["gamma"]["lm"] == "openai/gpt-default"
    assert [r["json"]["model"] for r in mock_server.chat_requests()] == ["gpt-alpha", "gpt-default"]
    assert http_bridge.ok("get_lm", None, "gamma")["scope"] == "default"


def _run_once(client: BridgeClient, session: str) -> None:
    """One program run in ``session``: one LM call under its LM."""
    client.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, session)
    client.ok("execute_program", {"program_id": "p", "inputs": {"question": "hi"}}, session)


def test_http_key_goes_only_to_configured_endpoints(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    """Naming the key's variable with an endpoint the operator did not pair it with is refused,
    and that endpoint never sees the key; the configured endpoint gets it, even unnamed."""
    with start_server() as (_, elsewhere):
        refused = http_bridge.error(
            "configure_lm",
            {**lm_settings(mock_server), "api_base": elsewhere.url},
            "mallory",
        )
        assert refused["category"] == "invalid_argument", refused
        message = refused["message"]
        assert elsewhere.url in message and mock_server.url in message, message
        assert "options.endpoints" in message and PLANTED_KEY_ENV in message
        # Without a key a caller may go anywhere: the placeholder key is what it sends.
        settings = {**lm_settings(mock_server, "gpt-own"), "api_base": elsewhere.url}
        del settings["api_key_env"]
        http_bridge.ok("configure_lm", settings, "mallory")
        _run_once(http_bridge, "mallory")
        sent = elsewhere.chat_requests()
        assert len(sent) == 1 and sent[0]["headers"]["authorization"] == "Bearer EMPTY"
        assert PLANTED_KEY not in json.dumps(elsewhere.requests)
    # The configured endpoint (spelt with a trailing slash), named without its key variable.
    mock_server.reset()
    settings = {**lm_settings(mock_server, "gpt-paired"), "api_base": mock_server.url + "/"}
    del settings["api_key_env"]
    configured = http_bridge.ok("configure_lm", settings, "trent")
    assert configured["settings"]["api_key_env"] == PLANTED_KEY_ENV
    _run_once(http_bridge, "trent")
    sent = mock_server.chat_requests()
    assert len(sent) == 1 and sent[0]["headers"]["authorization"] == f"Bearer {PLANTED_KEY}"


def test_http_configure_lm_without_a_session_leaves_the_default(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    mock_server.reset()
    error = http_bridge.error("configure_lm", lm_settings(mock_server, "gpt-hijack"))
    assert error["category"] == "invalid_argument" and "pass a session" in error["message"]
    _run_once(http_bridge, "victor")
    assert [r["json"]["model"] for r in mock_server.chat_requests()] == ["gpt-default"]


def test_openai_key_goes_only_to_openai(tmp_path: Path) -> None:
    """OPENAI_API_KEY in the worker's environment, the default LM on OpenAI: a session may use
    OpenAI with it, never send it to another provider or to a server it names, and LiteLLM is
    never left to pick it up by itself."""
    with start_server() as (_, elsewhere):
        client = start_bridge(
            DSPY_BRIDGE,
            "json",
            tmp_path,
            options={"lm": {"model": "openai/gpt-4o-mini", "num_retries": 0}},
            worker_id="dspy-keys",
            extra_env={"OPENAI_API_KEY": PLANTED_KEY},
        )
        try:
            default = client.ok("get_lm", None, "s")
            assert default["offline"] is False
            assert default["settings"]["api_key_env"] == "OPENAI_API_KEY"
            same_provider = client.ok("configure_lm", {"model": "openai/gpt-4o"}, "s")
            assert same_provider["offline"] is False
            assert same_provider["settings"]["api_key_env"] == "OPENAI_API_KEY"
            refused = client.error(
                "configure_lm",
                {"model": "anthropic/claude-3-5-haiku-latest", "api_key_env": "OPENAI_API_KEY"},
                "s",
            )
            assert refused["category"] == "invalid_argument", refused
            assert "anthropic" in refused["message"]
            client.ok(
                "configure_lm",
                {"model": "openai/gpt-test", "api_base": elsewhere.url, "num_retries": 0},
                "s",
            )
            _run_once(client, "s")
            sent = elsewhere.chat_requests()
            assert len(sent) == 1 and sent[0]["headers"]["authorization"] == "Bearer EMPTY"
            assert PLANTED_KEY not in json.dumps(elsewhere.requests)
            assert PLANTED_KEY not in "".join(client.transcript)
        finally:
            client.worker.kill()


def test_http_retries_are_capped_by_the_deadline(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    """DSPy waits 1 s, 2 s, 4 s before its retries of a 500: with 6 s left for the call the
    third retry (after 7 s of waits) cannot start, and the caller gets the provider's error
    after 3 requests, not a timeout (the deadline leaves seconds of slack: nothing is timed)."""
    session = "deadline"
    http_bridge.ok("configure_lm", lm_settings(mock_server, "fail-500", num_retries=3), session)
    http_bridge.ok(
        "create_program", {"program_id": "p", "signature": "question -> answer"}, session
    )
    sent_before = len(mock_server.chat_requests())
    response = http_bridge.worker.call(
        "execute_program",
        {"program_id": "p", "inputs": {"question": "x"}},
        session,
        timeout=SLOW_TIMEOUT,
        deadline_ms=6000,
    )
    http_bridge.transcript.append(json.dumps(response))
    assert response["success"] is False
    assert response["error"]["type"] == "dspy.LMServerError", response["error"]
    assert len(mock_server.chat_requests()) - sent_before == 3
    # The operator's options.lm.num_retries (3) is the most a session may ask for.
    too_many = http_bridge.error(
        "configure_lm", lm_settings(mock_server, "gpt-test", num_retries=4), session
    )
    assert too_many["category"] == "invalid_argument"
    assert "options.lm.num_retries" in too_many["message"]


@pytest.mark.parametrize(
    ("model", "extra", "error_type", "category"),
    [
        ("fail-429", {}, "dspy.LMRateLimitError", "rate_limit"),
        ("fail-401", {}, "dspy.LMAuthError", "authentication"),
        ("fail-500", {}, "dspy.LMServerError", "model_error"),
        ("slow-3000", {"timeout_s": 0.5}, "dspy.LMTransportError", "model_error"),
        # The same failures through LiteLLM (engine: litellm) keep LiteLLM's types.
        ("fail-429", {"engine": "litellm"}, "litellm.RateLimitError", "rate_limit"),
        ("slow-3000", {"timeout_s": 0.5, "engine": "litellm"}, "litellm.Timeout", "model_error"),
    ],
)
def test_http_failures_keep_their_types(
    http_bridge: BridgeClient,
    mock_server: MockServer,
    model: str,
    extra: dict,
    error_type: str,
    category: str,
) -> None:
    session = f"fail-{model}-{extra.get('engine', 'default')}"
    http_bridge.ok("configure_lm", lm_settings(mock_server, model, **extra), session)
    http_bridge.ok(
        "create_program", {"program_id": "p", "signature": "question -> answer"}, session
    )
    sent_before = len(mock_server.chat_requests())
    error = http_bridge.error(
        "execute_program", {"program_id": "p", "inputs": {"question": "x"}}, session
    )
    assert error["type"] == error_type, error
    assert error["category"] == category
    # One request and no retry behind the caller's back (num_retries 0; no adapter fallback).
    assert len(mock_server.chat_requests()) - sent_before == 1
    assert PLANTED_KEY not in json.dumps(error)
    if model == "fail-401":  # the server echoed the key; the bridge did not
        assert "[REDACTED]" in error["message"]


def test_http_slow_answer_arrives(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    http_bridge.ok("configure_lm", lm_settings(mock_server, "slow-300"), "slow")
    http_bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, "slow")
    result = http_bridge.ok(
        "execute_program", {"program_id": "p", "inputs": {"question": "1+2"}}, "slow"
    )
    assert result["outputs"]["answer"] == "3" and result["elapsed_ms"] >= 300


def test_http_bootstrap_few_shot_improves(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    trainset = [
        {"question": "Capital of France?", "answer": "Paris"},
        {"question": "Capital of Japan?", "answer": "Tokyo"},
        {"question": "Capital of Italy?", "answer": "Rome"},
    ]
    http_bridge.ok("configure_lm", lm_settings(mock_server), "opt")
    http_bridge.ok(
        "create_program", {"program_id": "capitals", "signature": "question -> answer"}, "opt"
    )
    mock_server.reset()
    # Scored before: wrong. Bootstrapping: right (these become the demos). Scored after: the
    # server answers a question its prompt has a demo for as the demo did.
    mock_server.script([{"answer": "Berlin"}] * 3 + [{"answer": e["answer"]} for e in trainset])
    result = http_bridge.ok(
        "optimize_program",
        {
            "program_id": "capitals",
            "optimizer": "bootstrap_few_shot",
            "trainset": trainset,
            "metric": "exact_match",
            "max_bootstrapped_demos": 3,
            "max_labeled_demos": 3,
            "num_threads": 1,
        },
        "opt",
    )
    assert result["score_before"] == 0.0 and result["score_after"] == 100.0, result
    assert result["improved"] is True and result["demos"] == 3
    assert result["lm_calls"] == 9 and mock_server.scripted_left() == 0
    info = http_bridge.ok("get_program_info", {"program_id": "capitals"}, "opt")
    assert info["optimized_with"] == "bootstrap_few_shot" and info["demos"] == 3


def test_http_evaluate(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    http_bridge.ok("configure_lm", lm_settings(mock_server), "eval")
    http_bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, "eval")
    mock_server.reset()
    result = http_bridge.ok(
        "evaluate_program",
        {
            "program_id": "p",
            "metric": "contains",
            "devset": [
                {"question": "What is 2+2?", "answer": "4"},
                {"question": "What is 3+3?", "answer": "7"},
            ],
        },
        "eval",
    )
    assert result["score"] == 50.0 and result["lm_calls"] == 2
    assert len(mock_server.chat_requests()) == 2


def test_http_inspect_history_is_redacted(
    http_bridge: BridgeClient, mock_server: MockServer
) -> None:
    http_bridge.ok("configure_lm", lm_settings(mock_server), "hist")
    http_bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, "hist")
    http_bridge.ok(
        "execute_program",
        {"program_id": "p", "inputs": {"question": f"Is {PLANTED_KEY} a valid key?"}},
        "hist",
    )
    history = http_bridge.ok("inspect_history", {"n": 3}, "hist")
    assert history["count"] == 1
    entry = history["entries"][0]
    assert entry["model"] == "openai/gpt-test" and entry["usage"]["total_tokens"] > 0
    text = json.dumps(entry)
    assert "[REDACTED]" in text and PLANTED_KEY not in text
    assert not any(k.startswith("api_") for k in entry["kwargs"])


def test_http_cancellation(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    """A cancel message during an LM call (and during a batch) answers Cancelled.

    (This worker runs at the bridge's default concurrency, 256; SIGINT cancellation at
    concurrency 1 is tested in test_bridge_workers_async.py.)"""
    http_bridge.ok("configure_lm", lm_settings(mock_server, "slow-1500"), "cancel")
    http_bridge.ok(
        "create_program", {"program_id": "p", "signature": "question -> answer"}, "cancel"
    )
    worker = http_bridge.worker
    for command, inputs in (
        ("execute_program", {"question": "x"}),
        ("execute_batch", [{"question": "x"}, {"question": "y"}]),
    ):
        mock_server.reset()
        request_id = worker.start_request(command, {"program_id": "p", "inputs": inputs}, "cancel")
        wait_for_chat_request(mock_server)
        worker.send({"type": "cancel", "id": request_id})
        response, _ = worker.wait_response(request_id, timeout=10)
        http_bridge.transcript.append(json.dumps(response))
        assert response["success"] is False and response["error"]["type"] == "Cancelled", response
    assert http_bridge.ok("ping")["status"] == "ok"


def test_http_planted_key_never_leaks(http_bridge: BridgeClient, mock_server: MockServer) -> None:
    """Runs last in this module: every answer so far, errors included, and the stderr."""
    http_bridge.ok("configure_lm", lm_settings(mock_server, "fail-401"), "leak")
    http_bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, "leak")
    error = http_bridge.error(
        "execute_program", {"program_id": "p", "inputs": {"question": "x"}}, "leak"
    )
    assert error["type"] == "dspy.LMAuthError"
    http_bridge.ok("shutdown")
    assert http_bridge.worker.wait(10) == 0
    everything = "".join(http_bridge.transcript)
    assert PLANTED_KEY not in everything
    stderr = http_bridge.stderr()
    assert PLANTED_KEY not in stderr
    assert "[REDACTED]" in stderr  # the 401's original error was logged, redacted


# --------------------------------------------------------------- the shared test server


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.read()


def test_server_streams_json_mode_and_embeddings(mock_server: MockServer) -> None:
    mock_server.reset()
    url = mock_server.url
    stream = _post(
        f"{url}/chat/completions",
        {
            "model": "gpt-test",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "What is 2+2?"}],
        },
    ).decode()
    events = [line[6:] for line in stream.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert text == "4" and chunks[-1]["usage"]["total_tokens"] > 0
    reply = json.loads(
        _post(
            f"{url}/chat/completions",
            {
                "model": "gpt-test",
                "response_format": {"type": "json_object"},
                "messages": [{"role": "user", "content": "What is 5+5?"}],
            },
        )
    )
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"answer": "10"}
    vectors = json.loads(_post(f"{url}/embeddings", {"model": "e", "input": ["a", "b", "a"]}))
    data = [d["embedding"] for d in vectors["data"]]
    assert len(data[0]) == 32 and data[0] == data[2] != data[1] and data[0] == embedding("a")


def test_server_runs_as_a_script() -> None:
    script = Path(__file__).resolve().parents[2] / "support" / "openai_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        reply = json.loads(
            _post(
                f"{url}/chat/completions",
                {"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]},
            )
        )
        assert reply["choices"][0]["message"]["content"] == "mock answer"
    finally:
        proc.kill()
        proc.wait(5)


def test_http_local_server_without_a_key(tmp_path: Path, mock_server: MockServer) -> None:
    # A local OpenAI-compatible server needs no key: the bridge sends a placeholder. A worker
    # of its own: earlier tests may have ended the shared one.
    mock_server.reset()
    settings = lm_settings(mock_server)
    del settings["api_key_env"]
    client = start_bridge(DSPY_BRIDGE, "json", tmp_path, worker_id="dspy-local")
    try:
        configured = client.ok("configure_lm", settings, "local", timeout=SLOW_TIMEOUT)
        assert configured["offline"] is False
        client.ok(
            "create_program", {"program_id": "qa", "signature": "question -> answer"}, "local"
        )
        result = client.ok(
            "execute_program",
            {"program_id": "qa", "inputs": {"question": "What is 2+2?"}},
            "local",
            timeout=SLOW_TIMEOUT,
        )
        assert result["lm"] == "openai/gpt-test" and result["lm_calls"] == 1
    finally:
        client.worker.kill()
