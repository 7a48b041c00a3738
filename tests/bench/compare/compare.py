"""Runs the side-by-side comparison of docs/benchmarks.md and writes its raw JSON.

Every group below runs once per round, the rounds interleave the groups (each round starts
one group further along, so no system always runs first or last), and the report takes the
median over rounds. Each driver prints one JSON object per result; this script tags each with
its group and round.

    python compare.py --bin build/release/bin --out docs/benchmarks/raw.json [--smoke]

Groups: the floors and mlbridge's C++ API, HTTP API and payloads (compare_bench); the
embedded interpreter (embed_bench); multiprocessing.Pool, ProcessPoolExecutor and a Ray actor
(peers.py); FastAPI + uvicorn (fastapi_app.py, driven by compare_bench's HTTP client); cold
start and memory per bridge; recovery after SIGKILL. --smoke runs every driver but Ray (whose
start-up alone takes up to a minute on a loaded 2-core machine) for a few hundredths of a
second each, to check they all still work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from compare_report import PIPELINE_DEPTH

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PYTHON = sys.executable


def run_lines(command: list[str], timeout: float, env: dict | None = None) -> list[dict]:
    """Runs a driver and returns its JSON lines; fails loudly with its stderr."""
    environment = {**os.environ, **env} if env else None
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)
    if done.returncode != 0:
        sys.exit(f"compare: {' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"compare: uvicorn exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"compare: uvicorn did not listen on port {port} within {timeout:.0f} s")


class Plan:
    """What one run measures: durations, concurrency levels, sizes, bridges."""

    def __init__(self, options):
        self.bin = Path(options.bin)
        self.smoke = options.smoke
        self.seconds = 0.05 if options.smoke else options.seconds
        self.rounds = 1 if options.smoke else options.rounds
        self.workers = "1,2"
        self.callers = "1,2,8" if options.smoke else "1,2,8,64,512"
        self.sizes = "1024" if options.smoke else "1024,1048576,16777216"
        self.bridges = ["echo"] if options.smoke else ["echo", "dspy", "langchain", "transformers"]
        self.ray = not options.smoke and not options.no_ray

    def bench(self, *args: str, timeout: float = 600, env: dict | None = None) -> list[dict]:
        return run_lines([str(self.bin / "compare_bench"), *args], timeout, env)


def floors(plan: Plan) -> list[dict]:
    return plan.bench("floors", "--seconds", str(plan.seconds), "--workers", plan.workers)


def api(plan: Plan, env: dict | None = None, depths: str = "1") -> list[dict]:
    return plan.bench(
        "api",
        *("--seconds", str(plan.seconds), "--workers", plan.workers, "--callers", plan.callers),
        *("--depths", depths),
        env=env,
    )


def api_pipelined(plan: Plan) -> list[dict]:
    """Throughput at pool.pipeline_depth PIPELINE_DEPTH (latency rows repeat the api group's)."""
    lines = api(plan, depths=str(PIPELINE_DEPTH))
    return [line for line in lines if line["kind"] == "throughput"]


def http(plan: Plan, env: dict | None = None) -> list[dict]:
    return plan.bench(
        "http",
        *("--seconds", str(plan.seconds), "--workers", plan.workers, "--callers", plan.callers),
        env=env,
    )


SLEEPING = ", loop sleeps at once"
"""Suffix of the API systems measured with host.loop_spin_us: 0 (the event loop never polls)."""


def sleeping(group):
    """The same group with the host's event loop sleeping as soon as it is idle."""

    def run(plan: Plan) -> list[dict]:
        lines = group(plan, env={"MLBRIDGE_BENCH_LOOP_SPIN_US": "0"})
        for line in lines:
            line["system"] += SLEEPING
        return lines

    return run


def payload(plan: Plan) -> list[dict]:
    return plan.bench("payload", "--seconds", str(plan.seconds), "--sizes", plan.sizes)


def embedded(plan: Plan) -> list[dict]:
    callers = "1,2,8" if plan.smoke else "1,2,8,64,512"
    return run_lines([str(plan.bin / "embed_bench"), str(plan.seconds), callers], 300)


def python_peer(name: str):
    def run(plan: Plan) -> list[dict]:
        command = [PYTHON, str(HERE / "peers.py"), name, "--seconds", str(plan.seconds)]
        return run_lines(command + ["--workers", plan.workers, "--callers", plan.callers], 600)

    return run


def fastapi(plan: Plan) -> list[dict]:
    lines: list[dict] = []
    # One uvicorn process in the smoke run: its start-up alone takes seconds on a loaded machine.
    for workers in ["1"] if plan.smoke else plan.workers.split(","):
        port = free_port()
        server = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "fastapi_app:app",
                "--app-dir",
                str(HERE),
                "--port",
                str(port),
                "--workers",
                workers,
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            start_new_session=True,
        )
        try:
            wait_for_port(port, server, 120)
            args = [
                "http",
                "--seconds",
                str(plan.seconds),
                "--port",
                str(port),
                "--path",
                "/noop",
                "--body",
                "{}",
                "--label",
                "FastAPI + uvicorn",
                "--workers",
                workers,
                "--callers",
                plan.callers,
            ]
            lines += plan.bench(*args, *(["--latency"] if workers == "1" else []))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    return lines


