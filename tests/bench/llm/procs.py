"""Processes of the LLM-bound benchmark: start, wait for, stop, and measure (CPU, RSS).

Linux only (``/proc``). Every process started here is in its own process group, stopped by
its own id (SIGTERM, then SIGKILL after a grace period), never by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def children_of(pid: int) -> list[int]:
    """Every descendant of ``pid`` (not ``pid`` itself), found through ``/proc/*/stat``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == current]
        found.extend(kids)
        frontier.extend(kids)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (0 when it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * PAGE_KIB / 1024


@dataclass
class Group:
    """A named set of processes measured together (the host, the workers, the mock ...)."""

    name: str
    pids: list[int] = field(default_factory=list)

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss(self) -> float:
        return sum(rss_mib(pid) for pid in self.pids)


class Started:
    """A child process in its own process group; ``stop()`` ends the group."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, **kwargs) -> None:
        self.argv = argv
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed commands
            argv,
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def first_line(self, timeout_s: float) -> str:
        """The child's first stdout line (its "listening on ..." line)."""
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        buffer = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.argv[0]} exited with {self.process.returncode} before it was ready"
                )
            chunk = self.process.stdout.readline()
            buffer += chunk or ""
            if buffer.endswith("\n"):
                return buffer.strip()
            time.sleep(0.05)
        raise RuntimeError(f"{' '.join(self.argv[:3])}: no first line within {timeout_s:.0f} s")

    def stop(self, grace_s: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
