"""The comparison's sections of docs/benchmarks.md and its plots, from compare.py's raw JSON.

Used by tests/bench/report.py; every figure is the median over the run's rounds of one cell.
"""

from __future__ import annotations

import statistics
from pathlib import Path

FLOOR_CPP = "floor: C++ ↔ C++"
FLOOR_PY = "floor: C++ ↔ Python loop"
SDK_RAW = "BaseBridge, raw pipe"
API = "mlbridge C++ API"
HTTP = "mlbridge HTTP API"
# The same, with host.loop_spin_us: 0 (compare.py's "sleeping" groups).
API_SLEEPING = API + ", loop sleeps at once"
# compare.py's pipelined group runs at this pool.pipeline_depth (its maximum).
PIPELINE_DEPTH = 16
API_PIPELINED = f"{API}, pipeline_depth {PIPELINE_DEPTH}"
HTTP_SLEEPING = HTTP + ", loop sleeps at once"
PEERS = [
    "embedded interpreter (pybind11)",
    "multiprocessing.Pool",
    "ProcessPoolExecutor",
    "FastAPI + uvicorn",
    "Ray actor",
]
KEYS = ("kind", "system", "codec", "workers", "callers", "payload", "bytes", "bridge", "process")


class Results:
    """The run's results, one median per cell (a cell: the same KEYS, over rounds)."""

    def __init__(self, raw: dict):
        self.info = raw["info"]
        cells: dict[tuple, list[dict]] = {}
        for line in raw["results"]:
            flat = dict(line)
            flat.update(flat.pop("memory", {}) or {})
            cells.setdefault(tuple(flat.get(k) for k in KEYS), []).append(flat)
        self.cells: dict[tuple, dict] = {}
        for key, lines in cells.items():
            merged = dict(zip(KEYS, key, strict=True))
            for field in {f for line in lines for f in line} - set(KEYS) - {"group", "round"}:
                values = [x[field] for x in lines if isinstance(x.get(field), (int, float))]
                if values:
                    merged[field] = statistics.median(values)
                elif field in lines[0]:
                    merged[field] = lines[0][field]
            merged["rounds"] = len(lines)
            self.cells[key] = merged

    def find(self, **want) -> list[dict]:
        return [c for c in self.cells.values() if all(c.get(k) == v for k, v in want.items())]

    def one(self, **want) -> dict | None:
        found = self.find(**want)
        return found[0] if found else None

    def value(self, field: str, **want) -> float | None:
        cell = self.one(**want)
        return cell.get(field) if cell else None


