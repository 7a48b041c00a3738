"""Fixtures for the framework bridges: a clean worker environment, the mock OpenAI server,
and a client that records every answer so a test can check that no secret leaked."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "support"))  # openai_server
sys.path.insert(0, str(HERE.parent))  # worker_client

from openai_server import MockServer, start_server  # noqa: E402
from worker_client import ROOT, Worker  # noqa: E402

#: A fake API key that must never come back out of a worker.
PLANTED_KEY = "sk-test-PLANTED-0123456789"
PLANTED_KEY_ENV = "MOCK_LLM_KEY"

#: Generous for a cold start on a busy 2-core machine (DSPy and LiteLLM imports).
SLOW_TIMEOUT = 60.0
CALL_TIMEOUT = 30.0


def worker_env(tmp: Path) -> dict[str, str]:
    """What a host would pass: nothing inherited but PATH, caches in a temp dir, no network."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "DSPY_CACHEDIR": str(tmp / "dspy-cache"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "HF_HUB_OFFLINE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        PLANTED_KEY_ENV: PLANTED_KEY,
    }


class BridgeClient:
    """A ready bridge worker; every response it gives is kept in ``transcript``."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.transcript: list[str] = []

    def call(
        self,
        command: str,
        args: Any = None,
        session: str | None = None,
        timeout: float = CALL_TIMEOUT,
    ) -> dict[str, Any]:
        response = self.worker.call(command, args, session, timeout=timeout)
        self.transcript.append(json.dumps(response, default=repr))
        return response

    def ok(
        self,
        command: str,
        args: Any = None,
        session: str | None = None,
        timeout: float = CALL_TIMEOUT,
    ) -> Any:
        response = self.call(command, args, session, timeout)
        assert response["success"] is True, response.get("error")
        return response["result"]

    def error(
        self,
        command: str,
        args: Any = None,
        session: str | None = None,
        timeout: float = CALL_TIMEOUT,
    ) -> dict[str, Any]:
        response = self.call(command, args, session, timeout)
        assert response["success"] is False, response.get("result")
        return response["error"]

    def stderr(self) -> str:
        return self.worker.stderr()


def start_bridge(
    script: Path,
    codec: str,
    tmp: Path,
    options: dict[str, Any] | None = None,
    worker_id: str = "dspy-t",
    extra_env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> BridgeClient:
    """A worker of ``script`` past its init; ``extra_env`` adds to :func:`worker_env`,
    ``extra_args`` to its command line (``["--concurrency", "1"]``)."""
    env = {**worker_env(tmp), **(extra_env or {})}
    worker = Worker(
        script,
        codec,
        extra_args=extra_args,
        env=env,
        stderr_path=tmp / "stderr.txt",
        worker_id=worker_id,
    )
    try:
        hello = worker.hello(timeout=SLOW_TIMEOUT)
        client = BridgeClient(worker)
        client.transcript.append(json.dumps(hello))
        client.ok("init", {"options": options or {}}, timeout=SLOW_TIMEOUT)
        return client
    except BaseException:
        worker.kill()
        raise


DSPY_BRIDGE = ROOT / "python_bridges" / "dspy_bridge.py"
LANGCHAIN_BRIDGE = ROOT / "python_bridges" / "langchain_bridge.py"


def wait_for_chat_request(server: MockServer, timeout: float = SLOW_TIMEOUT) -> None:
    """Until ``server`` has received a chat completion: a call is in flight at the model."""
    deadline = time.monotonic() + timeout
    while not server.chat_requests():
        assert time.monotonic() < deadline, "no chat completion reached the mock server"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def mock_server() -> Iterator[MockServer]:
    """The mock OpenAI-compatible server, shared by a module (tests reset what they use)."""
    with start_server() as (_, server):
        server.stream_delay_s = 0.001
        yield server
