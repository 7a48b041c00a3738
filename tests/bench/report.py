"""Turns the JSON of scripts/bench.sh into docs/benchmarks.md: tables, plots and ratios.

python tests/bench/report.py DIR --write docs/benchmarks.md   # tables, ratios, DIR/*.png
python tests/bench/report.py DIR --check                       # smoke: all ran, none failed

DIR holds raw.json (tests/bench/compare/compare.py: the comparison with the floors and the
peers), the Google Benchmark JSON of worker_bench and transformers_bench, and
transformers_inprocess.json (tests/bench/transformers_inprocess.py), the in-process side of
the Transformers section.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "compare"))
import compare_report  # noqa: E402


def load(directory: Path) -> tuple[dict, list[dict]]:
    """Returns the context of the first file and every benchmark entry of all files."""
    context: dict = {}
    entries: list[dict] = []
    for name in (
        "worker_bench.json",
        "transformers_bench.json",
    ):
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
        "## Worker API: synchronous and asynchronous round trips (Google Benchmark)",
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
    ratios: dict[str, float] = {}
    for arg, codec in ((0, "json"), (1, "msgpack")):
        floor = median(grouped, find(grouped, f"BM_PingFloor/{arg}/0"), "real_time")
        sdk = median(grouped, find(grouped, f"BM_PingFloor/{arg}/1"), "real_time")
        sync = median(grouped, find(grouped, f"BM_PingWorkerSync/{arg}"), "real_time")
        async_ = median(grouped, find(grouped, f"BM_PingWorkerAsync/{arg}"), "real_time")
        lines.append(
            f"| {codec} | {us(floor)} | {us(sdk)} | {us(async_)} | {us(sync)} "
            f"| {async_ / floor:.2f}× | {sync / floor:.2f}× |"
        )
        if codec == "msgpack":
            ratios = {"sync": sync / floor, "async": async_ / floor}
    verdicts = ", ".join(
        f"{api} {ratio:.2f}× ({'met' if ratio <= 1.5 else '**missed**'})"
        for api, ratio in ratios.items()
    )
    lines += [
        "",
        f"Target (issue 2): median ping at most 1.5× its floor with MessagePack: {verdicts}.",
    ]
    return lines + [""]


def echo_section(grouped: dict[str, list[dict]]) -> list[str]:
    pipe = median(grouped, find(grouped, "BM_Echo16MiBPipeFloor"), "bytes_per_second")
    lines = [
        "## 16 MiB bytes echo through the worker API (Google Benchmark)",
        "",
        "The floor writes 16 MiB to `cat` and reads them back over the same kind of pipes.",
        "",
        "| path | throughput | ratio to the pipe |",
        "|---|---|---|",
        f"| plain pipe echo through `cat` | {pipe / 1e9:.3f} GB/s | 1.00× |",
    ]
    target = "Target (issue 2): the 16 MiB echo with MessagePack did not run."
    for arg, codec in ((1, "msgpack"), (0, "json")):
        try:
            rate = median(grouped, find(grouped, f"BM_Echo16MiBWorker/{arg}"), "bytes_per_second")
        except KeyError:
            continue
        lines.append(f"| worker API, {codec} | {rate / 1e9:.3f} GB/s | {rate / pipe:.2f}× |")
        if codec == "msgpack":
            met = "met" if rate / pipe >= 0.8 else "**missed**"
            target = (
                "Target (issue 2): the 16 MiB echo at least 0.8× the pipe's throughput with "
                f"MessagePack: {rate / pipe:.2f}× ({met})."
            )
    try:
        rate = median(grouped, find(grouped, "BM_Copy16MiB"), "bytes_per_second")
    except KeyError:
        rate = None
    if rate:
        copy = "one memory copy between warm buffers (`std::copy`)"
        lines.append(f"| {copy} | {rate / 1e9:.3f} GB/s | {rate / pipe:.2f}× |")
    return lines + ["", target, ""]


def load_inprocess(directory: Path) -> dict:
    """transformers_inprocess.py's JSON, checked for what the Transformers section needs."""
    path = directory / "transformers_inprocess.json"
    if not path.exists():
        sys.exit(f"report: {path} is missing; run scripts/bench.sh first")
    data = json.loads(path.read_text())
    cold, warm = data.get("cold_median", {}), data.get("warm_median", {})
    needed = ("startup_ms", "import_ms", "load_ms", "first_call_ms", "spawn_to_first_ms")
    if not data.get("cold") or any(not cold.get(k, 0) > 0 for k in needed):
        sys.exit(f"report: {path}: no cold start with every phase timed")
    if not data.get("warm") or not warm.get("calls_per_s", 0) > 0:
        sys.exit(f"report: {path}: no warm calls")
    return data