def us(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 10000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.0f} µs" if value >= 100 else f"{value:.1f} µs"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def section(title: str, prose: list[str], columns: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown section: its heading, a paragraph of `prose` lines, a table of `rows`."""
    lines = [f"## {title}", ""]
    if prose:
        lines += [*prose, ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def latency_section(r: Results) -> list[str]:
    floor = {
        c: r.value("median_us", kind="latency", system=FLOOR_PY, codec=c)
        for c in ("json", "msgpack")
    }
    rows = []
    for system in [FLOOR_CPP, FLOOR_PY, SDK_RAW, API, API_SLEEPING, HTTP, HTTP_SLEEPING, *PEERS]:
        for cell in sorted(r.find(kind="latency", system=system), key=lambda c: c["codec"]):
            base = floor.get(cell["codec"], floor["msgpack"])
            rows.append(
                [
                    system,
                    cell["codec"],
                    us(cell["median_us"]),
                    us(cell["p99_us"]),
                    us(cell["p999_us"]),
                    ratio(cell["median_us"], base),
                ]
            )
    return section(
        "No-op latency at concurrency 1",
        [
            "One caller, one call at a time: `echo` of an empty object (each peer: a function",
            "returning its argument). Medians over rounds of each round's median, p99 and p99.9.",
            "*Ratio* is to the C++ ↔ Python floor of the same codec (MessagePack for the peers).",
        ],
        ["system", "codec", "median", "p99", "p99.9", "ratio to floor"],
        rows,
    )


def throughput_section(r: Results, callers: list[int]) -> list[str]:
    rows = []
    systems = [FLOOR_PY, SDK_RAW, API, API_PIPELINED, API_SLEEPING, HTTP, HTTP_SLEEPING, *PEERS]
    for system in systems:
        for workers in sorted({c["workers"] for c in r.find(kind="throughput", system=system)}):
            cells = []
            for c in callers:
                rate = r.value(
                    "calls_per_s", kind="throughput", system=system, workers=workers, callers=c
                )
                cells.append(f"{rate:,.0f}" if rate is not None else "—")
            rows.append([system, workers, *cells])
    return section(
        "No-op throughput against concurrent callers",
        [
            "Calls per second with 1, 2, 8, 64 and 512 callers, each keeping one call in flight",
            "(closed loop), on pools of 1 and 2 worker processes (Ray: actors; FastAPI: uvicorn",
            "workers; the embedded interpreter has one GIL, its callers are threads). The C++ and",
            "HTTP APIs use MessagePack to the workers; HTTP clients are keep-alive connections,",
            "one per caller thread; *loop sleeps at once* is the same with `host.loop_spin_us: 0`.",
            "The floor row is 1 or 2 of the smallest Python loops, each driven flat out by its",
            "own C++ thread over blocking pipes: the most a pool of that size could answer.",
        ],
        ["system", "workers", *(f"{c} callers" for c in callers)],
        rows,
    ) + ["![throughput against callers](bench/throughput.png)", ""]


def dispatcher_section(r: Results) -> list[str]:
    """CPU per call of the host's event-loop thread and of the whole host, under load."""
    rows = [
        [
            cell["system"],
            cell["workers"],
            cell["callers"],
            f"{cell['calls_per_s']:,.0f}",
            us(cell.get("loop_cpu_us_per_call")),
            us(cell.get("host_cpu_us_per_call")),
        ]
        for cell in r.find(kind="throughput", system=FLOOR_PY)
        + r.find(kind="throughput", system=API)
        + r.find(kind="throughput", system=API_PIPELINED)
        + r.find(kind="throughput", system=API_SLEEPING)
    ]
    return section(
        "The dispatcher's own cost",
        [
            "CPU time per completed call in the throughput runs above (C++ API, MessagePack): the",
            "host's event-loop thread (which dispatches every pool's calls and does every worker's",
            "pipe I/O), and the whole host process (the loop thread and the threads driving the",
            "calls). The loop thread's time includes its polling for more work before it sleeps",
            "(`host.loop_spin_us`, 100 µs by default); the rows *loop sleeps at once* are the same",
            "runs with it set to 0, where the figure is the dispatch alone; in the rows",
            f"*pipeline_depth {PIPELINE_DEPTH}* the loop rarely waits for work under load.",
            "The floor row is the C++ driver threads of the flat-out Python loops.",
        ],
        [
            "system",
            "workers",
            "callers",
            "calls/s",
            "loop thread CPU per call",
            "host CPU per call",
        ],
        rows,
    )


def payload_section(r: Results) -> list[str]:
    rows = []
    for size in sorted({c["bytes"] for c in r.find(kind="payload")}):
        pipe = r.value("median_us", kind="payload", system="plain pipe echo (cat)", bytes=size)
        label = f"{size // 1024} KiB" if size < 2**20 else f"{size // 2**20} MiB"
        rows.append([label, "plain pipe", "bytes", "—", us(pipe), f"{size / pipe:,.0f}", "1.00×"])
        for system, api in ((API, "C++"), (HTTP, "HTTP")):
            for payload in ("bytes", "nested"):
                for codec in ("msgpack", "json"):
                    t = r.value(
                        "median_us",
                        kind="payload",
                        system=system,
                        payload=payload,
                        codec=codec,
                        bytes=size,
                    )
                    if t is not None:
                        pipe_ratio = ratio(pipe, t) if payload == "bytes" else "—"
                        rate = f"{size / t:,.0f}"
                        rows.append([label, api, payload, codec, us(t), rate, pipe_ratio])
    return section(
        "Payloads",
        [
            'Echo of `{"data": …}` at concurrency 1 (pool of 1) through the C++ API and',
            "through the HTTP API (one keep-alive connection; the body is JSON, so bytes travel",
            'as `{"__bytes__": base64}` between client and server whatever the worker codec).',
            "*bytes* is a binary blob (MessagePack `bin` to the worker; base64 in JSON),",
            "*nested* a list of JSON-like records (numbers, strings, a list, a sub-object) of",
            "about that size as JSON. Throughput is payload bytes per round trip time; the plain",
            "pipe writes the bytes to `cat` and reads them back.",
        ],
        [
            "size",
            "API",
            "payload",
            "worker codec",
            "round trip (median)",
            "MB/s",
            "ratio to the pipe",
        ],
        rows,
    )


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def cold_start_section(r: Results) -> list[str]:
    rows = [
        [
            cell["bridge"],
            ms(cell["interpreter_start_ms"]),
            ms(cell["imports_ms"]),
            ms(cell["start_to_spawn_ms"]),
            ms(cell["spawn_to_ready_ms"]),
            ms(cell["ready_to_first_answer_ms"]),
            f"**{ms(cell['start_to_first_answer_ms'])}**",
        ]
        for cell in r.find(kind="coldstart")
        if not cell["bridge"].startswith("Ray")
    ]
    lines = section(
        "Cold start per bridge",
        [
            "`Host::start()` with one bridge (pool of 1) → the worker spawned (the host's log:",
            "plugin, config, environment check, which imports the bridge's required packages in a",
            "separate interpreter) → ready (hello and init answered) → the first answer (a",
            "`ping`). Beside it, measured in the same round: a bare interpreter start",
            "(`python -c pass`) and the bridge's imports timed inside a fresh interpreter (the SDK",
            "and the plugin's `required_packages`).",
        ],
        [
            "bridge",
            "interpreter start",
            "imports",
            "`start()` → spawn",
            "spawn → ready",
            "ready → first answer",
            "**`start()` → first answer**",
        ],
        rows,
    )
    ray = r.find(kind="coldstart", bridge="Ray (ray.init + first actor calls)")
    if ray:
        lines += [
            f"For comparison, `ray.init()` and the first calls to two actors took "
            f"{ms(ray[0]['start_to_first_answer_ms'])} (once per run).",
            "",
        ]
    return lines


def memory_section(r: Results) -> list[str]:
    def mib(kib: float | None) -> str:
        return f"{kib / 1024:.1f} MiB" if kib else "—"

    cells = [("(none)", "host", r.one(kind="memory", bridge="(none)", process="host"))]
    for bridge in ("echo", "echo ×1", "echo ×2", "dspy", "langchain", "transformers"):
        for process in ("host", "worker"):
            cells.append(
                (bridge, process, r.one(kind="memory", bridge=bridge, process=process, system=None))
            )
    rows = [
        [bridge, process, mib(cell.get("rss_kib")), mib(cell.get("pss_kib"))]
        for bridge, process, cell in cells
        if cell
    ]
    return section(
        "Memory",
        [
            "RSS and PSS from `/proc/<pid>/smaps_rollup`, once the bridge answered (cold-start",
            "runs, one bridge and one worker per host; *echo ×1* and *echo ×2*: the recovery runs'",
            "pools of 1 and 2 under load from 8 callers, per worker). The host rows are the whole",
            "host process (the driver) before any bridge and with that bridge; PSS splits shared",
            "pages among the processes that map them.",
        ],
        ["bridge", "process", "RSS", "PSS"],
        rows,
    )


def recovery_section(r: Results) -> list[str]:
    rows = [
        [
            cell["workers"],
            f"{cell['kill_to_next_answer_ms']:.1f} ms",
            f"{cell['kill_to_full_strength_ms']:.1f} ms",
            f"{cell['failed_calls']:.0f}",
            cell["rounds"],
        ]
        for cell in sorted(r.find(kind="recovery"), key=lambda c: c["workers"])
    ]
    return section(
        "Recovery after SIGKILL of a busy worker",
        [
            "8 callers keep no-op calls in flight on the echo bridge; one worker is killed with",
            "SIGKILL. *Next answer*: until a call submitted after the kill is answered. *Full",
            "strength*: until the pool again has all its workers serving. *Failed calls*: calls",
            "that failed from the kill on (the one the killed worker was running; the echo",
            "command is not marked idempotent, so it is not retried).",
        ],
        ["workers", "kill → next answer", "kill → full strength", "failed calls", "rounds"],
        rows,
    )


def breakdown(r: Results) -> dict[str, float | None]:
    """Where a no-op call's time goes (MessagePack, concurrency 1), by subtracting floors."""
    m = {
        s: r.value("median_us", kind="latency", system=s, codec="msgpack")
        for s in (FLOOR_CPP, FLOOR_PY, SDK_RAW, API, HTTP)
    }

    def diff(a: str, b: str) -> float | None:
        return m[a] - m[b] if m[a] is not None and m[b] is not None else None

    return {
        "pipes, wake-ups, framing (C++ ↔ C++ floor)": m[FLOOR_CPP],
        "smallest Python loop (decode, encode, interpreter)": diff(FLOOR_PY, FLOOR_CPP),
        "mlbridge Python SDK (BaseBridge dispatch)": diff(SDK_RAW, FLOOR_PY),
        "mlbridge host (Host::execute, pool, event loop, hand-off)": diff(API, SDK_RAW),
        "= C++ API total": m[API],
        "HTTP layer on top (server, JSON bodies, loopback TCP)": diff(HTTP, API),
    }


def breakdown_section(r: Results) -> list[str]:
    return section(
        "Where a no-op call's time goes",
        [
            "Medians at concurrency 1 with MessagePack, each layer the difference between two",
            "measured paths of the table above (so the parts add up to the C++ API's median).",
        ],
        ["part", "time per call"],
        [[part, us(value)] for part, value in breakdown(r).items()],
    )


def targets(r: Results) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for the comparison targets of issues 3 and 9 (issue 2's, on the
    worker API alone, are under the Google Benchmark sections of report.py)."""
    lat = {
        s: r.value("median_us", kind="latency", system=s, codec=c)
        for s, c in (
            (API, "msgpack"),
            (FLOOR_PY, "msgpack"),
            ("FastAPI + uvicorn", "json"),
            ("Ray actor", "ray"),
        )
    }
    out: list[tuple[str, str, bool | None]] = []

    def add(name: str, value: float | None, good) -> None:
        out.append(
            (name, f"{value:.2f}×" if value else "not measured", good(value) if value else None)
        )

    api, floor = lat[API], lat[FLOOR_PY]
    add(
        "no-op median latency ≤ 2× the C++ ↔ Python floor (MessagePack)",
        api / floor if api and floor else None,
        lambda v: v <= 2,
    )
    fastapi = lat["FastAPI + uvicorn"]
    add(
        "no-op median latency ≥ 10× lower than FastAPI + uvicorn",
        fastapi / api if fastapi and api else None,
        lambda v: v >= 10,
    )
    ray = lat["Ray actor"]
    add(
        "no-op median latency ≥ 10× lower than a Ray actor",
        ray / api if ray and api else None,
        lambda v: v >= 10,
    )
    ours = r.value("calls_per_s", kind="throughput", system=API, workers=2, callers=64)
    theirs = r.value(
        "calls_per_s", kind="throughput", system="ProcessPoolExecutor", workers=2, callers=64
    )
    add(
        "throughput, 2 workers, 64 callers ≥ 1.5× ProcessPoolExecutor",
        ours / theirs if ours and theirs else None,
        lambda v: v >= 1.5,
    )
    floor_2 = r.value("calls_per_s", kind="throughput", system=FLOOR_PY, workers=2, callers=2)
    add(
        "throughput, 2 workers, 64 callers ≥ 0.8× two Python loops flat out",
        ours / floor_2 if ours and floor_2 else None,
        lambda v: v >= 0.8,
    )
    pipelined = r.value(
        "calls_per_s", kind="throughput", system=API_PIPELINED, workers=2, callers=64
    )
    add(
        f"the same with pool.pipeline_depth {PIPELINE_DEPTH}",
        pipelined / floor_2 if pipelined and floor_2 else None,
        lambda v: v >= 0.8,
    )
    for workers in (1, 2):
        at_pool = r.value(
            "calls_per_s", kind="throughput", system=API, workers=workers, callers=workers
        )
        beyond = [
            c["calls_per_s"]
            for c in r.find(kind="throughput", system=API, workers=workers)
            if c["callers"] > workers
        ]
        add(
            f"throughput, {workers} worker(s), does not fall past {workers} caller(s) "
            "(lowest ≥ 0.9× the rate at the pool size)",
            min(beyond) / at_pool if beyond and at_pool else None,
            lambda v: v >= 0.9,
        )
    size = 16 * 2**20
    pipe = r.value("median_us", kind="payload", system="plain pipe echo (cat)", bytes=size)
    echo = r.value(
        "median_us", kind="payload", system=API, payload="bytes", codec="msgpack", bytes=size
    )
    add(
        "16 MiB bytes echo, MessagePack ≥ 0.8× a plain pipe echo",
        pipe / echo if pipe and echo else None,
        lambda v: v >= 0.8,
    )
    return out


def targets_section(r: Results) -> list[str]:
    def status(met: bool | None) -> str:
        return "met" if met else ("**missed**" if met is False else "—")

    return section(
        "Targets",
        [],
        ["target", "this run", "status"],
        [[name, measured, status(met)] for name, measured, met in targets(r)],
    )


def plots(r: Results, directory: Path, callers: list[int]) -> None:
    """throughput.png (calls/s against callers, per pool size) and latency.png (median, p99)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, workers in zip(axes, (1, 2), strict=True):
        for system in [API, HTTP, *PEERS]:
            points = [
                (
                    c,
                    r.value(
                        "calls_per_s",
                        kind="throughput",
                        system=system,
                        workers=workers if system != PEERS[0] else 1,
                        callers=c,
                    ),
                )
                for c in callers
            ]
            points = [(c, v) for c, v in points if v]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=system)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(callers, [str(c) for c in callers])
        ax.set_xlabel("concurrent callers")
        ax.set_title(f"pool of {workers} worker{'s' if workers > 1 else ''}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("no-op calls per second")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(directory / "throughput.png", dpi=110)
    plt.close(fig)

    rows = []
    for system in [FLOOR_CPP, FLOOR_PY, SDK_RAW, API, HTTP, *PEERS]:
        cells = r.find(kind="latency", system=system)
        cell = next((c for c in cells if c["codec"] == "msgpack"), cells[0] if cells else None)
        if cell:
            rows.append((f"{system} ({cell['codec']})", cell["median_us"], cell["p99_us"]))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = [n for n, _, _ in rows]
    ax.barh(names, [p for _, _, p in rows], color="#f2b28a", label="p99")
    ax.barh(names, [m for _, m, _ in rows], color="#3b75af", label="median")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("no-op round trip, µs (log scale)")
    ax.legend()
    ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(directory / "latency.png", dpi=110)
    plt.close(fig)


def sections(raw: dict, plot_dir: Path | None) -> list[str]:
    r = Results(raw)
    callers = sorted({c["callers"] for c in r.find(kind="throughput")})
    if plot_dir:
        plots(r, plot_dir, callers)
    return (
        targets_section(r)
        + latency_section(r)
        + (["![no-op latency](bench/latency.png)", ""] if plot_dir else [])
        + breakdown_section(r)
        + throughput_section(r, callers)
        + dispatcher_section(r)
        + payload_section(r)
        + cold_start_section(r)
        + memory_section(r)
        + recovery_section(r)
    )


def check(raw: dict) -> list[str]:
    """What a smoke run must have produced: one problem per line (none: all good)."""
    r = Results(raw)
    problems = []
    for system in [FLOOR_CPP, FLOOR_PY, SDK_RAW, API, HTTP, *PEERS[:4]]:
        if not r.find(kind="latency", system=system):
            problems.append(f"no latency for {system}")
    for system in [FLOOR_PY, API, HTTP, *PEERS[:4]]:
        if not r.find(kind="throughput", system=system):
            problems.append(f"no throughput for {system}")
    for kind in ("payload", "coldstart", "memory", "recovery"):
        if not r.find(kind=kind):
            problems.append(f"no {kind} results")
    if not r.find(kind="payload", system=HTTP):
        problems.append(f"no payload results for {HTTP}")
    for cell in r.find(kind="throughput"):
        if not cell.get("calls_per_s") or cell.get("errors"):
            problems.append(
                f"throughput {cell['system']} {cell['workers']}×{cell['callers']}: "
                f"{cell.get('calls_per_s')} calls/s, {cell.get('errors')} errors"
            )
    return problems
