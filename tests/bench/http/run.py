"""The front door's benchmark (issue 22), one run, side by side: writes one JSON document.

    python tests/bench/http/run.py --bin build/release/bin --out docs/bench/http.json [--smoke]

Starts `mlbridge serve` (--threads 4) over five echo bridges and FastAPI + uvicorn (2 workers,
tests/bench/compare/fastapi_app.py) side by side; the clients are front_door_rows and
front_door_load (tests/bench/http/*.cpp). First, in rounds (--rounds, default 3), the order of
the two servers alternating from round to round, the rows compared with FastAPI:
- the loopback TCP round trip (the floor), before each server's rows;
- the HTTP no-op's latency and its throughput at 64 callers (mlbridge: `echo` with 2 workers,
  a call at a time each, and `async_echo` with 2 workers holding up to 64 calls each — FastAPI's
  no-op is an async handler too; FastAPI: 2 workers);
- a 1 MiB nested-record JSON echo through both (mlbridge: `echo`, a MessagePack worker, and
  `echo_json`, a JSON worker, the default codec), and after mlbridge's the worker's own decode
  + encode of that payload in each codec (the SDK's codecs, as a worker decodes a request and
  encodes its answer).
Then, FastAPI stopped:
- 16 MiB of bytes as base64 through mlbridge;
- the load: 10,000 idle keep-alive connections, 2,000 live SSE streams (`async_stream` on one
  worker holding them all), 2,000 calls waiting in the `queue` bridge (one worker, a 10 ms sleep
  each), with /healthz, a call to `other` and a TCP round trip timed throughout, and the same
  probes at the same pace for 3 s before the load (the baseline of "its normal latency"); the
  `other` call's back-to-back latency first, for comparison.
The report (report_http.py) uses each row's median over the rounds.
--smoke runs each for a moment at small sizes (CI: checks that every driver works).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
ECHO = "python_bridges/examples/echo_bridge.py"
MIB = 1024 * 1024


def deployment(streams: int) -> str:
    return f"""
host:
  root: {ROOT}
  python: {PYTHON}
  default_bridge: echo
  max_body_bytes: {40 * MIB}
