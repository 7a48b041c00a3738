"""Turns the Google Benchmark JSON of scripts/bench.sh into docs/benchmarks.md tables.

python tests/bench/report.py DIR --write docs/benchmarks.md   # tables and ratios
python tests/bench/report.py DIR --check                       # smoke: all ran, none failed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path


def load(directory: Path) -> tuple[dict, list[dict]]:
    """Returns the context of the first file and every benchmark entry of all files."""
    context: dict = {}
    entries: list[dict] = []
    for name in ("worker_bench.json", "pool_bench.json", "http_bench.json"):
        path = directory / name
        if not path.exists():
            sys.exit(f"report: {path} is missing; run scripts/bench.sh first")
        data = json.loads(path.read_text())
        context = context or data.get("context", {})
        entries.extend(data.get("benchmarks", []))
    return context, entries


def runs(entries: list[dict]) -> dict[str, list[dict]]:
    """Per benchmark (run_name), its iteration entries (no aggregates)."""
    grouped: dict[str, list[dict]] = {}
    for entry in entries:
        if entry.get("run_type") == "aggregate":
            continue
        grouped.setdefault(entry["run_name"], []).append(entry)
    return grouped


def median(grouped: dict[str, list[dict]], name: str, field: str) -> float:
    values = [e[field] for e in grouped.get(name, []) if field in e]
    if not values:
        raise KeyError(f"no '{field}' for benchmark {name}")
    return statistics.median(values)


def find(grouped: dict[str, list[dict]], prefix: str) -> str:
    for name in grouped:
        if name.startswith(prefix):
            return name
    raise KeyError(f"benchmark {prefix} did not run")


def us(ns: float) -> str:
    return f"{ns / 1000:.1f} µs"


def ping_section(grouped: dict[str, list[dict]]) -> list[str]:
    lines = [
        "## Ping round trip (worker API vs. the floor)",
        "",
        "The floor sends the same request frames with blocking system calls from the calling",
        "thread to the smallest possible Python loop (`tests/bench/floor_worker.py`: read a",
        "frame, decode, encode a reply, write). *BaseBridge, raw* drives the real echo bridge",
        "the same way, which isolates the Python SDK's cost; *worker API (sync)* is",
        "`WorkerClient::call` from another thread (event loop + future hand-off); *worker API",
        "(async)* chains calls in completion handlers on the loop thread.",
        "",
        "| codec | floor | BaseBridge, raw | worker API (async) | worker API (sync) "
        "| async / floor | sync / floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for arg, codec in ((0, "json"), (1, "msgpack")):
        floor = median(grouped, find(grouped, f"BM_PingFloor/{arg}/0"), "real_time")
        sdk = median(grouped, find(grouped, f"BM_PingFloor/{arg}/1"), "real_time")
        sync = median(grouped, find(grouped, f"BM_PingWorkerSync/{arg}"), "real_time")
        async_ = median(grouped, find(grouped, f"BM_PingWorkerAsync/{arg}"), "real_time")
        lines.append(
            f"| {codec} | {us(floor)} | {us(sdk)} | {us(async_)} | {us(sync)} "
            f"| {async_ / floor:.2f}× | {sync / floor:.2f}× |"
        )
    return lines + [""]


def echo_section(grouped: dict[str, list[dict]]) -> list[str]:
    pipe = median(grouped, find(grouped, "BM_Echo16MiBPipeFloor"), "bytes_per_second")
    lines = [
        "## 16 MiB bytes echo (worker API vs. a plain pipe echo)",
        "",
        "The floor writes 16 MiB to `cat` and reads them back over the same kind of pipes.",
        "",
        "| path | throughput | ratio to the pipe |",
        "|---|---|---|",
        f"| plain pipe echo through `cat` | {pipe / 1e9:.3f} GB/s | 1.00× |",
    ]
    for arg, codec in ((1, "msgpack"), (0, "json")):
        try:
            rate = median(grouped, find(grouped, f"BM_Echo16MiBWorker/{arg}"), "bytes_per_second")
        except KeyError:
            continue
        lines.append(f"| worker API, {codec} | {rate / 1e9:.3f} GB/s | {rate / pipe:.2f}× |")
    return lines + [""]


def pool_section(grouped: dict[str, list[dict]]) -> list[str]:
    lines = [
        "## Pool throughput of a no-op call against concurrent callers",
        "",
        "A caller keeps one call in flight (closed loop, MessagePack). The floor is as many",
        "smallest Python loops as workers, each driven flat out by its own blocking thread.",
        "",
        "| workers | floor calls/s | callers | pool calls/s | ratio to floor | host CPU per call |",
        "|---|---|---|---|---|---|",
    ]
    for workers in (1, 2):
        floor = median(grouped, find(grouped, f"BM_PoolFloor/{workers}"), "calls_per_s")
        for callers in (1, 2, 8, 64):
            name = find(grouped, f"BM_PoolThroughput/workers:{workers}/callers:{callers}/")
            rate = median(grouped, name, "calls_per_s")
            cpu = median(grouped, name, "host_cpu_us_per_call")
            lines.append(
                f"| {workers} | {floor:,.0f} | {callers} | {rate:,.0f} | {rate / floor:.2f}× "
                f"| {cpu:.1f} µs |"
            )
    return lines + [""]


def http_section(grouped: dict[str, list[dict]]) -> list[str]:
    lines = [
        "## HTTP layer: a no-op call over HTTP beside the C++ API",
        "",
        "The echo bridge's `echo` with empty arguments on a pool of 2 workers, through",
        "`Host::execute` and through `POST /v1/bridges/echo/commands/echo` on loopback (keep-alive",
        "client per caller thread), in one process and one run. The difference is the HTTP",
        "layer's own cost: parsing, routing, JSON bodies, the socket round trip.",
        "",
        "| callers | C++ API latency | HTTP latency | C++ API calls/s | HTTP calls/s "
        "| HTTP / C++ API latency |",
        "|---|---|---|---|---|---|",
    ]
    for threads in (1, 8):
        api = find(grouped, f"BM_NoopHostApi/real_time/threads:{threads}")
        http = find(grouped, f"BM_NoopHttp/real_time/threads:{threads}")
        api_time = median(grouped, api, "real_time")
        http_time = median(grouped, http, "real_time")
        api_rate = median(grouped, api, "calls_per_s")
        http_rate = median(grouped, http, "calls_per_s")
        lines.append(
            f"| {threads} | {api_time:.0f} µs | {http_time:.0f} µs | {api_rate:,.0f} "
            f"| {http_rate:,.0f} | {http_time / api_time:.2f}× |"
        )
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--check", action="store_true")
    options = parser.parse_args()
    context, entries = load(options.directory)
    failed = [e["name"] for e in entries if e.get("error_occurred")]
    if failed:
        print("benchmarks failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    grouped = runs(entries)
    body = (
        ping_section(grouped)
        + echo_section(grouped)
        + pool_section(grouped)
        + http_section(grouped)
    )
    if options.check:
        print(f"bench smoke: {len(grouped)} passed, 0 failed")
        return 0
    header = [
        "# Benchmarks",
        "",
        "Generated by `bash scripts/bench.sh` (raw JSON in `docs/bench/`). Medians of the",
        "repetitions of one run; every comparison is measured beside its floor in that run.",
        "",
        f"- date: {date.today().isoformat()}",
        f"- machine: {context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz,"
        f" load average {', '.join(f'{x:.2f}' for x in context.get('load_avg', []))}",
        f"- build: {context.get('library_build_type', '?')} Google Benchmark library, "
        "mlbridge release preset",
        "",
    ]
    analysis = options.write.with_suffix(".analysis.md") if options.write else None
    footer = []
    if analysis and analysis.exists():
        footer = ["", analysis.read_text()]
    options.write.write_text("\n".join(header + body + footer) + "\n")
    print(f"wrote {options.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
