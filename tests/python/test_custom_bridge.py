"""BaseBridge features that the echo bridge does not show, through small bridge scripts."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import Spawn
from worker_client import ROOT

PRELUDE = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "python_bridges")!r})
from mlbridge import BaseBridge, BridgeError, command
"""


def write_bridge(tmp_path: Path, body: str, name: str = "bridge.py") -> Path:
    script = tmp_path / name
    script.write_text(PRELUDE + textwrap.dedent(body))
    return script


TOOLS = """
from mlbridge.bridge import protect_stdio

protect_stdio()  # before imports that print: they would corrupt the hello otherwise
print("import-time noise on stdout")
os.write(1, b"raw import-time noise\\n")

class Tools(BaseBridge):
    framework = "tools"

    def __init__(self):
        print("constructor noise on stdout")
        self.options = None

    def initialize(self, options):
        self.options = options

    @command("options")
    def get_options(self, args, ctx):
        return self.options

    @command("log")
    def log_twice(self, args, ctx):
        self.log("info", "first")
        self.log("warning", "second")
        return "logged"

    @command("unencodable")
    def unencodable(self, args, ctx):
        return {"a set": {1, 2}}

    @command("read_stdin")
    def read_stdin(self, args, ctx):
        return sys.stdin.read()

    @command("context")
    def context(self, args, ctx):
        return {
            "request_id": ctx.request_id,
            "session_id": ctx.session_id,
            "session": ctx.session.id,
            "state": ctx.session.state,
            "deadline_ms": ctx.deadline_ms,
            "worker_id": ctx.worker_id,
        }

if __name__ == "__main__":
    Tools.main()
"""


def test_init_passes_options_and_stdout_noise_goes_to_stderr(
    spawn: Spawn, codec: str, tmp_path: Path
) -> None:
    worker = spawn(write_bridge(tmp_path, TOOLS), codec)
    hello = worker.hello()
    assert hello["framework"] == "tools" and hello["framework_version"] == "unknown"
    options = {"model": "m", "n": [1, 2]}
    assert worker.result("init", {"options": options}) == {"status": "ready"}
    assert worker.result("tools:options") == options
    stderr = worker.stderr()
    assert "import-time noise on stdout" in stderr and "raw import-time noise" in stderr
    assert "constructor noise on stdout" in stderr
    assert worker.error("init", {"options": [1]})["category"] == "invalid_configuration"


def test_log_frames(spawn: Spawn, codec: str, tmp_path: Path) -> None:
    worker = spawn(write_bridge(tmp_path, TOOLS), codec)
    worker.hello()
    request_id = worker.start_request("log")
    response, before = worker.wait_response(request_id)
    assert before == [
        {"type": "log", "level": "info", "message": "first"},
        {"type": "log", "level": "warning", "message": "second"},
    ]
    assert response["result"] == "logged"


def test_unencodable_result_becomes_an_error(spawn: Spawn, codec: str, tmp_path: Path) -> None:
    worker = spawn(write_bridge(tmp_path, TOOLS), codec)
    worker.hello()
    error = worker.error("unencodable")
    assert error["type"] == "TypeError" and error["category"] == "internal"
    assert "cannot encode the response to 'unencodable'" in error["message"]
    assert worker.result("ping")["status"] == "ok"


def test_handlers_cannot_read_the_protocol_input(spawn: Spawn, tmp_path: Path) -> None:
    worker = spawn(write_bridge(tmp_path, TOOLS))
    worker.hello()
    request_id = worker.start_request("read_stdin")
    worker.start_request("ping")  # queued behind: must not be swallowed by the handler
    response, _ = worker.wait_response(request_id)
    assert response["result"] == ""
    assert worker.recv()["result"]["status"] == "ok"


def test_context_fields(spawn: Spawn, codec: str, tmp_path: Path) -> None:
    worker = spawn(write_bridge(tmp_path, TOOLS), codec, worker_id="w-9")
    worker.hello()
    response = worker.call("context", {}, session_id="user-7", deadline_ms=2500)
    assert response["result"] == {
        "request_id": response["id"],
        "session_id": "user-7",
        "session": "user-7",
        "state": {},
        "deadline_ms": 2500,
        "worker_id": "w-9",
    }
    assert worker.result("context")["session_id"] is None


def test_constructor_failure_exits_1_with_traceback(spawn: Spawn, tmp_path: Path) -> None:
    script = write_bridge(
        tmp_path,
        """
        class Broken(BaseBridge):
            framework = "broken"
            def __init__(self):
                raise RuntimeError("model weights missing")

        Broken.main()
        """,
    )
    worker = spawn(script)
    assert worker.recv() is None
    assert worker.wait() == 1
    stderr = worker.stderr()
    assert "Traceback" in stderr and "RuntimeError: model weights missing" in stderr


def test_command_clash_fails_the_start(spawn: Spawn, tmp_path: Path) -> None:
    script = write_bridge(
        tmp_path,
        """
        class Clash(BaseBridge):
            framework = "clash"
            @command("ping")
            def my_ping(self, args, ctx):
                return "mine"

        Clash.main()
        """,
    )
    worker = spawn(script)
    assert worker.recv() is None
    assert worker.wait() == 1
    assert "built-in 'ping'" in worker.stderr()
