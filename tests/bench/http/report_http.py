"""docs/benchmarks-http.md from tests/bench/http/run.py's JSON: the front door's rows side by side
and issue 22's targets, each marked met or not met.

    python tests/bench/http/report_http.py docs/bench/http.json --write docs/benchmarks-http.md
    python tests/bench/http/report_http.py RESULT.json --check   # smoke: every row is there
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def find(rows: list[dict], row: str, **match) -> dict | None:
    for entry in rows:
        if entry.get("row") == row and all(entry.get(k) == v for k, v in match.items()):
            return entry
    return None


def matching(rows: list[dict], row: str, **match) -> list[dict]:
    return [
        entry
        for entry in rows
        if entry.get("row") == row and all(entry.get(k) == v for k, v in match.items())
    ]


def median_us(entry: dict | None) -> float | None:
    return entry["latency"]["median_us"] if entry else None


def calls_per_s(entry: dict | None) -> float | None:
    return entry.get("calls_per_s") if entry else None


def over_rounds(rows: list[dict], value, row: str, **match) -> float | None:
    """The median over run.py's rounds of `value` of the rows that match (one per round)."""
    values = [value(entry) for entry in matching(rows, row, **match)]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def round_ratios(rows: list[dict], value, row: str, ours: dict, theirs: dict) -> list[float]:
    """Each round's ratio of our row to the peer's (the rounds' spread, shown beside the
    median)."""
    out = []
    for entry in matching(rows, row, **ours):
        peer = find(rows, row, round=entry.get("round"), **theirs)
        if peer is not None and value(peer):
            out.append(value(entry) / value(peer))
    return out


def floor_us(rows: list[dict]) -> float | None:
    """The median of the TCP round trip's medians (run.py takes it before each server's rows in
    every round)."""
    medians = [median_us(r) for r in rows if r.get("row") == "tcp_round_trip"]
    return statistics.median(medians) if medians else None


def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


NOOP = {"server": "mlbridge", "path": "/v1/bridges/echo/commands/echo"}
ASYNC = {"server": "mlbridge", "handler": "async"}
FASTAPI = {"server": "fastapi"}


def collect(result: dict) -> dict:
    rows = result["rows"]
    figures = {
        "tcp": floor_us(rows),
        "noop": over_rounds(rows, median_us, "latency", **NOOP),
        "noop_fastapi": over_rounds(rows, median_us, "latency", **FASTAPI),
        "noop_rounds": round_ratios(rows, median_us, "latency", NOOP, FASTAPI),
        "tput": over_rounds(rows, calls_per_s, "throughput", **ASYNC),
        "tput_sync": over_rounds(rows, calls_per_s, "throughput", **NOOP),
        "tput_fastapi": over_rounds(rows, calls_per_s, "throughput", **FASTAPI),
        "tput_rounds": round_ratios(rows, calls_per_s, "throughput", ASYNC, FASTAPI),
        "json": over_rounds(
            rows, median_us, "payload", server="mlbridge", kind="nested", codec="msgpack"
        ),
        "json_fastapi": over_rounds(rows, median_us, "payload", server="fastapi", kind="nested"),
        "codec": over_rounds(rows, median_us, "worker_codec", codec="msgpack"),
        "json_w": over_rounds(
            rows, median_us, "payload", server="mlbridge", kind="nested", codec="json"
        ),
        "codec_w": over_rounds(rows, median_us, "worker_codec", codec="json"),
        "bytes_mb_s": (find(rows, "payload", server="mlbridge", kind="bytes") or {}).get(
            "mb_per_s"
        ),
        "other_idle": median_us(find(rows, "latency", idle_other=True)),
        "load": find(rows, "load"),
    }
    return figures


def spread(ratios: list[float]) -> str:
    """Each round's ratio, for the page: "rounds: 0.52×, 0.55×, 0.49×"."""
    if len(ratios) < 2:
        return ""
    return "; rounds: " + ", ".join(f"{r:.2f}×" for r in ratios)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b in (None, 0) else a / b


