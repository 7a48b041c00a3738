"""Two builds of mlbridge side by side: the single-host rows of docs/benchmarks.md (floors, the
C++ and HTTP APIs, payloads) measured for a baseline build and a candidate build in the same run,
in interleaved rounds (base, head, then head, base, ...), so the machine's drift falls on both.

    python tests/bench/compare/ab.py --base <baseline>/build/release/bin \
        --head build/release/bin --out ab.json --write ab.md

scripts/bench.sh --against REV builds REV in a worktree and runs this
(docs/benchmarks-against-<REV>.md). Each build is measured
with its own compare_bench, so the row set is the one both drivers share.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare

GROUPS = {
    "floors": compare.floors,
    "api": compare.api,
    "http": compare.http,
    "payload": compare.payload,
}

TOLERANCE = 0.10
"""How far the candidate may fall behind the baseline on a row and still count as level."""


def plan_for(bin_dir: str, options: argparse.Namespace) -> compare.Plan:
    return compare.Plan(
        argparse.Namespace(
            bin=bin_dir,
            smoke=options.smoke,
            seconds=options.seconds,
            rounds=options.rounds,
            no_ray=True,
        )
    )


def row_key(line: dict) -> tuple:
    """What identifies a row across builds and rounds (not its figures)."""
    keys = (
        "kind",
        "system",
        "codec",
        "workers",
        "callers",
        "pipeline_depth",
        "payload",
        "bytes",
    )
    return tuple(line.get(k) for k in keys)


def figure(line: dict) -> tuple[str, float] | None:
    """The row's headline figure and its name: higher is better only for calls/s."""
    if line.get("kind") == "throughput":
        return "calls_per_s", line["calls_per_s"]
    if line.get("kind") in ("latency", "payload"):
        return "median_us", line["median_us"]
    return None


def measure(options: argparse.Namespace) -> dict:
    builds = {
        "base": plan_for(options.base, options),
        "head": plan_for(options.head, options),
    }
    groups = [g for g in options.groups.split(",") if g]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        sys.exit(f"ab: unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    results = []
    started = time.monotonic()
    rounds = 1 if options.smoke else options.rounds
    for round_ in range(rounds):
        order = ["base", "head"] if round_ % 2 == 0 else ["head", "base"]
        for group in groups:
            for build in order:
                t0 = time.monotonic()
                lines = GROUPS[group](builds[build])
                print(
                    f"[ab] round {round_ + 1}/{rounds} {group} {build}: {len(lines)} rows, "
                    f"{time.monotonic() - t0:.1f} s",
                    flush=True,
                )
                results += [dict(line, build=build, group=group, round=round_) for line in lines]
    return {
        "info": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "base": options.base_label or options.base,
            "head": options.head_label or options.head,
            "rounds": rounds,
            "seconds_per_cell": options.seconds,
            "groups": groups,
            "load_before": options.load_before,
            "load_after": os.getloadavg(),
            "duration_s": round(time.monotonic() - started, 1),
        },
        "results": results,
    }


FLOOR = "floor: C++ ↔ Python loop"


def floor_ratios(data: dict) -> dict[tuple, dict[str, float]]:
    """Per latency row and build: the median over rounds of the row's median divided by the
    same round's and build's C++ <-> Python floor of its codec (docs/benchmarks.md's ratio)."""
    floors: dict[tuple, float] = {}
    for line in data["results"]:
        if line.get("kind") == "latency" and line.get("system") == FLOOR:
            floors[(line["build"], line["round"], line["codec"])] = line["median_us"]
    ratios: dict[tuple, dict[str, list[float]]] = {}
    for line in data["results"]:
        floor = floors.get((line["build"], line["round"], line.get("codec")))
        if line.get("kind") != "latency" or not floor:
            continue
        per_build = ratios.setdefault(row_key(line), {"base": [], "head": []})
        per_build[line["build"]].append(line["median_us"] / floor)
    return {
        key: {build: statistics.median(v) for build, v in builds.items() if v}
        for key, builds in ratios.items()
    }


def summarize(data: dict) -> list[dict]:
    """One entry per row both builds have: medians over rounds and the head/base ratio."""
    by_row: dict[tuple, dict[str, list[float]]] = {}
    names: dict[tuple, str] = {}
    for line in data["results"]:
        measured = figure(line)
        if measured is None:
            continue
        key = row_key(line)
        names[key] = measured[0]
        by_row.setdefault(key, {"base": [], "head": []})[line["build"]].append(measured[1])
    to_floor = floor_ratios(data)
    rows = []
    for key, values in by_row.items():
        if not values["base"] or not values["head"]:
            continue
        base, head = (
            statistics.median(values["base"]),
            statistics.median(values["head"]),
        )
        higher_is_better = names[key] == "calls_per_s"
        # How much worse the head is: >1 means slower (or fewer calls/s).
        worse = (base / head if head else float("inf")) if higher_is_better else head / base
        rows.append(
            {
                "key": dict(
                    zip(
                        (
                            "kind",
                            "system",
                            "codec",
                            "workers",
                            "callers",
                            "depth",
                            "payload",
                            "bytes",
                        ),
                        key,
                        strict=True,
                    )
                ),
                "figure": names[key],
                "base": base,
                "head": head,
                "spread_base": (min(values["base"]), max(values["base"])),
                "spread_head": (min(values["head"]), max(values["head"])),
                "worse": worse,
                "to_floor": to_floor.get(key, {}),
            }
        )
    return rows