bridges:
  echo:
    script: {ECHO}
    codec: msgpack
    pool: {{size: 2, queue_limit: 100000}}
  queue:
    script: {ECHO}
    pool: {{size: 1, queue_limit: 100000, checkout_timeout_ms: 600000}}
    timeouts: {{request_ms: 600000}}
  streams:
    script: {ECHO}
    pool: {{size: 1, max_concurrency: {max(streams, 1) + 50}, queue_limit: 100000,
            checkout_timeout_ms: 600000}}
    timeouts: {{request_ms: 600000}}
  other:
    script: {ECHO}
    pool: {{size: 1}}
  echo_json:
    script: {ECHO}
    codec: json
    pool: {{size: 2, queue_limit: 100000}}
  async_echo:
    script: {ECHO}
    codec: msgpack
    pool: {{size: 2, max_concurrency: 64, queue_limit: 100000}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def lines(command: list[str], timeout: float = 900) -> list[dict]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    out = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not out:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({done.returncode}): {done.stderr}")
    return out


class Mlbridge:
    def __init__(self, binary: Path, config: Path):
        self.process = subprocess.Popen(
            [
                str(binary),
                "serve",
                "--config",
                str(config),
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"http://[^ ]+:(\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"mlbridge serve did not start: {line!r}")
        self.port = int(match.group(1))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class FastApi:
    def __init__(self, workers: int):
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "fastapi_app:app",
                "--app-dir",
                str(ROOT / "tests" / "bench" / "compare"),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            start_new_session=True,
        )
        wait_for_port(self.port, self.process, 120)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def nested_payload(size: int) -> dict:
    """The records of front_door_rows.cpp (and tests/bench/compare/payloads.cpp)."""

    def record(i: int) -> dict:
        return {
            "id": i,
            "name": f"record-{i}",
            "score": i * 0.25,
            "tags": ["alpha", "beta", "gamma"],
            "attrs": {"x": i, "y": [1, 2, 3], "ok": True},
        }

    per_record = len(json.dumps(record(100000), separators=(",", ":"))) + 1
    return {"data": {"items": [record(i) for i in range(max(1, size // per_record))]}}


def worker_codec_us(size: int, seconds: float, codec_name: str) -> dict:
    """The worker's own decode + encode of the payload: the SDK's codec (`msgpack` or `json`), as
    BaseBridge runs it for a call (decode of the request frame, encode of the success response)."""
    sys.path.insert(0, str(ROOT / "python_bridges"))
    from mlbridge.codec import get_codec

    codec = get_codec(codec_name)
    request = {"type": "request", "id": 1, "command": "echo", "args": nested_payload(size)}
    packed = codec.encode(request)
    sizes = []
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        start = time.perf_counter()
        message = codec.decode(packed)
        codec.encode_result_to(message["id"], message["args"], lambda view: sizes.append(len(view)))
        times.append((time.perf_counter() - start) * 1e6)
    return {
        "row": "worker_codec",
        "codec": codec_name,
        "size": size,
        "packed_bytes": len(packed),
        "latency": {"count": len(times), "median_us": statistics.median(times)},
    }


def peer_rows(rows_bin: str, port: int, seconds: str) -> list[dict]:
    """FastAPI's no-op latency, its throughput at 64 callers and the 1 MiB nested echo."""
    base = ["--port", str(port), "--path", "/noop", "--seconds", seconds]
    out = lines([rows_bin, "latency", *base])
    out += lines([rows_bin, "throughput", *base, "--callers", "64"])
    out += lines([rows_bin, "payload", *base, "--kind", "nested", "--size", str(MIB)])
    return [dict(r, server="fastapi") for r in out]


def mlbridge_rows(rows_bin: str, port: str, seconds: str) -> list[dict]:
    """The same rows through mlbridge: the no-op latency (`echo`), the throughput at 64 callers
    of `echo` (a call at a time per worker) and of `async_echo` (FastAPI's no-op is an `async
    def` handler, each uvicorn worker holding many requests at once: the same here is an async
    command on workers that hold many calls, pool.max_concurrency), and the 1 MiB nested echo."""
    echo = ["--port", port, "--path", "/v1/bridges/echo/commands/echo", "--seconds", seconds]
    async_echo = ["--port", port, "--path", "/v1/bridges/async_echo/commands/async_echo"]
    async_echo += ["--seconds", seconds]
    out = lines([rows_bin, "latency", *echo, "--body", '{"args":{}}'])
    out += lines([rows_bin, "throughput", *echo, "--body", '{"args":{}}', "--callers", "64"])
    out += [
        dict(r, handler="async")
        for r in lines([rows_bin, "throughput", *async_echo, "--body", "{}", "--callers", "64"])
    ]
    for bridge, codec in (("echo", "msgpack"), ("echo_json", "json")):
        path = f"/v1/bridges/{bridge}/commands/echo"
        nested = [rows_bin, "payload", "--port", port, "--path", path, "--seconds", seconds]
        nested += ["--kind", "nested", "--size", str(MIB), "--wrap-args"]
        out += [dict(r, codec=codec) for r in lines(nested)]
    return [dict(r, server="mlbridge") for r in out]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the rows compared with FastAPI"
    )
    options = parser.parse_args()
    smoke = options.smoke
    rounds = 1 if smoke else max(1, options.rounds)
    seconds = "0.3" if smoke else "3"
    rows_bin = str(options.bin / "front_door_rows")
    idle, queued, streams = (200, 50, 20) if smoke else (10000, 2000, 2000)
    result: dict = {
        "smoke": smoke,
        "load_before": os.getloadavg(),
        "cores": os.cpu_count(),
        "rounds": rounds,
        "rows": [],
    }
    rows = result["rows"]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "front-door.yaml"
        config.write_text(deployment(streams))
        tcp = [rows_bin, "tcp", "--seconds", seconds]
        fastapi = FastApi(2)
        try:
            server = Mlbridge(options.bin / "mlbridge", config)
        except BaseException:
            fastapi.stop()
            raise
        try:
            port = str(server.port)
            echo = ["--port", port, "--path", "/v1/bridges/echo/commands/echo"]
            echo += ["--seconds", seconds]
            try:
                # The rows compared with FastAPI (and the TCP floor) move with the machine's
                # state (a VM's idle CPUs wake slowly, neighbours come and go): both servers
                # run side by side and the rows are taken in rounds, the order of the two
                # servers alternating; the report uses each row's median over the rounds.
                # The TCP floor is taken before each server's rows, and the worker's own codec
                # after mlbridge's, in every round.
                for turn in range(1, rounds + 1):
                    sides = [
                        ("fastapi", lambda: peer_rows(rows_bin, fastapi.port, seconds)),
                        ("mlbridge", lambda: mlbridge_rows(rows_bin, port, seconds)),
                    ]
                    if turn % 2 == 0:
                        sides.reverse()
                    for name, side in sides:
                        taken = f"round {turn}, before {name}'s rows"
                        rows += [dict(r, taken=taken, round=turn) for r in lines(tcp)]
                        rows += [dict(r, round=turn) for r in side()]
                        if name == "mlbridge":
                            for codec in ("msgpack", "json"):
                                codec_row = worker_codec_us(MIB, float(seconds), codec)
                                rows.append(dict(codec_row, round=turn))
            finally:
                fastapi.stop()
            rows += [
                dict(r, server="mlbridge")
                for r in lines(
                    [
                        rows_bin,
                        "payload",
                        *echo,
                        "--kind",
                        "bytes",
                        "--size",
                        str(16 * MIB),
                        "--wrap-args",
                    ]
                )
            ]
            other = [
                "--port",
                port,
                "--path",
                "/v1/bridges/other/commands/echo",
                "--seconds",
                seconds,
                "--body",
                '{"args":{}}',
            ]
            rows += [
                dict(r, server="mlbridge", idle_other=True)
                for r in lines([rows_bin, "latency", *other])
            ]
            load = lines(
                [
                    str(options.bin / "front_door_load"),
                    "--port",
                    port,
                    "--idle",
                    str(idle),
                    "--queued",
                    str(queued),
                    "--streams",
                    str(streams),
                    "--queued-path",
                    "/v1/bridges/queue/commands/sleep",
                    "--queued-body",
                    '{"args": {"seconds": 0.01}}',
                    "--stream-path",
                    "/v1/bridges/streams/commands/async_stream",
                    "--stream-body",
                    '{"args": {"count": 100000, "delay": 1.0}, "stream": true}',
                    "--other-path",
                    "/v1/bridges/other/commands/echo",
                    "--server-pid",
                    str(server.process.pid),
                ],
                timeout=1800,
            )
            rows += [dict(r, row="load", threads=4) for r in load]
        finally:
            server.stop()
    result["load_after"] = os.getloadavg()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"[bench] front door: {len(rows)} rows -> {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