def render(result: dict) -> str:
    f = collect(result)
    load = f["load"] or {}
    healthz = load.get("healthz") or {}
    other = load.get("other_bridge") or {}
    floor_load = load.get("tcp_floor") or {}
    other_idle_ms = None if f["other_idle"] is None else f["other_idle"] / 1000
    noop_vs_tcp = ratio(f["noop"], f["tcp"])
    noop_vs_fastapi = ratio(f["noop"], f["noop_fastapi"])
    tput_vs_fastapi = ratio(f["tput"], f["tput_fastapi"])
    json_vs_codec = ratio(f["json"], f["codec"])
    fastapi_vs_json = ratio(f["json_fastapi"], f["json"])
    json_w_vs_codec = ratio(f["json_w"], f["codec_w"])
    fastapi_vs_json_w = ratio(f["json_fastapi"], f["json_w"])
    known = [r for r in (fastapi_vs_json, fastapi_vs_json_w) if r is not None]
    fastest_vs_fastapi = max(known) if known else None

    def ms(value: float | None) -> str:
        return fmt(None if value is None else value / 1000, " ms", 2)

    per_conn = load.get("rss_per_idle_connection")
    baseline = load.get("baseline") or {}
    base_other = baseline.get("other_bridge") or {}
    base_floor = baseline.get("tcp_floor") or {}
    other_ok = None
    if other and base_other:
        other_ok = other["p50_ms"] <= 2 * base_other["p50_ms"]

    rounds = result.get("rounds", 1)
    rounds_text = "one round" if rounds == 1 else f"{rounds} rounds"

    def mib(key: str) -> str:
        return fmt((load.get(key) or 0) / 2**20, " MiB")

    lines = [
        "# Benchmarks: the HTTP front door (issue 22)",
        "",
        "One run of `bash scripts/bench.sh --front-door` (tests/bench/http/run.py, then this",
        "page by tests/bench/http/report_http.py). `mlbridge serve --threads 4` on one host",
        "beside FastAPI + uvicorn; the rows compared with FastAPI (and the TCP floor, before",
        f"each server's rows) were taken in {rounds_text}, the order of the two servers",
        "alternating, and the targets use each row's median over the rounds. The clients are",
        "front_door_rows and front_door_load (C++, Beast, keep-alive, TCP_NODELAY) on the same",
        f"machine ({result.get('cores')} cores, shared: load average "
        f"{', '.join(f'{x:.2f}' for x in result.get('load_before', []))} before the run, "
        f"{', '.join(f'{x:.2f}' for x in result.get('load_after', []))} after). "
        "Numbers from a loaded 2-core machine are noisy; the ratios matter more than the values.",
        "",
        "## Targets",
        "",
        "| Target | Measured | |",
        "|---|---|---|",
        f"| /healthz p99 ≤ 10 ms throughout the load | p99 {fmt(healthz.get('p99_ms'), ' ms', 2)} "
        f"(p50 {fmt(healthz.get('p50_ms'), ' ms', 2)}, max {fmt(healthz.get('max_ms'), ' ms', 1)}, "
        f"{healthz.get('count', 0)} probes) | "
        f"{mark(None if not healthz else healthz['p99_ms'] <= 10)} |",
        "| a call to another bridge at its normal latency during the load | p50 "
        f"{fmt(other.get('p50_ms'), ' ms', 2)} (p99 {fmt(other.get('p99_ms'), ' ms', 2)}); "
        f"before the load, at the same pace: p50 {fmt(base_other.get('p50_ms'), ' ms', 2)} "
        f"(back to back: {fmt(other_idle_ms, ' ms', 2)}). The loopback TCP floor during the "
        f"load p50 {fmt(floor_load.get('p50_ms'), ' ms', 3)}, before it "
        f"{fmt(base_floor.get('p50_ms'), ' ms', 3)} | "
        f"{mark(other_ok)} (p50 ≤ 2× before the load) |",
        f"| RSS per idle connection (reported) | {fmt(per_conn, ' bytes', 0)} | reported |",
        "| HTTP no-op median ≤ 2× loopback TCP round trip | "
        f"{fmt(f['noop'], ' µs')} vs "
        f"{fmt(f['tcp'], ' µs')} ({fmt(noop_vs_tcp, '×', 2)}) | "
        f"{mark(None if noop_vs_tcp is None else noop_vs_tcp <= 2)} |",
        f"| HTTP no-op median ≤ 0.5× FastAPI + uvicorn's | {fmt(f['noop'], ' µs')} vs "
        f"{fmt(f['noop_fastapi'], ' µs')} ({fmt(noop_vs_fastapi, '×', 2)}"
        f"{spread(f['noop_rounds'])}) | "
        f"{mark(None if noop_vs_fastapi is None else noop_vs_fastapi <= 0.5)} |",
        "| throughput at 64 callers ≥ 3× FastAPI's (2 workers each; async no-op handlers on "
        "both sides) | "
        f"{fmt(f['tput'], ' calls/s', 0)} vs "
        f"{fmt(f['tput_fastapi'], ' calls/s', 0)} ({fmt(tput_vs_fastapi, '×', 2)}"
        f"{spread(f['tput_rounds'])}); a plain "
        f"`def` command, a call at a time per worker: {fmt(f['tput_sync'], ' calls/s', 0)} "
        f"({fmt(ratio(f['tput_sync'], f['tput_fastapi']), '×', 2)}) | "
        f"{mark(None if tput_vs_fastapi is None else tput_vs_fastapi >= 3)} |",
        f"| 1 MiB nested JSON echo ≤ 2× the worker's own decode + encode: a MessagePack worker | "
        f"{ms(f['json'])} vs {ms(f['codec'])} ({fmt(json_vs_codec, '×', 2)}) | "
        f"{mark(None if json_vs_codec is None else json_vs_codec <= 2)} |",
        f"| the same, a JSON worker (the default codec) | "
        f"{ms(f['json_w'])} vs {ms(f['codec_w'])} ({fmt(json_w_vs_codec, '×', 2)}) | "
        f"{mark(None if json_w_vs_codec is None else json_w_vs_codec <= 2)} |",
        f"| 1 MiB nested JSON echo ≥ 3× faster than FastAPI | FastAPI {ms(f['json_fastapi'])}: "
        f"{fmt(fastapi_vs_json, '×', 2)} a MessagePack worker's time, "
        f"{fmt(fastapi_vs_json_w, '×', 2)} a JSON worker's | "
        f"{mark(None if fastest_vs_fastapi is None else fastest_vs_fastapi >= 3)} |",
        f"| 16 MiB base64 bytes through HTTP ≥ 200 MB/s | {fmt(f['bytes_mb_s'], ' MB/s', 0)} | "
        f"{mark(None if f['bytes_mb_s'] is None else f['bytes_mb_s'] >= 200)} |",
        "",
        "What the rows measure: every mlbridge row is a call to a Python worker process (pipe,",
        "MessagePack, the worker's dispatch) behind the HTTP front door, where FastAPI runs the",
        "no-op in its own process; the TCP round trip is the floor of one loopback exchange. The",
        "load rows are the front door's own: connections, streams and queued calls cost no",
        "thread, and the probes never wait on the host's event loop.",
        "",
        "## The load",
        "",
        f"- {load.get('idle_connections', 0):,} idle keep-alive connections opened "
        f"({load.get('idle_failed', 0)} failed); server RSS {mib('server_rss_before')} "
        f"before them, {mib('server_rss_after_idle')} after "
        f"({fmt(per_conn, ' bytes', 0)} per connection).",
        f"- {load.get('streams_live', 0):,} live Server-Sent Events streams (`async_stream` of "
        "the echo bridge, one worker holding every call, a chunk a second each; "
        f"{load.get('streams_failed', 0)} failed); server RSS with them "
        f"{mib('server_rss_with_streams')}.",
        f"- {load.get('queued_ok', 0):,} calls answered from the `queue` bridge's queue (one "
        f"worker, a 10 ms sleep each; {load.get('queued_failed', 0)} failed), while /healthz was "
        "asked every 5 ms on its own connection and every tenth probe called `other` and timed a "
        "64-byte loopback TCP round trip (the machine's floor under the load); the probes run "
        "on a thread of their own in the driver, apart from the load's event loop.",
        f"- Errors: {load.get('probe_errors', 0)} probe errors; first error: "
        f"{load.get('first_error') or 'none'}.",
        "- The open-file limit: the server raises its soft limit to the hard one at start (the "
        "log says both), the driver does the same (its limit: "
        f"{load.get('client_open_files_limit', 'n/a')}).",
        "",
        "## All rows",
        "",
        "| Row | Server | Round | Median | p99 | Other |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        latency = row.get("latency") or {}
        other_text = ""
        if "calls_per_s" in row:
            other_text = f"{row['calls_per_s']:,.0f} calls/s at {row['callers']} callers"
        if "mb_per_s" in row:
            other_text = f"{row['mb_per_s']:,.0f} MB/s, body {row['body_bytes']:,} bytes"
        if row.get("codec"):
            other_text = f"{row['codec']} worker; {other_text}".rstrip("; ")
        if "taken" in row:
            other_text = f"taken {row['taken']}"
        if row.get("row") == "load":
            continue
        lines.append(
            f"| {row.get('row')} {row.get('kind', '')} {row.get('path', '')} | "
            f"{row.get('server', '')} | {row.get('round', '')} | "
            f"{fmt(latency.get('median_us'), ' µs')} | "
            f"{fmt(latency.get('p99_us'), ' µs')} | {other_text} |"
        )
    lines.append("")
    return "\n".join(lines)


def check(result: dict) -> list[str]:
    f = collect(result)
    missing = [name for name, value in f.items() if value is None]
    load = f["load"] or {}
    if load and (
        load.get("probe_errors") or load.get("queued_failed") or load.get("streams_failed")
    ):
        missing.append(f"load errors: {load.get('first_error')}")
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("result", type=Path)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--check", action="store_true")
    options = parser.parse_args()
    result = json.loads(options.result.read_text())
    if options.check:
        problems = check(result)
        if problems:
            print("[bench] front door smoke: missing or failed: " + ", ".join(problems))
            return 1
        print("[bench] front door smoke: every row is there")
        return 0
    text = render(result)
    if options.write:
        options.write.write_text(text)
        print(f"[bench] wrote {options.write}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