def cold_starts(plan: Plan) -> list[dict]:
    lines: list[dict] = []
    for bridge in plan.bridges:
        lines += plan.bench("coldstart", "--bridge", bridge)
    return lines


def recovery(plan: Plan) -> list[dict]:
    return [
        line
        for workers in plan.workers.split(",")
        for line in plan.bench("recovery", "--workers", workers, "--callers", "8")
    ]


class RayPeer:
    """peers.py ray, kept running for the whole run: one line "round" runs one round."""

    def __init__(self, plan: Plan):
        command = [
            PYTHON,
            str(HERE / "peers.py"),
            "ray",
            "--seconds",
            str(plan.seconds),
            "--workers",
            plan.workers,
            "--callers",
            plan.callers,
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.first = self._until_end()  # ray.init and the first actor calls

    def _until_end(self) -> list[dict]:
        lines = []
        for line in self.process.stdout:
            if line.strip() == "end":
                return lines
            if line.startswith("{"):
                lines.append(json.loads(line))
        sys.exit(f"compare: the Ray driver exited ({self.process.wait()})")

    def __call__(self, plan: Plan) -> list[dict]:
        if self.process.poll() is not None:
            print(f"[compare] the Ray driver is gone ({self.process.returncode})", flush=True)
            return []
        self.process.stdin.write("round\n")
        self.process.stdin.flush()
        try:
            return self._until_end()
        except SystemExit as failure:  # report the others' results all the same
            print(f"[compare] {failure}", flush=True)
            return []

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in (
        "msgpack",
        "fastapi",
        "uvicorn",
        "uvloop",
        "httptools",
        "ray",
        "dspy",
        "langchain",
        "torch",
        "transformers",
        "matplotlib",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    pybind = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "pybind11-dev"], capture_output=True, text=True
    )
    found["pybind11"] = pybind.stdout or "?"
    compiler = subprocess.run(["c++", "--version"], capture_output=True, text=True)
    found["c++"] = compiler.stdout.splitlines()[0] if compiler.stdout else "?"
    return found


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        "?",
    )
    memory = next(
        (line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")), "0"
    )
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(int(memory) / 2**20, 1),
        "kernel": platform.release(),
        "load_before": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="build/<preset>/bin")
    parser.add_argument("--out", required=True, type=Path, help="the raw JSON to write")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.8, help="per measured cell")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-ray", action="store_true")
    options = parser.parse_args()
    plan = Plan(options)
    started = time.monotonic()
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "preset": plan.bin.parent.name,  # build/<preset>/bin
        "rounds": plan.rounds,
        "seconds_per_cell": plan.seconds,
        "ray": "not run (--smoke or --no-ray)",
    }
    results: list[dict] = []
    groups = [
        ("floors", floors),
        ("api", api),
        ("api-sleeping", sleeping(api)),
        ("api-pipelined", api_pipelined),
        ("http", http),
        ("http-sleeping", sleeping(http)),
        ("embedded", embedded),
        ("multiprocessing", python_peer("pool")),
        ("executor", python_peer("executor")),
        ("fastapi", fastapi),
        ("payload", payload),
        ("recovery", recovery),
        ("coldstart", cold_starts),
    ]
    ray = None
    if plan.ray:
        try:
            ray = RayPeer(plan)
            info["ray"] = "ran"
            results += [dict(line, group="ray", round=0) for line in ray.first]
            groups.append(("ray", ray))
        except SystemExit as failure:
            info["ray"] = f"did not start: {failure}"
    try:
        for round_ in range(plan.rounds):
            shift = round_ % len(groups)
            for name, run in groups[shift:] + groups[:shift]:
                t0 = time.monotonic()
                lines = run(plan)
                print(
                    f"[compare] round {round_ + 1}/{plan.rounds} {name}: {len(lines)} results, "
                    f"{time.monotonic() - t0:.1f} s",
                    flush=True,
                )
                results += [dict(line, group=name, round=round_) for line in lines]
    finally:
        if ray:
            ray.close()
    info["machine"]["load_after"] = os.getloadavg()
    info["duration_s"] = round(time.monotonic() - started, 1)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps({"info": info, "results": results}, indent=1) + "\n")
    print(f"[compare] {len(results)} results in {info['duration_s']} s → {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