def fnv1a(text: str) -> str:
    """The hash transformers_bench.cpp puts in its labels (FNV-1a 64 of the UTF-8 bytes)."""
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def transformers_section(grouped: dict[str, list[dict]], inproc: dict) -> list[str]:
    cold_name = find(grouped, "BM_TransformersColdStart")
    warm_name = find(grouped, "BM_TransformersGenerate")

    def host(field: str, name: str = cold_name) -> float:
        return median(grouped, name, field)

    py = inproc["cold_median"]
    tokens = inproc["max_new_tokens"]
    host_tokens = host("max_new_tokens", warm_name)
    if host_tokens != tokens:
        sys.exit(f"report: host generated {host_tokens:.0f} tokens a call, in-process {tokens}")
    worker_import = host("worker_import_ms")  # -1: the bridge's "ready in" line was not seen
    labels = {e.get("label", "") for n in (cold_name, warm_name) for e in grouped[n]}
    same_text = labels == {f"text_fnv1a={fnv1a(inproc['text'])}"}
    if not same_text:
        print(
            "report: warning: the host's generated text differs from the in-process one",
            file=sys.stderr,
        )
    py_ready = py["startup_ms"] + py["import_ms"]
    # Per cold start, then the median (the worker's own import time when it logged it).
    rest = statistics.median(
        e["spawn_to_ready_ms"] - (e["worker_import_ms"] if worker_import >= 0 else py["import_ms"])
        for e in grouped[cold_name]
    )

    def row(what: str, through_host: float | None, in_process: float | None) -> str:
        ratio = f"{through_host / in_process:.2f}×" if through_host and in_process else "—"
        cells = [ms(v) if v is not None else "—" for v in (through_host, in_process)]
        return f"| {what} | {cells[0]} | {cells[1]} | {ratio} |"

    cold_rows = [
        row(
            "`Host::start()` → worker spawned (plugin, config, environment check)",
            host("start_to_spawn_ms"),
            None,
        ),
        row(
            "spawn → ready (interpreter, bridge, `import torch, transformers`, init) / "
            "spawn → imports done",
            host("spawn_to_ready_ms"),
            py_ready,
        ),
        row(
            "… of which `import torch, transformers` (worker: its own log, to 0.1 s)",
            worker_import if worker_import >= 0 else None,
            py["import_ms"],
        ),
        row(
            "… the rest (interpreter start-up; host: also the SDK, hello and init)",
            rest,
            py["startup_ms"],
        ),
        row(
            "load the model (`load_model` / tokenizer, model, pipeline)",
            host("load_model_ms"),
            py["load_ms"],
        ),
        row(
            "first generation (`run_pipeline` / `pipeline(...)`)",
            host("first_call_ms"),
            py["first_call_ms"],
        ),
        row("**spawn → first answer**", host("spawn_to_first_ms"), py["spawn_to_first_ms"]),
        row(
            "**`Host::start()` → first answer** / spawn → first answer",
            host("start_to_first_ms"),
            py["spawn_to_first_ms"],
        ),
    ]
    host_rate = host("calls_per_s", warm_name)
    host_tokens_rate = host("tokens_per_s", warm_name)
    py_rate = inproc["warm_median"]["calls_per_s"]
    py_tokens_rate = inproc["warm_median"]["tokens_per_s"]
    overhead = (1 / host_rate - 1 / py_rate) * 1000
    colds = len(grouped[cold_name])
    lines = [
        "## Transformers: cold start and generation throughput",
        "",
        f"`{inproc['model']}` (scripts/build_tiny_models.py) through the host",
        "(`tests/bench/transformers_bench.cpp`: a `plugin: transformers` bridge, one worker) and",
        "called in-process in Python (`tests/bench/transformers_inprocess.py`: the pipeline",
        "built the way the bridge builds it), in the same run: the same prompt",
        f"(`{inproc['prompt']}`), greedy, seed {inproc['seed']},",
        f"`min_new_tokens = max_new_tokens = {tokens}` (every call generates exactly {tokens}",
        f"tokens); torch {inproc['torch']}, transformers {inproc['transformers']},",
        f"{inproc['threads']} torch threads.",
        "",
        f"**Cold start**, medians of {colds} (host) and {len(inproc['cold'])} (in-process) cold",
        "starts. Through the host: `Host::start()` → the worker's spawn (from the host's log) →",
        "ready (`start()` returns) → `load_model` answered → first `run_pipeline` answered. The",
        "worker's import time is what the bridge's `initialize` logs (\"ready in X.Xs\"). In",
        "process: a fresh interpreter spawned → the script runs → `import torch, transformers` →",
        "model loaded → first `pipeline(...)` answer. Transformers imports its pipeline and",
        "model modules lazily, on the first load, so that cost is in *load the model* on both",
        "sides.",
        "",
        "| phase | through the host | in-process Python | host / in-process |",
        "|---|---|---|---|",
        *cold_rows,
        "",
        "**Generation throughput** at concurrency 1 (closed loop; the host of the last cold",
        "start and the interpreter of the in-process one go on after their first call):",
        "",
        "| path | calls/s | tokens/s | ratio to in-process |",
        "|---|---|---|---|",
        f"| in-process Python (`pipeline(...)`) | {py_rate:.2f} | {py_tokens_rate:.1f} | 1.00× |",
        f'| through the host (`Host::execute("run_pipeline")`) | {host_rate:.2f} '
        f"| {host_tokens_rate:.1f} | {host_rate / py_rate:.2f}× |",
        "",
        f"The host adds {overhead:+.1f} ms a call (difference of the mean call times). Same"
        f" generated text on both sides: {'yes' if same_text else '**no**'}.",
    ]
    return lines + [""]


