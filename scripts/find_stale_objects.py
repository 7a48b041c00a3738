#!/usr/bin/env python3
"""Finds objects in a Ninja build tree that were compiled while one of their inputs changed.

Ninja (1.11, Debian 12's) decides what to rebuild by comparing an output's recorded mtime with
its inputs' mtimes. A header that changes *while* a file that includes it is compiling (a
`git merge` or checkout during a build) is older than the object written a moment later, so
Ninja never rebuilds that object: it keeps the old header's layout for good. Two objects of one
binary then disagree about a type, an ODR violation no compiler or linker reports. This is what
made a TSan `mlbridge serve` die at start loading the dspy plugin: c_adapter.cpp.o had been
compiled against an mlbridge::Error without `retry_after` (208 bytes, the variant's index at
offset 0xd0), plugin_loader.cpp.o against the new one (0xe0), so a Result<mlbridge_plugin_v1>
built in one read as garbage in the other (std::bad_variant_access in `check`, a SEGV with no
stack in `serve`).

For each output in <build>/.ninja_log, this estimates when its command started (recorded mtime
minus the command's duration, less a little slack) and reports each of its depfile inputs
(`ninja -t deps`) whose mtime falls between that start and the recorded mtime. Inputs changed
after the recorded mtime are not reported: Ninja rebuilds those itself. The estimate errs early,
never late (by as long as Ninja took to see the compiler exit after it wrote the object: up to
a second on a loaded machine), so it may name an object that is fine, which costs one
recompile, but not miss one that is stale, which costs a miscompiled binary.

Usage:
  scripts/find_stale_objects.py BUILD_DIR...            list them; exit 1 when there are any
  scripts/find_stale_objects.py --delete BUILD_DIR...   also delete them, so the next build
                                                        compiles them again
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# How much later than the real start the estimate may fall: the log's durations are whole
# milliseconds, and the output's mtime (taken when the compiler closes it) precedes the end
# Ninja records. Later, never earlier, so a few milliseconds of slack miss nothing.
START_SLACK_NS = 20_000_000


@dataclass(frozen=True)
class LogEntry:
    """One command of .ninja_log: its duration and the mtime Ninja recorded for its output."""

    duration_ms: int
    recorded_mtime_ns: int


@dataclass(frozen=True)
class StaleOutput:
    """An output whose input changed while its command ran."""

    output: str
    changed_inputs: list[str]


def read_ninja_log(build_dir: Path) -> dict[str, LogEntry]:
    """The latest entry of each output in build_dir/.ninja_log (format v5 or v6)."""
    log = build_dir / ".ninja_log"
    entries: dict[str, LogEntry] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 4:
            continue
        start_ms, end_ms, mtime_ns, output = fields[:4]
        entries[output] = LogEntry(int(end_ms) - int(start_ms), int(mtime_ns))
    return entries


def read_deps(build_dir: Path) -> dict[str, list[str]]:
    """Each output's depfile inputs, as `ninja -t deps` prints them."""
    listing = subprocess.run(
        ["ninja", "-C", str(build_dir), "-t", "deps"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    deps: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in listing.splitlines():
        if line.startswith("    "):
            if current is not None:
                current.append(line.strip())
        elif ": #deps " in line:
            current = deps.setdefault(line.split(": #deps ", 1)[0], [])
        else:
            current = None
    return deps


def mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def find_stale(build_dir: Path) -> list[StaleOutput]:
    """The outputs of build_dir that an input changed under while their command ran."""
    log = read_ninja_log(build_dir)
    stale = []
    for output, inputs in sorted(read_deps(build_dir).items()):
        entry = log.get(output)
        if entry is None:
            continue
        started_ns = entry.recorded_mtime_ns - entry.duration_ms * 1_000_000 - START_SLACK_NS
        changed = []
        for name in inputs:
            changed_ns = mtime_ns(build_dir / name)
            if changed_ns is not None and started_ns < changed_ns <= entry.recorded_mtime_ns:
                changed.append(name)
        if changed:
            stale.append(StaleOutput(output, changed))
    return stale


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dirs", nargs="+", type=Path, metavar="BUILD_DIR")
    parser.add_argument(
        "--delete", action="store_true", help="delete them, so the next build compiles them again"
    )
    args = parser.parse_args(argv)
    found = 0
    for build_dir in args.build_dirs:
        if not (build_dir / ".ninja_log").is_file():
            print(f"{build_dir}: no .ninja_log (not a Ninja build tree, or never built)")
            return 2
        for stale in find_stale(build_dir):
            found += 1
            print(
                f"{build_dir / stale.output}: compiled while these changed (Ninja will not "
                f"rebuild it): {', '.join(stale.changed_inputs)}"
            )
            if args.delete:
                (build_dir / stale.output).unlink(missing_ok=True)
    if found and not args.delete:
        print(f"{found} stale output(s): rerun with --delete, then build again", file=sys.stderr)
    return 1 if found and not args.delete else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