def label(key: dict) -> str:
    parts = [key["system"]]
    for name in ("codec", "payload"):
        if key.get(name):
            parts.append(str(key[name]))
    if key.get("bytes"):
        parts.append(f"{key['bytes']:,} B")
    if key.get("workers") is not None:
        parts.append(f"{key['workers']} worker(s)")
    if key.get("callers") is not None:
        parts.append(f"{key['callers']} caller(s)")
    if key.get("depth") and key["depth"] != 1:
        parts.append(f"depth {key['depth']}")
    return ", ".join(parts)


def ratio(to_floor: dict[str, float], build: str) -> str:
    return f"{to_floor[build]:.2f}×" if build in to_floor else "–"


def fmt(value: float, name: str) -> str:
    return f"{value:,.0f} calls/s" if name == "calls_per_s" else f"{value:,.1f} µs"


def report(data: dict) -> str:
    info = data["info"]
    rows = summarize(data)
    mlbridge = [r for r in rows if r["key"]["system"].startswith("mlbridge")]
    level = [r for r in mlbridge if r["worse"] <= 1 + TOLERANCE]
    geo = statistics.geometric_mean([r["worse"] for r in mlbridge]) if mlbridge else float("nan")
    out = [
        "# Benchmarks: two builds side by side",
        "",
        (
            "Generated by `bash scripts/bench.sh --against REV` (tests/bench/compare/ab.py): "
            "the single-host rows of [benchmarks.md](benchmarks.md) measured for a baseline "
            f"build and a candidate build in the same run, {info['rounds']} interleaved rounds "
            f"of {info['seconds_per_cell']} s per cell (the order of the builds alternates "
            "every round)."
        ),
        (
            "Figures are medians over the rounds; *worse* is head/base for times and base/head for "
            "calls/s, so above 1.00 the candidate is slower. *÷ floor* is a latency row's median "
            "over its round's C++ ↔ Python floor of the same codec, measured by the same build "
            "(the ratio docs/benchmarks.md reports)."
        ),
        "",
        f"- date: {info['date']} (took {info['duration_s']} s)",
        f"- base: {info['base']}",
        f"- head: {info['head']}",
        (
            f"- load average before: {', '.join(f'{v:.2f}' for v in info['load_before'])}; after: "
            f"{', '.join(f'{v:.2f}' for v in info['load_after'])}"
        ),
        "",
        "## Verdict",
        "",
        (
            f"- mlbridge rows within {TOLERANCE:.0%} of the baseline (or better): "
            f"{len(level)} of {len(mlbridge)}"
        ),
        f"- geometric mean of *worse* over the mlbridge rows: {geo:.3f}",
    ]
    behind = [r for r in mlbridge if r["worse"] > 1 + TOLERANCE]
    if behind:
        out.append(
            "- rows more than 10% behind: "
            + "; ".join(f"{label(r['key'])} ({r['worse']:.2f}×)" for r in behind)
        )
    out += [
        "",
        "## All rows",
        "",
        (
            "| row | figure | base | head | worse | base ÷ floor | head ÷ floor | base range "
            "| head range |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["key"]["kind"], label(r["key"]))):
        name = r["figure"]
        out.append(
            f"| {label(r['key'])} | {r['key']['kind']} | {fmt(r['base'], name)} | "
            f"{fmt(r['head'], name)} | {r['worse']:.2f}× | "
            f"{ratio(r['to_floor'], 'base')} | {ratio(r['to_floor'], 'head')} | "
            f"{fmt(r['spread_base'][0], name)} – {fmt(r['spread_base'][1], name)} | "
            f"{fmt(r['spread_head'][0], name)} – {fmt(r['spread_head'][1], name)} |"
        )
    return "\n".join(out) + "\n"


def git_label(bin_dir: str) -> str:
    """`<commit> <subject>` of the checkout a build/<preset>/bin belongs to."""
    tree = Path(bin_dir).resolve().parent.parent.parent
    try:
        return subprocess.run(
            ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()[:100]
    except (OSError, subprocess.CalledProcessError):
        return bin_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the baseline's build/<preset>/bin")
    parser.add_argument("--head", help="the candidate's build/<preset>/bin")
    parser.add_argument("--out", type=Path, help="the raw JSON to write")
    parser.add_argument("--from", dest="source", type=Path, help="only report this raw JSON")
    parser.add_argument("--write", type=Path, help="the Markdown report to write")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.8, help="per measured cell")
    parser.add_argument("--groups", default="floors,api,http,payload")
    parser.add_argument("--smoke", action="store_true", help="one short round, checks it runs")
    options = parser.parse_args()
    if options.source:
        text = report(json.loads(options.source.read_text()))
        if options.write:
            options.write.write_text(text)
        else:
            print(text)
        return 0
    if not (options.base and options.head and options.out):
        parser.error("--base, --head and --out are needed (or --from a raw JSON)")
    for name in ("base", "head"):
        if not (Path(getattr(options, name)) / "compare_bench").exists():
            sys.exit(f"ab: no compare_bench in --{name} {getattr(options, name)}: build it first")
    options.base_label = git_label(options.base)
    options.head_label = git_label(options.head)
    options.load_before = os.getloadavg()
    data = measure(options)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(data, indent=1) + "\n")
    text = report(data)
    if options.write:
        options.write.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
