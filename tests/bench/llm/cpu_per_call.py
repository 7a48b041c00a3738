"""CPU per call of one DSPy process under load from the mock LLM: mlbridge's worker against
FastAPI's, without the host or HTTP client in between (a profiling aid, not a benchmark).

Each side is one process serving ``--callers`` closed-loop callers of
``Predict("question -> answer")`` against mock_llm.py (``--delay-ms``, 200 by default):

- ``worker``: a real DSPy worker (``python_bridges/dspy_bridge.py``, msgpack codec,
  concurrency 1024) spoken to over its pipes as the host speaks to it: ``init`` with the
  benchmark's ``options``, one session per caller holding its program, then
  ``execute_program`` in that session with a ``deadline_ms``, as ``mlbridge serve`` sends it.
- ``fastapi``: ``uvicorn fastapi_dspy:app`` with one worker (uvloop, httptools), driven over
  HTTP keep-alive by an aiohttp client in this process.
- ``inproc-plain`` / ``inproc-bridge``: this process itself, FastAPI's route body alone
  against the bridge's ``execute_program`` handler (no runtime, pipes or HTTP).

``--engine`` sets the DSPy LM's engine on both sides (``options.lm.engine`` and
``dspy.LM(engine=...)``); without it each side runs its own default (the bridge: ``litellm``,
DSPy: ``auto``).

After ``--warmup`` seconds, the process's CPU seconds (utime + stime from /proc/PID/stat;
not wall time: the machine is shared) over ``--seconds`` are divided by the calls that ended
in that window. ``--py-spy FILE`` samples the process in that window with py-spy (collapsed
stacks, ``--format raw``); ``top_frames.py FILE`` summarises them.

    python tests/bench/llm/cpu_per_call.py --side worker --callers 256 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Started, cpu_seconds  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
QUESTION = "What is the capital of France?"
KEY_ENV = "MOCK_LLM_KEY"
DEADLINE_MS = 30000


def start_mock(delay_ms: float) -> tuple[Started, str]:
    mock = Started(
        [sys.executable, str(HERE / "mock_llm.py"), "--port", "0", "--delay-ms", f"{delay_ms:g}"]
    )
    return mock, mock.first_line(30).rsplit(" ", 1)[-1]


# ------------------------------------------------------------------------ the worker side


class WorkerPipe:
    """The host's end of a worker's pipes: framed msgpack, answers matched by id."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}
        self.buffer = bytearray()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        pipe = self

        class Reader(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                pipe.received(data)

        await loop.connect_read_pipe(Reader, self.proc.stdout)
        self.writer, _ = await loop.connect_write_pipe(asyncio.Protocol, self.proc.stdin)
        self.hello = asyncio.get_running_loop().create_future()
        self.waiting[0] = self.hello

    def received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 4:
            end = 4 + struct.unpack_from(">I", buffer)[0]
            if len(buffer) < end:
                return
            message = msgpack.unpackb(bytes(buffer[4:end]), raw=False, strict_map_key=False)
            del buffer[:end]
            if message.get("type") == "hello":
                self.waiting.pop(0).set_result(message)
            elif message.get("type") == "response":
                future = self.waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)

    async def call(self, command: str, args: Any, session: str | None = None) -> Any:
        request_id = next(self.ids)
        message = {
            "type": "request",
            "id": request_id,
            "command": command,
            "args": args,
            "session_id": session,
            "deadline_ms": DEADLINE_MS,
        }
        payload = msgpack.packb(message, use_bin_type=True)
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        self.writer.write(struct.pack(">I", len(payload)) + payload)
        answer = await future
        if not answer.get("ok", "error" not in answer):
            raise RuntimeError(f"{command}: {answer.get('error')}")
        return answer.get("result")


