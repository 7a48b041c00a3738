"""The DSPy bridge serving the user's own code: modules, signatures, tools and metrics by
import path, declared with ``--code-path`` / ``--code-module`` as the host passes them.

The example package ``examples/user_code/myteam`` is the code; a second package written per
test run (``badteam``) holds tools that raise or hang. Offline (DSPy's DummyLM) except where
a ReAct step must call a given tool: there the mock OpenAI server scripts that step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import MockServer
from worker_client import ROOT, Worker

from .conftest import (
    DSPY_BRIDGE,
    SLOW_TIMEOUT,
    BridgeClient,
    start_bridge,
    wait_for_chat_request,
    worker_env,
)

USER_CODE = ROOT / "examples" / "user_code"
MODULES = ["myteam", "myteam.tools", "myteam.programs", "myteam.metrics", "badteam.tools"]

BAD_TOOLS = '''
import threading

RELEASE = threading.Event()


def broken(text: str) -> str:
    """A tool that always raises."""
    raise RuntimeError("the search index is down")


def hang(text: str) -> str:
    """A tool that blocks until the test process ends."""
    RELEASE.wait()
    return text
'''


def code_args(*dirs: Path, modules: list[str]) -> list[str]:
    args: list[str] = []
    for directory in dirs:
        args += ["--code-path", str(directory)]
    for module in modules:
        args += ["--code-module", module]
    return args


@pytest.fixture(scope="module")
def bad_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("badcode")
    (root / "badteam").mkdir()
    (root / "badteam" / "__init__.py").write_text("")
    (root / "badteam" / "tools.py").write_text(BAD_TOOLS)
    return root


@pytest.fixture(scope="module")
def bridge(
    tmp_path_factory: pytest.TempPathFactory, bad_code: Path, mock_server: MockServer
) -> Iterator[BridgeClient]:
    """One worker with the user code declared; its programs are declared in options too."""
    options = {
        "programs": [{"program_id": "team-rag", "module": "myteam.programs:RAG", "init": {"k": 1}}]
    }
    client = start_bridge(
        DSPY_BRIDGE,
        "json",
        tmp_path_factory.mktemp("dspy-user-code"),
        options=options,
        extra_args=code_args(USER_CODE, bad_code, modules=MODULES),
    )
    try:
        yield client
    finally:
        client.worker.kill()


def test_user_module_with_init_runs_offline(bridge: BridgeClient) -> None:
    info = bridge.ok(
        "create_program",
        {"program_id": "rag", "module": "myteam.programs:RAG", "init": {"k": 2}},
        "rag",
    )
    assert info["module"] == "myteam.programs:RAG" and info["init"] == {"k": 2}
    # Derived interface: forward(question) and the last predictor's outputs.
    assert [f["name"] for f in info["inputs"]] == ["question"]
    assert [f["name"] for f in info["outputs"]] == ["answer"]
    assert info["predictors"] == [{"name": "respond.predict", "demos": 0}]
    result = bridge.ok(
        "execute_program", {"program_id": "rag", "inputs": {"question": "What is 2+3?"}}, "rag"
    )
    assert result["outputs"] == {"answer": "5"} and "reasoning" in result
    assert result["lm_calls"] == 1 and result["usage"]["dummy"]["total_tokens"] > 0
    assert result["cost"] is None  # the offline LM has no price: usage only


def test_factory_and_signature_by_import_path(bridge: BridgeClient) -> None:
    made = bridge.ok(
        "create_program",
        {"program_id": "made", "module": "myteam.programs:make_rag", "init": {"k": 1}},
        "sig",
    )
    assert made["module"] == "myteam.programs:make_rag"
    cited = bridge.ok(
        "create_program",
        {"program_id": "cited", "signature": "myteam.programs:AnswerWithCitations"},
        "sig",
    )
    assert cited["instructions"] == "Answer the question and cite the passages used."
    assert {"name": "citations", "type": "list[Citation]"} in cited["outputs"]
    result = bridge.ok(
        "execute_program", {"program_id": "cited", "inputs": {"question": "q"}}, "sig"
    )
    assert result["outputs"]["citations"] == [
        {"source": "offline answer", "quote": "offline answer"}
    ]


def test_save_load_evaluate_and_optimize_a_user_module(bridge: BridgeClient) -> None:
    s = "opt"
    bridge.ok("create_program", {"program_id": "rag", "module": "myteam.programs:RAG"}, s)
    trainset = [
        {"question": "Capital of France?", "answer": "Paris"},
        {"question": "Capital of Japan?", "answer": "Tokyo"},
    ]
    scored = bridge.ok(
        "evaluate_program",
        {"program_id": "rag", "devset": trainset, "metric": "myteam.metrics:exact"},
        s,
    )
    assert scored["score"] == 0.0 and scored["metric"] == "myteam.metrics:exact"
    optimized = bridge.ok(
        "optimize_program",
        {
            "program_id": "rag",
            "optimizer": "LabeledFewShot",
            "trainset": trainset,
            "metric": "myteam.metrics:exact",
            "optimizer_args": {"k": 2},
        },
        s,
    )
    assert optimized["optimizer"] == "labeled_few_shot" and optimized["demos"] == 2
    assert optimized["score_before"] == 0.0 and "score_after" in optimized
    saved = bridge.ok("save_program", {"program_id": "rag"}, s)
    assert saved["spec"]["module"] == "myteam.programs:RAG"
    loaded = bridge.ok(
        "load_program", {"data": json.loads(json.dumps(saved)), "program_id": "copy"}, s + "2"
    )
    assert loaded["demos"] == 2 and loaded["predictors"] == [
        {"name": "respond.predict", "demos": 2}
    ]
    answer = bridge.ok(
        "execute_program", {"program_id": "copy", "inputs": {"question": "2+2"}}, s + "2"
    )
    assert answer["outputs"]["answer"] == "4"


def test_declared_program_exists_in_every_session(bridge: BridgeClient) -> None:
    for session in (None, "one", "two"):
        listed = bridge.ok("list_programs", {}, session)
        assert {"team-rag"} <= {p["program_id"] for p in listed["programs"]}
        result = bridge.ok(
            "execute_program", {"program_id": "team-rag", "inputs": {"question": "1+1"}}, session
        )
        assert result["outputs"]["answer"] == "2"
    refused = bridge.call("delete_program", {"program_id": "team-rag"}, "one")
    assert refused["success"] is False and "options.programs" in refused["error"]["message"]


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        ({"module": "myteam.tools:search"}, "is a function"),  # a function, not a Module maker
        ({"module": "myteam.tools:CORPUS"}, "expected a dspy.Module"),
        ({"module": "os:system"}, "not declared"),
        ({"module": "myteam.programs:Missing"}, "has no attribute 'Missing'"),
        ({"module": "myteam.programs:RAG", "init": {"depth": 3}}, "init ['depth']"),
        ({"module": "myteam.tools:word_count", "init": {"text": "a b"}}, "returned a int"),
        ({"signature": "myteam.tools:search"}, "expected a dspy.Signature"),
        (
            {"module": "react", "signature": "q -> a", "tools": ["myteam.tools:CORPUS"]},
            "a function",
        ),
        ({"module": "react", "signature": "q -> a", "tools": ["web_search"]}, "import path"),
        ({"module": "predict", "signature": "q -> a", "init": {}}, "init applies"),
    ],
)
def test_wrong_kinds_are_refused(bridge: BridgeClient, args: dict[str, Any], wanted: str) -> None:
    error = bridge.error("create_program", args, "bad")
    assert error["category"] == "invalid_argument" and wanted in error["message"], error


def test_unknown_metric_module_is_refused(bridge: BridgeClient) -> None:
    bridge.ok("create_program", {"program_id": "p", "signature": "question -> answer"}, "m")
    error = bridge.error(
        "evaluate_program",
        {"program_id": "p", "devset": [{"question": "q", "answer": "a"}], "metric": "os.path:join"},
        "m",
    )
    assert error["category"] == "invalid_argument" and "not declared" in error["message"]


def _react_on_mock(bridge: BridgeClient, server: MockServer, session: str, tool: str) -> None:
    bridge.ok(
        "configure_lm",
        {"model": "openai/gpt-test", "api_base": server.url, "num_retries": 0, "cache": False},
        session,
    )
    bridge.ok(
        "create_program",
        {
            "program_id": "agent",
            "module": "react",
            "signature": "question -> answer",
            "tools": [f"badteam.tools:{tool}", "myteam.tools:search"],
            "max_iters": 2,
        },
        session,
    )
    server.reset()
    server.script(
        [{"next_thought": "use it", "next_tool_name": tool, "next_tool_args": {"text": "x"}}]
    )


def test_a_user_tool_that_raises_becomes_an_observation(
    bridge: BridgeClient, mock_server: MockServer
) -> None:
    _react_on_mock(bridge, mock_server, "raises", "broken")
    result = bridge.ok(
        "execute_program", {"program_id": "agent", "inputs": {"question": "find it"}}, "raises"
    )
    observation = result["trajectory"]["observation_0"]
    assert "broken" in observation and "the search index is down" in observation, result


def test_a_user_tool_that_hangs_is_cancelled_and_blocks_nothing(
    bridge: BridgeClient, mock_server: MockServer
) -> None:
    _react_on_mock(bridge, mock_server, "hangs", "hang")
    worker = bridge.worker
    request_id = worker.start_request(
        "execute_program", {"program_id": "agent", "inputs": {"question": "wait"}}, "hangs"
    )
    wait_for_chat_request(mock_server)
    # The tool now blocks its thread; the worker's loop still answers (so the host's
    # deadline, which cancels, holds too).
    assert worker.call("ping", timeout=SLOW_TIMEOUT)["success"] is True
    worker.send({"type": "cancel", "id": request_id})
    response, _ = worker.wait_response(request_id, timeout=SLOW_TIMEOUT)
    assert response["success"] is False and response["error"]["type"] == "Cancelled", response


@pytest.mark.parametrize(
    ("programs", "wanted"),
    [
        ([{"program_id": "x", "module": "myteam.programs:Nope"}], "has no attribute 'Nope'"),
        (
            [
                {"program_id": "x", "signature": "a -> b"},
                {"program_id": "x", "signature": "a -> b"},
            ],
            "declared twice",
        ),
        ([{"signature": "a -> b"}], "needs 'program_id'"),
    ],
)
def test_a_bad_declared_program_fails_the_init(
    tmp_path: Path, programs: list[Any], wanted: str
) -> None:
    worker = Worker(
        DSPY_BRIDGE,
        "json",
        extra_args=code_args(USER_CODE, modules=["myteam.programs"]),
        env=worker_env(tmp_path),
        stderr_path=tmp_path / "stderr.txt",
        worker_id="dspy-bad-programs",
    )
    try:
        worker.hello(timeout=SLOW_TIMEOUT)
        response = worker.call("init", {"options": {"programs": programs}}, timeout=SLOW_TIMEOUT)
    finally:
        worker.kill()
    assert response["success"] is False, response
    error = response["error"]
    assert error["category"] == "invalid_configuration", error
    assert error["message"].startswith("options.programs[") and wanted in error["message"], error
