"""The protocol pipes of a concurrent worker, driven by its event loop.

- :class:`FrameInput` splits the input's bytes into frames and hands each to a
  :class:`FrameSink`, on the loop thread. A pipe or socket is watched by the loop itself
  (``connect_read_pipe``); anything else (a regular file, when a worker is run by hand) is
  read by a daemon thread that hands the bytes to the loop.
- :class:`FrameOutput` collects the frames written during one pass of the loop and writes
  them with one non-blocking write (``connect_write_pipe``), in order; a regular file is
  written blocking. Only the loop thread may call it.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import threading
from typing import Protocol

from .framing import HEADER, FrameError, check_length


class FrameSink(Protocol):
    """What the input hands frames and events to (on the loop thread)."""

    stopping: bool
    """True once the worker stops: frames still arriving are dropped."""

    def on_frame(self, frame: bytes | bytearray) -> None:
        """One frame's payload."""

    def on_bad_frame(self, exc: FrameError) -> None:
        """A frame of length 0 or above the limit, or end of input inside a frame."""

    def on_end_of_input(self) -> None:
        """The host closed the input on a frame boundary."""


def is_pipe(fd: int) -> bool:
    """Can an event loop watch ``fd``? Pipes and sockets only (epoll refuses regular files,
    and uvloop aborts the process on them)."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _FrameProtocol(asyncio.Protocol):
    def __init__(self, sink: FrameSink, max_frame_bytes: int) -> None:
        self._sink = sink
        self._buf = bytearray()
        self._limit = max_frame_bytes

    def data_received(self, data: bytes) -> None:
        sink = self._sink
        if sink.stopping:
            return
        buf = self._buf
        if buf:
            buf += data
            data = buf
        size = len(data)
        pos = 0
        unpack = HEADER.unpack_from
        on_frame = sink.on_frame
        while size - pos >= 4:
            length = unpack(data, pos)[0]
            if length == 0 or length > self._limit:
                try:
                    check_length(length, self._limit)
                except FrameError as exc:
                    sink.on_bad_frame(exc)
                return
            end = pos + 4 + length
            if end > size:
                break
            on_frame(data[pos + 4 : end])
            pos = end
            if sink.stopping:
                return
        if data is buf:
            del buf[:pos]
        else:
            self._buf = bytearray(data[pos:]) if pos < size else bytearray()

    def eof_received(self) -> bool:
        if self._buf:
            have = len(self._buf)
            where = "header" if have < 4 else "frame"
            self._sink.on_bad_frame(
                FrameError(f"end of input inside a frame {where} ({have} bytes)")
            )
        else:
            self._sink.on_end_of_input()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._sink.stopping:
            self._sink.on_end_of_input()


class FrameInput:
    """Reads frames from ``fd`` (not owned) for ``sink`` until closed."""

    def __init__(self, sink: FrameSink, fd: int, max_frame_bytes: int) -> None:
        self._protocol = _FrameProtocol(sink, max_frame_bytes)
        self._fd = fd
        self._transport: asyncio.BaseTransport | None = None
        self._closed = False

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading (from the loop's thread)."""
        if not is_pipe(self._fd):
            threading.Thread(
                target=self._read_in_thread, args=(loop,), name="mlbridge-reader", daemon=True
            ).start()
            return
        in_file = os.fdopen(self._fd, "rb", buffering=0, closefd=False)
        self._transport, _ = await loop.connect_read_pipe(lambda: self._protocol, in_file)

    def _read_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        call = loop.call_soon_threadsafe
        while not self._closed:
            data = os.read(self._fd, 1 << 16)
            if not data:
                call(self._protocol.eof_received)
                return
            call(self._protocol.data_received, data)

    def close(self) -> None:
        """Stop reading."""
        self._closed = True
        if self._transport is not None:
            self._transport.close()


class _OutputProtocol(asyncio.Protocol):
    def __init__(self, on_lost: OnLost) -> None:
        self._on_lost = on_lost
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if exc is not None:
            self._on_lost(exc)


class OnLost(Protocol):
    def __call__(self, exc: Exception) -> None: ...


class FrameOutput:
    """Writes frames to ``fd`` (not owned) in order, one write per pass of the loop.

    Loop thread only. Until :meth:`open`, :meth:`flush` writes blocking (the hello).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        max_frame_bytes: int,
        on_lost: OnLost,
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._limit = max_frame_bytes
        self._on_lost = on_lost
        self._out = bytearray()
        self._flush_scheduled = False
        self._transport: asyncio.WriteTransport | None = None
        self._protocol: _OutputProtocol | None = None

    async def open(self) -> None:
        """Write through a non-blocking pipe transport from now on (loop thread)."""
        if not is_pipe(self._fd):
            return  # a regular file: blocking writes, as before
        out_file = os.fdopen(self._fd, "wb", buffering=0, closefd=False)
        self._transport, self._protocol = await self._loop.connect_write_pipe(
            lambda: _OutputProtocol(self._on_lost), out_file
        )

    def append(self, payload: bytes | bytearray | memoryview) -> None:
        """Queue one frame (a codec's sink). Raises :class:`~mlbridge.framing.FrameTooLarge`
        (queuing nothing) for a payload above the limit."""
        length = len(payload)
        check_length(length, self._limit)
        out = self._out
        out += HEADER.pack(length)
        out += payload
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued now."""
        self._flush_scheduled = False
        data = self._out
        if not data:
            return
        self._out = bytearray()  # the transport may keep `data`: never reuse it
        transport = self._transport
        if transport is None:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        elif not transport.is_closing():
            transport.write(data)

    async def close(self, timeout_s: float) -> None:
        """Write what is queued and wait up to ``timeout_s`` for the host to take it."""
        self.flush()
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        transport.close()  # writes what the transport buffered first
        try:
            await asyncio.wait_for(asyncio.shield(protocol.closed), timeout=timeout_s)
        except TimeoutError:
            print("mlbridge: the host did not read the last frames; exiting", file=sys.stderr)
