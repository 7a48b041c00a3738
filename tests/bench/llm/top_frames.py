"""Summarise py-spy's collapsed stacks (``--format raw``): where the samples went.

    python tests/bench/llm/top_frames.py worker.txt [--top 40] [--match dspy/] [--calls N]

Prints, per function (``name (file)``, line numbers dropped), the share of all samples in
which it is on the stack (inclusive) and at the top (self). With ``--calls N`` (the calls
that ended in the sampled window) and ``--cpu-ms M`` (the process's CPU per call), each
share is also shown as milliseconds of CPU per call.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (to/file.py)``: one row per function."""
    frame = _LINE.sub(")", frame.strip())
    name, _, where = frame.partition(" (")
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if where else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only functions whose row contains this")
    parser.add_argument("--cpu-ms", type=float, help="the process's CPU ms per call")
    parser.add_argument("--self", action="store_true", help="sort by self instead of inclusive")
    options = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    with open(options.stacks) as stacks:
        for line in stacks:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            samples = int(count)
            total += samples
            frames = [frame_name(f) for f in stack.split(";") if f and not f.startswith("thread")]
            for name in set(frames):
                inclusive[name] += samples
            if frames:
                own[frames[-1]] += samples
    ranked = own if options.self else inclusive
    print(f"{total} samples")
    shown = 0
    for name, samples in ranked.most_common():
        if options.match not in name:
            continue
        share = samples / total
        ms = f" {share * options.cpu_ms:6.2f} ms" if options.cpu_ms else ""
        print(
            f"{100 * share:5.1f}% incl {100 * inclusive[name] / total:5.1f}% "
            f"self {100 * own[name] / total:5.1f}%{ms}  {name}"
        )
        shown += 1
        if shown >= options.top:
            break


if __name__ == "__main__":
    main()