def load_compare(directory: Path) -> dict:
    path = directory / "raw.json"
    if not path.exists():
        sys.exit(f"report: {path} is missing; run scripts/bench.sh first")
    return json.loads(path.read_text())


def header(raw: dict) -> list[str]:
    info = raw["info"]
    machine, versions = info["machine"], info["versions"]
    load = ", ".join(f"{x:.2f}" for x in machine["load_before"])
    load_after = ", ".join(f"{x:.2f}" for x in machine["load_after"])
    return [
        "# Benchmarks",
        "",
        "Generated by `bash scripts/bench.sh` (raw JSON and plots in `docs/bench/`: `raw.json`",
        "for the comparison, the Google Benchmark JSON of `worker_bench` and",
        "`transformers_bench`). mlbridge, its floors and its peers are measured in the same",
        f"run, in {info['rounds']} interleaved rounds of {info['seconds_per_cell']} s per cell;",
        "the figures are medians over the rounds.",
        "",
        "The LLM-bound comparison (DSPy and LangChain programs waiting on a mock LLM, mlbridge",
        "against FastAPI + uvicorn at 64 to 2,048 callers) is on its own page:",
        "[benchmarks-llm.md](benchmarks-llm.md).",
        "",
        f"- date: {info['date']} (the comparison took {info['duration_s']:.0f} s)",
        f"- machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}",
        f"- load average (1, 5, 15 min) before: {load}; after: {load_after}",
        f"- mlbridge: {info.get('preset', 'release')} preset ({versions['c++']}); "
        f"Python {versions['python']}, "
        f"msgpack {versions['msgpack']}",
        f"- peers: FastAPI {versions['fastapi']} on uvicorn {versions['uvicorn']} (uvloop "
        f"{versions['uvloop']}, httptools {versions['httptools']}), Ray {versions['ray']} "
        f"({info['ray']}), pybind11 {versions['pybind11']}",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--check", action="store_true")
    options = parser.parse_args()
    _, entries = load(options.directory)
    failed = [e["name"] for e in entries if e.get("error_occurred")]
    if failed:
        print("benchmarks failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    grouped = runs(entries)
    inproc = load_inprocess(options.directory)
    raw = load_compare(options.directory)
    if options.check:
        problems = compare_report.check(raw)
        compare_report.sections(raw, None)  # the report's code runs too
        ping_section(grouped) + echo_section(grouped) + transformers_section(grouped, inproc)
        if problems:
            print("bench smoke: " + "; ".join(problems), file=sys.stderr)
            return 1
        print(
            f"bench smoke: {len(grouped)} benchmarks and {len(raw['results'])} comparison "
            "results, none failed"
        )
        return 0
    body = (
        compare_report.sections(raw, options.directory)
        + ping_section(grouped)
        + echo_section(grouped)
        + transformers_section(grouped, inproc)
    )
    analysis = options.write.with_suffix(".analysis.md") if options.write else None
    footer = []
    if analysis and analysis.exists():
        footer = ["", analysis.read_text()]
    options.write.write_text("\n".join(header(raw) + body + footer) + "\n")
    print(f"wrote {options.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
