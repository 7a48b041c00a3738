"""A tiny, independent protocol client for driving real worker processes in tests.

Its codecs are written here, not imported from ``mlbridge``, so a bug that the SDK's
encoder and decoder share cannot hide itself. Every read and write is bounded by a
timeout (``select``), so a misbehaving worker fails a test instead of hanging it.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[2]
ECHO_BRIDGE = ROOT / "python_bridges" / "examples" / "echo_bridge.py"
MISBEHAVING_WORKER = ROOT / "tests" / "support" / "workers" / "misbehaving_worker.py"
FLOOR_WORKER = ROOT / "tests" / "bench" / "floor_worker.py"

DEFAULT_TIMEOUT = 5.0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"__bytes__": base64.b64encode(bytes(obj)).decode("ascii")}
    raise TypeError(f"test client cannot encode {type(obj).__name__}")


def _json_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "__bytes__" in obj:
        return base64.b64decode(obj["__bytes__"])
    return obj


def encode(codec: str, message: Any) -> bytes:
    """Encode one payload the way the host does."""
    if codec == "msgpack":
        return msgpack.packb(message, use_bin_type=True)
    return json.dumps(message, default=_json_default, separators=(",", ":")).encode()


def decode(codec: str, payload: bytes) -> Any:
    """Decode one payload the way the host does."""
    if codec == "msgpack":
        return msgpack.unpackb(payload, raw=False, strict_map_key=False)
    return json.loads(payload, object_hook=_json_hook)


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its 4-byte big-endian length."""
    return struct.pack(">I", len(payload)) + payload


class Worker:
    """One worker process, spoken to over its stdin/stdout pipes."""

    def __init__(
        self,
        script: Path | str,
        codec: str = "json",
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        stderr_path: Path | None = None,
        worker_id: str = "t1",
        pass_fds: Sequence[int] = (),
    ):
        self.codec = codec
        self.stderr_path = stderr_path
        argv = [sys.executable, str(script), "--worker-id", worker_id, "--codec", codec]
        argv += ["--protocol", "1", *extra_args]
        self._stderr = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=ROOT,
            start_new_session=True,  # a terminal's Ctrl-C must not reach it
            pass_fds=tuple(pass_fds),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        self._buf = bytearray()
        self._next_id = 1

    # ------------------------------------------------------------------ raw I/O

    def send_raw(self, data: bytes, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Write bytes to the worker's stdin, failing after ``timeout`` seconds."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"worker did not read {len(view)} more bytes in {timeout}s")
            _, writable, _ = select.select([], [self._in], [], remaining)
            if writable:
                view = view[os.write(self._in, view) :]

    def _fill(self, deadline: float) -> bool:
        """Read more output; ``False`` at end of output. Raises ``TimeoutError``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no frame from the worker in time")
        readable, _, _ = select.select([self._out], [], [], remaining)
        if not readable:
            raise TimeoutError("no frame from the worker in time")
        chunk = os.read(self._out, 1 << 20)
        self._buf += chunk
        return bool(chunk)

    def recv_payload(self, timeout: float = DEFAULT_TIMEOUT) -> bytes | None:
        """The next frame's payload, or ``None`` at end of output on a frame boundary."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buf) >= 4:
                end = 4 + struct.unpack(">I", self._buf[:4])[0]
                if len(self._buf) >= end:
                    payload = bytes(self._buf[4:end])
                    del self._buf[:end]
                    return payload
            if not self._fill(deadline):
                if self._buf:
                    raise AssertionError(f"output ended inside a frame: {self._buf[:64]!r}")
                return None

    def recv(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The next decoded message, or ``None`` at end of output."""
        payload = self.recv_payload(timeout)
        return None if payload is None else decode(self.codec, payload)

    # --------------------------------------------------------------- messages

    def send(self, message: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.send_raw(frame(encode(self.codec, message)), timeout)

    def hello(self, timeout: float = 10.0) -> dict[str, Any]:
        message = self.recv(timeout)
        assert isinstance(message, dict) and message.get("type") == "hello", message
        return message

    def start_request(
        self, command: str, args: Any = None, session_id: str | None = None, **extra: Any
    ) -> int:
        """Send a request and return its id, without waiting for the answer."""
        request_id = self._next_id
        self._next_id += 1
        message = {
            "type": "request",
            "id": request_id,
            "command": command,
            "session_id": session_id,
        }
        if args is not None:
            message["args"] = args
        message.update(extra)
        self.send(message)
        return request_id

    def wait_response(
        self, request_id: int, timeout: float = DEFAULT_TIMEOUT
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read until the response to ``request_id``; return it and the frames before it."""
        deadline = time.monotonic() + timeout
        before: list[dict[str, Any]] = []
        while True:
            message = self.recv(max(deadline - time.monotonic(), 0.001))
            assert message is not None, f"worker closed its output before answering {request_id}"
            if message.get("type") == "response" and message.get("id") == request_id:
                return message, before
            before.append(message)

    def call(
        self,
        command: str,
        args: Any = None,
        session_id: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        **extra: Any,
    ) -> dict[str, Any]:
        """Send a request and return its response (asserting nothing came before it)."""
        request_id = self.start_request(command, args, session_id, **extra)
        response, before = self.wait_response(request_id, timeout)
        assert before == [], f"unexpected frames before the response: {before}"
        return response

    def result(self, command: str, args: Any = None, session_id: str | None = None) -> Any:
        """Call and return the result, asserting success."""
        response = self.call(command, args, session_id)
        assert response["success"] is True, response
        return response["result"]

    def error(self, command: str, args: Any = None, session_id: str | None = None) -> Any:
        """Call and return the error, asserting failure."""
        response = self.call(command, args, session_id)
        assert response["success"] is False, response
        return response["error"]

    # ----------------------------------------------------------------- process

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def close_stdin(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for the worker to exit and return its exit code (negative: signal)."""
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        assert self.stderr_path is not None
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        """Kill the worker (and its process group) if it still runs, and reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self._stderr is not subprocess.DEVNULL:
            self._stderr.close()
