"""The team's own code over the HTTP API: a real `mlbridge serve` with the DSPy and LangChain
plugins, whose bridges declare the example package examples/user_code/myteam (`code:`), and
requests that name its RAG module, metric and runnables by import path. Offline: DSPy's
DummyLM and LangChain's fake chat model; no key reaches the workers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BINARY, ROOT, Server

# The plugins of the build that made the binary (<build>/bin/mlbridge, <build>/plugins).
PLUGINS = Path(BINARY).resolve().parents[1] / "plugins"
# scripts/test.sh's TSan pass builds the host without these plugins; the ci pass runs this file.
pytestmark = pytest.mark.skipif(
    not all((PLUGINS / f"libmlbridge_{name}.so").exists() for name in ("dspy", "langchain")),
    reason=f"the dspy and langchain plugins are not built in {PLUGINS} (build them to run this)",
)


def user_code_deployment(cache: Path) -> str:
    return f"""
host:
  root: {ROOT}
  python: {ROOT / ".venv" / "bin" / "python"}
  plugin_dirs: [{PLUGINS}]
bridges:
  dspy:
    plugin: dspy
    pool: {{size: 1, max_overflow: 0}}
    env: {{set: {{DSPY_CACHEDIR: {cache}}}}}
    code:
      paths: [examples/user_code]
      modules: [myteam.programs, myteam.tools, myteam.metrics]
  langchain:
    plugin: langchain
    pool: {{size: 1, max_overflow: 0}}
    code: {{paths: [examples/user_code], modules: [myteam.chains]}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("user-code-http")
    config = root / "mlbridge.yaml"
    config.write_text(user_code_deployment(root / "dspy-cache"))
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    running = Server(config, env)
    try:
        yield running
    finally:
        code, err = running.stop()
        assert code == 0, err


def command(server: Server, bridge: str, name: str, args: dict[str, Any]) -> tuple[int, Any]:
    status, body, _ = server.request(
        "POST", f"/v1/bridges/{bridge}/commands/{name}", {"args": args}, token=None, timeout=120
    )
    return status, body


def ok(server: Server, bridge: str, name: str, args: dict[str, Any]) -> Any:
    status, body = command(server, bridge, name, args)
    assert status == 200, (name, body)
    return body["result"]


def test_the_users_rag_module_its_tool_and_metric_by_import_path(served: Server) -> None:
    created = ok(
        served,
        "dspy",
        "create_program",
        {"program_id": "rag", "module": "myteam.programs:RAG", "init": {"k": 1}},
    )
    assert created["module"] == "myteam.programs:RAG"
    # RAG.forward retrieves its context with myteam.tools:search, then ChainOfThought answers.
    run = ok(
        served,
        "dspy",
        "execute_program",
        {"program_id": "rag", "inputs": {"question": "What is 2+3?"}},
    )
    assert run["outputs"]["answer"] == "5" and run["lm"] == "offline DummyLM", run
    devset = [
        {"question": "What is 2+2?", "answer": "4"},
        {"question": "Capital of France?", "answer": "Paris"},
    ]
    scored = ok(
        served,
        "dspy",
        "evaluate_program",
        {"program_id": "rag", "devset": devset, "metric": "myteam.metrics:exact"},
    )
    assert (scored["metric"], scored["count"], scored["score"]) == ("myteam.metrics:exact", 2, 50.0)


def test_the_users_runnables_by_import_path_invoked_and_streamed(served: Server) -> None:
    created = ok(
        served,
        "langchain",
        "create_chain",
        {"chain_id": "sum", "runnable": "myteam.chains:summarize"},
    )
    assert created["input_schema"]["required"] == ["text"], created
    summary = ok(
        served,
        "langchain",
        "invoke",
        {"chain_id": "sum", "input": {"text": "Short. Then more.", "max_words": 1}},
    )
    assert summary["output"] == {"summary": "Short.", "words": 1, "sentences": 2}

    ok(
        served,
        "langchain",
        "create_chain",
        {
            "chain_id": "qa",
            "runnable": "myteam.chains:make_answerer",
            "init": {"answers": ["Paris."]},
        },
    )
    status, text, headers = served.request(
        "POST",
        "/v1/bridges/langchain/commands/stream",
        {"args": {"chain_id": "qa", "input": {"question": "Capital of France?"}}, "stream": True},
        token=None,
        timeout=120,
    )
    kind = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert status == 200 and kind.startswith("text/event-stream"), text
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    tokens = [data["token"] for event, data in events if event == "chunk"]
    assert "".join(tokens) == "Paris." and len(tokens) > 1, events
    assert events[-1][0] == "result" and events[-1][1]["result"]["output"] == "Paris."


@pytest.mark.parametrize(
    ("bridge", "name", "args", "wanted"),
    [
        ("dspy", "create_program", {"program_id": "x", "module": "os:system"}, "not declared"),
        (
            "dspy",
            "create_program",
            {"program_id": "x", "module": "myteam.tools:search"},
            "function",
        ),
        ("langchain", "create_chain", {"chain_id": "x", "runnable": "os:system"}, "not declared"),
    ],
)
def test_undeclared_or_wrong_objects_are_400(
    served: Server, bridge: str, name: str, args: dict[str, Any], wanted: str
) -> None:
    status, body = command(served, bridge, name, args)
    assert status == 400, body
    assert body["error"]["category"] == "invalid_argument"
    assert wanted in body["error"]["message"], body
