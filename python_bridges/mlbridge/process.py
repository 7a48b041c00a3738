"""The worker process's own plumbing: protocol file descriptors and memory figures."""

from __future__ import annotations

import os
import sys


def rss_bytes() -> int | None:
    """The resident set size of this process, from ``/proc/self/statm`` (Linux)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


_protocol_fds: tuple[int, int] | None = None


def protect_stdio() -> tuple[int, int]:
    """Move the protocol off fds 0 and 1; return ``(input fd, output fd)``.

    The private duplicates are not inherited by child processes. Afterwards fd 1
    and a new line-buffered ``sys.stdout`` write to stderr, and fd 0 reads
    ``/dev/null``. ``main()`` calls this first; a bridge script whose imports print
    to stdout calls it before those imports. Later calls return the same fds.
    """
    global _protocol_fds
    if _protocol_fds is not None:
        return _protocol_fds
    out_fd = os.dup(1)
    in_fd = os.dup(0)
    os.dup2(2, 1)
    try:  # text printed earlier and still buffered now goes to stderr too
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):
        pass
    null_fd = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null_fd, 0)
    finally:
        os.close(null_fd)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout = open(  # lives as long as the process
        1, "w", buffering=1, encoding=encoding, errors="backslashreplace", closefd=False
    )
    _protocol_fds = (in_fd, out_fd)
    return _protocol_fds
