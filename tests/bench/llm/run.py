"""The LLM-bound benchmark: mlbridge against FastAPI + uvicorn, both waiting on a mock LLM.

One run, side by side (issue 21, docs/benchmarks-llm.md): a DSPy ``Predict("question ->
answer")`` and a LangChain ``prompt | ChatOpenAI | StrOutputParser`` chain, each served by

- FastAPI + uvicorn, 2 workers (uvloop, httptools), ``await program.acall(...)`` /
  ``await chain.ainvoke(...)`` (fastapi_dspy.py, fastapi_langchain.py), and
- ``mlbridge serve`` (event-driven, one I/O thread per core) with the dspy and langchain
  bridges, pool of 2 workers,

against mock_llm.py, which answers every completion after ``--delay-ms`` (200). The same
client (llm_load, C++) drives both at each caller count for ``--seconds`` after a warm-up.
Each caller of mlbridge has its own session holding its program (DSPy programs and LangChain
chains are session resources), created before the measurement.

Also measured: the mock's own ceiling (2,048 callers straight to it, and with no delay), the
CPU seconds every process used during each measured window (host, workers, mock, client),
peak RSS, calls in flight per worker (from the host's stats and from the mock).

    python tests/bench/llm/run.py --bin build/ci/bin --plugins build/ci/plugins \
        --out docs/bench/llm.json [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Group, Started, children_of, rss_mib  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
QUESTION = "What is the capital of France?"
SYSTEM = "You are a helpful assistant."
KEY_ENV = "MOCK_LLM_KEY"
SAMPLE_EVERY_S = 0.5


# ------------------------------------------------------------------------- the client


class Measurement:
    """One load run plus what the processes used while it ran.

    CPU seconds are read at the start and the end of the measured window (the client's
    warm-up excluded); RSS, the mock's in-flight count and the host's stats are sampled every
    half second inside it.
    """

    def __init__(self, groups: list[Group], probes: dict[str, Any]) -> None:
        self.groups = groups
        self.probes = probes  # name -> callable returning a number or a dict (sampled)

    def run(
        self,
        bin_dir: Path,
        port: int,
        path: str,
        bodies: list[str],
        callers: int,
        seconds: float,
        warmup: float,
    ) -> dict[str, Any]:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write("\n".join(bodies) + "\n")
            bodies_file = handle.name
        argv = [
            str(bin_dir / "llm_load"),
            "--port",
            str(port),
            "--path",
            path,
            "--bodies",
            bodies_file,
            "--callers",
            str(callers),
            "--seconds",
            f"{seconds:g}",
            "--warmup",
            f"{warmup:g}",
        ]
        client = Started(argv)
        client_group = Group("client", [client.pid])
        groups = [*self.groups, client_group]
        samples: dict[str, list[Any]] = {name: [] for name in self.probes}
        rss_peak = {g.name: 0.0 for g in groups}
        time.sleep(warmup)
        cpu_start = {g.name: g.cpu() for g in groups}
        started = time.monotonic()
        while time.monotonic() - started < seconds and client.process.poll() is None:
            for group in groups:
                rss_peak[group.name] = max(rss_peak[group.name], group.rss())
            for name, probe in self.probes.items():
                try:
                    samples[name].append(probe())
                except Exception as exc:  # noqa: BLE001 - a failed probe is reported, not fatal
                    samples[name].append({"error": str(exc)})
            time.sleep(SAMPLE_EVERY_S)
        elapsed = time.monotonic() - started
        cpu_end = {g.name: g.cpu() for g in groups}
        out, _ = client.process.communicate(timeout=seconds + 300)
        os.unlink(bodies_file)
        if client.process.returncode != 0:
            raise RuntimeError(f"llm_load failed ({client.process.returncode}): {out}")
        result = json.loads(out.strip().splitlines()[-1])
        result["cpu_percent"] = {
            name: round(100 * (cpu_end[name] - cpu_start[name]) / elapsed, 1) for name in cpu_end
        }
        result["rss_peak_mib"] = {name: round(value, 1) for name, value in rss_peak.items()}
        result["samples"] = samples
        return result


# ---------------------------------------------------------------------------- the mock


def start_mock(delay_ms: float) -> tuple[Started, str, int]:
    mock = Started(
        [sys.executable, str(HERE / "mock_llm.py"), "--port", "0", "--delay-ms", f"{delay_ms:g}"]
    )
    url = mock.first_line(30).rsplit(" ", 1)[-1]
    port = int(url.split(":")[2].split("/")[0])
    return mock, url, port


def mock_stats(port: int) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5) as answer:  # noqa: S310
        return json.load(answer)


def llm_use(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Completions the mock answered and TCP connections it accepted during a cell (warm-up
    and the calls that ended after the window included): a client that opens a connection
    per call shows ~1 connection per completion."""
    completions = after["completions"] - before["completions"]
    connections = after["connections"] - before["connections"]
    return {
        "completions": completions,
        "connections": connections,
        "connections_per_completion": round(connections / completions, 3) if completions else 0,
    }