async def drive_worker(options: argparse.Namespace, mock_url: str) -> dict[str, Any]:
    env = {
        **os.environ,
        KEY_ENV: "EMPTY",
        "PYTHONPATH": str(ROOT / "python_bridges"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    proc = subprocess.Popen(  # noqa: S603 - our own fixed command
        [
            sys.executable,
            str(ROOT / "python_bridges" / "dspy_bridge.py"),
            "--worker-id",
            "dspy-1",
            "--codec",
            "msgpack",
            "--protocol",
            "1",
            "--concurrency",
            "1024",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(options.stderr, "wb") if options.stderr else subprocess.DEVNULL,  # noqa: SIM115
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    pipe = WorkerPipe(proc)
    try:
        await pipe.open()
        await asyncio.wait_for(pipe.hello, 120)
        lm = {"model": "openai/mock", "api_base": mock_url, "api_key_env": KEY_ENV}
        if options.engine:
            lm["engine"] = options.engine
        init = {"lm": lm, "endpoints": [{"api_base": mock_url, "api_key_env": KEY_ENV}]}
        await pipe.call("init", {"options": init})
        sessions = [f"s{i}" for i in range(options.callers)]
        create = {"program_id": "qa", "signature": "question -> answer"}
        await asyncio.gather(*(pipe.call("create_program", create, s) for s in sessions))
        args = {"program_id": "qa", "inputs": {"question": QUESTION}}

        async def one(session: str) -> None:
            await pipe.call("execute_program", args, session)

        return await closed_loop(options, proc.pid, [lambda s=s: one(s) for s in sessions])
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------- the FastAPI side


async def drive_fastapi(options: argparse.Namespace, mock_url: str) -> dict[str, Any]:
    import aiohttp

    port = 18000 + os.getpid() % 1000
    server = Started(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_dspy:app",
            "--app-dir",
            str(HERE),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, "MOCK_LLM_URL": mock_url, "DSPY_ENGINE": options.engine or ""},
    )
    try:
        url = f"http://127.0.0.1:{port}/dspy"
        connector = aiohttp.TCPConnector(limit=options.callers + 8)
        async with aiohttp.ClientSession(connector=connector) as http:
            for _ in range(240):
                try:
                    async with http.post(url, json={"question": QUESTION}) as answer:
                        if answer.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)

            async def one() -> None:
                async with http.post(url, json={"question": QUESTION}) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"HTTP {answer.status}")

            return await closed_loop(options, server.pid, [one] * options.callers)
    finally:
        server.stop()


# --------------------------------------------------------------------- in this process


async def drive_in_process(options: argparse.Namespace, mock_url: str) -> dict[str, Any]:
    """``inproc-plain``: FastAPI's route body alone (one LM, ``dspy.configure``, one program,
    ``acall``). ``inproc-bridge``: the DSPy bridge's ``execute_program`` handler awaited with
    a session per caller, as the worker's runtime awaits it, without the runtime and pipes."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.path.insert(0, str(ROOT / "python_bridges"))
    import dspy

    engine = {"engine": options.engine} if options.engine else {}
    if options.side == "inproc-plain":
        lm = dspy.LM("openai/mock", api_base=mock_url, api_key="EMPTY", cache=False, **engine)
        dspy.configure(lm=lm)
        program = dspy.Predict("question -> answer")

        async def plain() -> None:
            await program.acall(question=QUESTION)

        return await closed_loop(options, os.getpid(), [plain] * options.callers)

    import dspy_bridge

    from mlbridge import CallContext
    from mlbridge.resources import SessionStore

    os.environ[KEY_ENV] = "EMPTY"
    bridge = dspy_bridge.DSPyBridge()
    lm_options = {"model": "openai/mock", "api_base": mock_url, "api_key_env": KEY_ENV, **engine}
    endpoints = [{"api_base": mock_url, "api_key_env": KEY_ENV}]
    bridge.initialize({"lm": lm_options, "endpoints": endpoints})
    store = SessionStore()
    ids = itertools.count(1)

    def context(session: str) -> CallContext:
        return CallContext(next(ids), store.get(session), DEADLINE_MS, "inproc", lambda m: None)

    sessions = [f"s{i}" for i in range(options.callers)]
    for session in sessions:
        create = {"program_id": "qa", "signature": "question -> answer"}
        bridge.create_program(create, context(session))
    args = {"program_id": "qa", "inputs": {"question": QUESTION}}

    def caller(session: str) -> Any:
        async def run() -> None:
            await bridge.execute_program(args, context(session))

        return run

    return await closed_loop(options, os.getpid(), [caller(s) for s in sessions])


# ------------------------------------------------------------------------------ measuring


async def closed_loop(options: argparse.Namespace, pid: int, callers: list) -> dict[str, Any]:
    """Run every caller in a closed loop; measure ``pid``'s CPU in the window after warm-up."""
    loop = asyncio.get_running_loop()
    window: dict[str, float] = {}
    counted = [0]
    errors = [0]
    stop_at = loop.time() + options.warmup + options.seconds

    async def caller(run: Any) -> None:
        while loop.time() < stop_at:
            try:
                await run()
            except Exception as exc:  # noqa: BLE001 - counted and shown once
                if not errors[0]:
                    print(f"first error: {exc!r}", file=sys.stderr)
                errors[0] += 1
                continue
            if "start" in window and "end" not in window:
                counted[0] += 1

    async def windowed() -> None:
        await asyncio.sleep(options.warmup)
        spy = None
        if options.py_spy:
            spy = subprocess.Popen(  # noqa: S603
                [
                    shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    f"{options.seconds:g}",
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--threads",
                    "--output",
                    options.py_spy,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        window["cpu0"] = cpu_seconds(pid)
        window["start"] = time.monotonic()
        await asyncio.sleep(options.seconds)
        window["end"] = time.monotonic()
        window["cpu1"] = cpu_seconds(pid)
        if spy is not None:
            await loop.run_in_executor(None, spy.wait)

    await asyncio.gather(windowed(), *(caller(run) for run in callers))
    elapsed = window["end"] - window["start"]
    cpu = window["cpu1"] - window["cpu0"]
    calls = counted[0]
    return {
        "side": options.side,
        "callers": options.callers,
        "calls": calls,
        "calls_per_s": round(calls / elapsed, 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_call": round(1000 * cpu / calls, 2) if calls else None,
        "errors": errors[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sides = ("worker", "fastapi", "inproc-plain", "inproc-bridge")
    parser.add_argument("--side", choices=sides, required=True)
    parser.add_argument("--callers", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--delay-ms", type=float, default=200.0)
    parser.add_argument(
        "--engine", help="the LM's engine on both sides (default: each side's own default)"
    )
    parser.add_argument("--py-spy", help="write py-spy's collapsed stacks of the window here")
    parser.add_argument("--stderr", help="the worker's stderr goes here")
    options = parser.parse_args()
    mock, url = start_mock(options.delay_ms)
    try:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        drives = {"worker": drive_worker, "fastapi": drive_fastapi}
        drive = drives.get(options.side, drive_in_process)
        print(json.dumps(runner(drive(options, url))))
    finally:
        mock.stop()


if __name__ == "__main__":
    main()
