"""A real `mlbridge serve` on loopback for the HTTP API tests, and a small client for it.

The binary comes from $MLBRIDGE_BINARY (CTest sets it), else build/dev/bin/mlbridge.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
BINARY = os.environ.get("MLBRIDGE_BINARY", str(ROOT / "build" / "dev" / "bin" / "mlbridge"))
TOKEN = "test-token-0123456789"
# A host-section line that switches runtime registration on, with the repository's bridge
# folders as script directories (the server must also have a token: MLBRIDGE_TEST_TOKEN).
REGISTRATION = (
    "  runtime_registration: {enabled: true, script_dirs: [python_bridges, tests/support/workers]}"
)


def deployment(extra_host: str = "", extra_bridges: str = "") -> str:
    """A YAML deployment of echo bridges rooted at the repository."""
    return f"""
host:
  root: {ROOT}
  python: {ROOT / ".venv" / "bin" / "python"}
  default_bridge: echo
  max_body_bytes: 4096
{extra_host}
bridges:
  echo:
    script: python_bridges/examples/echo_bridge.py
    codec: msgpack
    pool: {{size: 1, queue_limit: 1000, checkout_timeout_ms: 60000}}
    timeouts: {{request_ms: 60000}}
  pair:
    script: python_bridges/examples/echo_bridge.py
    pool: {{size: 2, queue_limit: 1000, checkout_timeout_ms: 60000}}
{extra_bridges}
"""


class Server:
    """A running `mlbridge serve`; stop() sends SIGTERM and waits for a clean exit.

    With ``log``, the server's stderr goes to that file (readable while it runs) instead of a
    pipe read at stop().
    """

    def __init__(
        self,
        config: Path,
        env: dict[str, str],
        log: Path | None = None,
        listen: str = "127.0.0.1:0",
        extra_args: tuple[str, ...] = (),
    ):
        self.log = log
        self._log_file = open(log, "w", encoding="utf-8") if log else None  # noqa: SIM115
        self.process = subprocess.Popen(
            [BINARY, "serve", "--config", str(config), "--listen", listen, *extra_args],
            stdout=subprocess.PIPE,
            stderr=self._log_file or subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"http://[^ ]+:(\d+)", line)
        if not match:
            self.process.kill()
            _, err = self.process.communicate(timeout=30)
            raise RuntimeError(f"mlbridge serve did not start: {line!r}\n{err}")
        self.port = int(match.group(1))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = TOKEN,
        raw: bytes | None = None,
        timeout: float = 60,
        headers: dict[str, str | None] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """One request. ``headers`` adds or replaces headers (a None value leaves one out:
        ``{"Content-Type": None}``); ``Host`` is the address connected to unless given."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        wanted: dict[str, str | None] = {"Content-Type": "application/json"}
        if token:
            wanted["Authorization"] = f"Bearer {token}"
        wanted.update(headers or {})
        headers = {name: value for name, value in wanted.items() if value is not None}
        payload = raw if raw is not None else (None if body is None else json.dumps(body))
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        content_type = response.getheader("Content-Type", "")
        parsed: Any = json.loads(data) if "json" in content_type and data else data.decode()
        return response.status, parsed, dict(response.getheaders())

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
            raise
        if self._log_file is not None:
            self._log_file.close()
            err = self.log_text()
        return self.process.returncode, err

    def log_text(self) -> str:
        """What the server logged so far (only with ``log``)."""
        assert self.log is not None, "start the server with log=PATH to read its log"
        return self.log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(BINARY).exists():
        pytest.fail(f"{BINARY} is missing: build the project first (cmake --build --preset dev)")
    config = tmp_path_factory.mktemp("server") / "mlbridge.yaml"
    config.write_text(deployment("  auth_token_env: MLBRIDGE_TEST_TOKEN\n" + REGISTRATION))
    env = dict(os.environ, MLBRIDGE_TEST_TOKEN=TOKEN)
    running = Server(config, env)
    yield running
    code, err = running.stop()
    assert code == 0, err
    assert TOKEN not in err, "the token must never be logged"


def python() -> str:
    return sys.executable
