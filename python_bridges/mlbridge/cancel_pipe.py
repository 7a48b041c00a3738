"""The cancel pipe: which request a SIGINT from the host is meant for.

A host that writes a request to a worker while another one runs there (pipelining,
``pool.pipeline_depth``) passes the read end of a pipe and names it in
``MLBRIDGE_CANCEL_FD``. To cancel a request it writes the request's id (8 bytes,
unsigned big-endian; one write, so it arrives whole) and then sends SIGINT. The
SIGINT handler reads every id waiting in the pipe:

- the running request's id interrupts its handler (``KeyboardInterrupt``);
- any other id marks a request that waits in stdin: the serving loop answers it
  ``Cancelled`` when it gets there, without running its handler.

Without the pipe, SIGINT always means the running request, as in protocol version 1.
"""

from __future__ import annotations

import os
import struct
import sys

ENV_NAME = "MLBRIDGE_CANCEL_FD"
_ID = struct.Struct(">Q")
_READ_BYTES = 8 * 512  # a multiple of 8: every read returns whole ids


def attach_from_environment() -> int | None:
    """The cancel pipe's descriptor (non-blocking, non-inheritable), or None.

    Removes the variable, so processes a handler starts do not see it. A descriptor
    that is not a pipe (a spawner that did not pass it on) is never read.
    """
    spec = os.environ.pop(ENV_NAME, None)
    if not spec:
        return None
    try:
        fd = int(spec)
        target = os.readlink(f"/proc/self/fd/{fd}")
        if not target.startswith("pipe:"):
            raise ValueError(f"fd {fd} is {target!r}, not a pipe")
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)
    except (ValueError, OSError) as exc:
        print(
            f"mlbridge: serving one request at a time: {ENV_NAME}={spec!r}: {exc}",
            file=sys.stderr,
        )
        return None
    return fd


def read_cancelled(fd: int, into: set[int]) -> None:
    """Add every id waiting in the pipe to ``into``; never blocks."""
    while True:
        try:
            data = os.read(fd, _READ_BYTES)
        except BlockingIOError:
            return
        except InterruptedError:
            continue
        if not data:  # the host closed its end
            return
        into.update(request_id for (request_id,) in _ID.iter_unpack(data))


def forget_older(cancelled: set[int], request_id: object) -> None:
    """Drop ids below ``request_id``: cancels that came after their request had ended.

    Ids grow with every request on a connection, so such an id can never match again.
    """
    if not isinstance(request_id, int):
        return
    for stale in tuple(cancelled):  # a snapshot: the SIGINT handler may add meanwhile
        if stale < request_id:
            cancelled.discard(stale)