def mock_ceiling(bin_dir: Path, delay_ms: float, callers: int, seconds: float) -> list[dict]:
    """The mock alone under ``callers`` callers: with the benchmark's delay, and with none."""
    rows = []
    body = json.dumps({"model": "mock", "messages": [{"role": "user", "content": QUESTION}]})
    for delay in (delay_ms, 0.0):
        mock, _, port = start_mock(delay)
        try:
            measured = Measurement([Group("mock", [mock.pid])], {}).run(
                bin_dir, port, "/v1/chat/completions", [body], callers, seconds, 2.0
            )
        finally:
            mock.stop()
        measured.pop("samples")
        rows.append({"delay_ms": delay, **measured})
    return rows


# ---------------------------------------------------------------------------- the peers


def wait_http(port: int, path: str, body: str, timeout_s: float, proc: Started) -> None:
    """Poll until POST ``path`` answers 200 (the first call also warms the program)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise RuntimeError(f"{proc.argv[:4]} exited with {proc.process.returncode}")
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"http://127.0.0.1:{port}{path}",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"port {port}{path} did not answer within {timeout_s:.0f} s: {last}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_fastapi(
    program: str, options: argparse.Namespace, mock: Started, mock_url: str, mock_port: int
) -> list[dict[str, Any]]:
    port = free_port()
    env = {
        **os.environ,
        "MOCK_LLM_URL": mock_url,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "DSPY_ENGINE": options.dspy_engine,
    }
    server = Started(
        [
            sys.executable,
            "-m",
            "uvicorn",
            f"fastapi_{program}:app",
            "--app-dir",
            str(HERE),
            "--workers",
            str(options.workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        ],
        env=env,
    )
    rows = []
    try:
        body = json.dumps({"question": QUESTION})
        wait_http(port, f"/{program}", body, 120, server)
        idle = Group("server", [server.pid, *children_of(server.pid)]).rss()
        for callers in options.callers:
            pids = children_of(server.pid)
            groups = [
                Group("server", [server.pid]),
                Group("workers", pids),
                Group("mock", [mock.pid]),
            ]
            probes = {"mock": lambda: mock_stats(mock_port)["in_flight"]}
            before = mock_stats(mock_port)
            measured = Measurement(groups, probes).run(
                options.bin,
                port,
                f"/{program}",
                [body],
                callers,
                options.seconds,
                options.warmup,
            )
            measured["rss_idle_mib"] = round(idle, 1)
            measured["llm"] = llm_use(before, mock_stats(mock_port))
            rows.append({"side": "fastapi", "program": program, **measured})
            print_row(rows[-1])
    finally:
        server.stop()
    return rows


# ---------------------------------------------------------------------------- mlbridge

BRIDGES = {
    "dspy": {
        "setup": "create_program",
        "setup_args": {"program_id": "qa", "signature": "question -> answer"},
        "call": "execute_program",
        "call_args": {"program_id": "qa", "inputs": {"question": QUESTION}},
    },
    "langchain": {
        "setup": "create_chain",
        "setup_args": {
            "chain_id": "qa",
            "prompt": [
                {"role": "system", "template": SYSTEM},
                {"role": "user", "template": "{question}"},
            ],
        },
        "call": "invoke",
        "call_args": {"chain_id": "qa", "input": {"question": QUESTION}},
    },
}


def mlbridge_yaml(program: str, options: argparse.Namespace, mock_url: str) -> str:
    """The deployment: one bridge, a pool of ``--workers``, the LM/model at the mock."""
    pool: dict[str, Any] = {
        "max_requests": options.max_requests,
        "size": options.workers,
        "max_overflow": 0,
        "queue_limit": 100000,
        "checkout_timeout_ms": 120000,
    }
    if options.max_concurrency:
        pool["max_concurrency"] = options.max_concurrency
    endpoint_key = "api_base" if program == "dspy" else "base_url"
    if program == "dspy":
        lm = {"model": "openai/mock", "api_base": mock_url, "api_key_env": KEY_ENV}
        if options.dspy_engine:
            lm["engine"] = options.dspy_engine
        bridge_options = {"lm": lm}
    else:
        bridge_options = {"model": {"model": "mock", "base_url": mock_url, "api_key_env": KEY_ENV}}
    bridge_options["endpoints"] = [{endpoint_key: mock_url, "api_key_env": KEY_ENV}]
    config = {
        "host": {
            "python": str(Path(sys.executable)),
            "plugin_dirs": [str(options.plugins)],
            "root": str(ROOT),
            "log_level": options.log_level,
        },
        "bridges": {
            program: {
                "plugin": program,
                "pool": pool,
                "sessions": {"ttl_s": 3600, "max": 100000},
                "env": {"set": {KEY_ENV: "EMPTY"}},
                "options": bridge_options,
            }
        },
    }
    return json.dumps(config, indent=2)  # JSON is YAML


async def make_sessions(port: int, program: str, count: int) -> list[str]:
    """``count`` sessions, each with the program created in it; the request body per caller."""
    spec = BRIDGES[program]
    base = f"http://127.0.0.1:{port}/v1"
    limit = asyncio.Semaphore(32)
    async with aiohttp.ClientSession() as http:

        async def one(_: int) -> str:
            async with limit:
                async with http.post(f"{base}/sessions", json={}) as answer:
                    session = (await answer.json())["id"]
                url = f"{base}/bridges/{program}/commands/{spec['setup']}"
                async with http.post(
                    url, json={"session": session, "args": spec["setup_args"]}
                ) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"{spec['setup']}: {await answer.text()}")
                return json.dumps({"session": session, "args": spec["call_args"]})

        return await asyncio.gather(*(one(i) for i in range(count)))


def bridge_stats(port: int, program: str) -> dict[str, Any]:
    import urllib.request

    url = f"http://127.0.0.1:{port}/v1/bridges/{program}"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
        return json.load(answer)


def in_flight_view(stats: dict[str, Any]) -> dict[str, Any]:
    """The in-flight counts of the host's bridge stats, per worker and in all (whatever the
    key is called: every key with ``in_flight`` in its name)."""
    found: dict[str, Any] = {}

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                here = f"{where}.{key}" if where else key
                if "in_flight" in key and isinstance(item, (int, float)):
                    found[here] = item
                else:
                    walk(item, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    walk(stats, "")
    return found


def run_mlbridge(
    program: str, options: argparse.Namespace, mock: Started, mock_url: str, mock_port: int
) -> list[dict[str, Any]]:
    spec = BRIDGES[program]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / f"llm-{program}.yaml"
        config.write_text(mlbridge_yaml(program, options, mock_url))
        log_path = options.out.with_name(f"{options.out.stem}-mlbridge-{program}.log")
        log = log_path.open("w")  # serve's log (stderr), kept beside the JSON
        server = Started(
            [
                str(options.bin / "mlbridge"),
                "serve",
                "--config",
                str(config),
                "--listen",
                "127.0.0.1:0",
            ],
            cwd=str(ROOT),
            stderr=log,
        )
        rows = []
        try:
            line = server.first_line(180)
            port = int(line.rsplit(":", 1)[-1].split()[0].strip("/"))
            bodies = asyncio.run(make_sessions(port, program, max(options.callers)))
            path = f"/v1/bridges/{program}/commands/{spec['call']}"
            wait_http(port, path, bodies[0], 60, server)
            workers = children_of(server.pid)
            idle_host, idle_workers = rss_mib(server.pid), sum(rss_mib(p) for p in workers)
            for callers in options.callers:
                workers = children_of(server.pid)
                groups = [
                    Group("host", [server.pid]),
                    Group("workers", workers),
                    Group("mock", [mock.pid]),
                ]
                probes = {
                    "mock": lambda: mock_stats(mock_port)["in_flight"],
                    "host": lambda: in_flight_view(bridge_stats(port, program)),
                }
                before = mock_stats(mock_port)
                measured = Measurement(groups, probes).run(
                    options.bin,
                    port,
                    path,
                    bodies[:callers],
                    callers,
                    options.seconds,
                    options.warmup,
                )
                measured["rss_idle_mib"] = {
                    "host": round(idle_host, 1),
                    "workers": round(idle_workers, 1),
                }
                measured["worker_rss_mib"] = {str(p): round(rss_mib(p), 1) for p in workers}
                measured["llm"] = llm_use(before, mock_stats(mock_port))
                rows.append({"side": "mlbridge", "program": program, **measured})
                print_row(rows[-1])
            rows[-1]["bridge_stats_after"] = bridge_stats(port, program)
        finally:
            server.stop(30)
            log.close()
    return rows


# ------------------------------------------------------------------------------ report


def print_row(row: dict[str, Any]) -> None:
    mock_samples = [s for s in row["samples"].get("mock", []) if isinstance(s, (int, float))]
    print(
        f"[llm] {row['program']:9} {row['side']:8} callers {row['callers']:5}: "
        f"{row['calls_per_s']:8.1f} calls/s, p50 {row['p50_ms']:7.0f} ms, "
        f"p99 {row['p99_ms']:7.0f} ms, errors {row['errors']}, "
        f"mock in flight max {max(mock_samples, default=0)}, cpu% {row['cpu_percent']}",
        flush=True,
    )


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in (
        "dspy",
        "litellm",
        "langchain-core",
        "langchain-openai",
        "openai",
        "fastapi",
        "uvicorn",
        "uvloop",
        "httptools",
        "aiohttp",
    ):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", type=Path, required=True, help="dir of mlbridge and llm_load")
    parser.add_argument("--plugins", type=Path, required=True, help="dir of the plugins")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--callers", default="64,512,2048")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--delay-ms", type=float, default=200.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--programs", default="dspy,langchain")
    parser.add_argument("--sides", default="fastapi,mlbridge")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=1024,
        help="pool.max_concurrency (0: leave it out, the worker's default)",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=0,
        help="pool.max_requests (0: never recycle, as uvicorn; the plugins' default is 5000)",
    )
    parser.add_argument(
        "--dspy-engine",
        default="auto",
        help="the DSPy LM's engine on both sides: FastAPI's dspy.LM(engine=...) and mlbridge's "
        "options.lm.engine (auto: DSPy's own default, which FastAPI gets unless told; the "
        "bridge's default is litellm; '': each side's default)",
    )
    parser.add_argument("--log-level", default="warn", help="mlbridge serve's host.log_level")
    parser.add_argument("--ceiling-callers", type=int, default=2048)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, small counts")
    options = parser.parse_args(argv)
    if options.smoke:
        options.callers, options.seconds, options.warmup = "4", 2.0, 1.0
        options.ceiling_callers = 64
    options.callers = [int(c) for c in options.callers.split(",")]
    options.bin = options.bin.resolve()
    options.plugins = options.plugins.resolve()

    options.out.parent.mkdir(parents=True, exist_ok=True)
    began = time.time()
    load_before = list(os.getloadavg())
    ceiling_seconds = 2.0 if options.smoke else 10.0
    print(f"[llm] the mock's ceiling at {options.ceiling_callers} callers", flush=True)
    ceiling = mock_ceiling(options.bin, options.delay_ms, options.ceiling_callers, ceiling_seconds)
    for row in ceiling:
        print(
            f"[llm] mock delay {row['delay_ms']:g} ms: {row['calls_per_s']:.0f} calls/s, "
            f"p99 {row['p99_ms']:.0f} ms, cpu% {row['cpu_percent']}",
            flush=True,
        )
    rows: list[dict[str, Any]] = []
    mock, mock_url, mock_port = start_mock(options.delay_ms)
    try:
        for program in options.programs.split(","):
            for side in options.sides.split(","):
                runner = run_fastapi if side == "fastapi" else run_mlbridge
                rows.extend(runner(program, options, mock, mock_url, mock_port))
    finally:
        mock.stop()
    result = {
        "info": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(began)),
            "duration_s": round(time.time() - began),
            "machine": machine(),
            "load_before": load_before,
            "load_after": list(os.getloadavg()),
            "versions": versions(),
            "delay_ms": options.delay_ms,
            "seconds": options.seconds,
            "warmup_s": options.warmup,
            "workers": options.workers,
            "max_concurrency": options.max_concurrency,
            "dspy_engine": options.dspy_engine,
            "preset": options.bin.parent.name,
            "commit": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip(),
            "smoke": options.smoke,
        },
        "ceiling": ceiling,
        "rows": rows,
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"[llm] wrote {options.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
