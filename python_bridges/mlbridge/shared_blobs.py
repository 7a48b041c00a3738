"""Large bytes through shared memory instead of the pipe (MessagePack workers only).

The host creates one memfd per direction, lets the worker inherit them and names them in
``MLBRIDGE_SHARED_BLOBS`` (``IN_FD,OUT_FD,MIN_BYTES,MAX_FILE_BYTES``). A bytes value of at
least ``MIN_BYTES`` then travels as a MessagePack ext of type 77 holding its sequence
number, offset and length (three unsigned 64-bit big-endian integers), and the bytes
themselves are copied once into and once out of the shared file. The worker says it
mapped both files with ``"shared_blobs": true`` in its hello; without that, the host sends
every byte inline. The layout and the rules are those of the host's
``mlbridge/protocol/shared_blobs.hpp``:

- the first 8 bytes of each file (native byte order) count the blobs its consumer has
  copied out; blobs start at byte 64, each at a 64-byte aligned offset;
- the producer appends while the consumer is behind and starts again at byte 64 once it
  has caught up; it grows the file as needed, up to ``MAX_FILE_BYTES`` (past that, inline);
- the consumer takes blobs in sequence order and refuses anything else.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
from typing import Any

from .framing import FrameTooLarge

EXT_TYPE = 77
ENV_NAME = "MLBRIDGE_SHARED_BLOBS"
HEADER_BYTES = 64
_ALIGNMENT = 64
_GROWTH_STEP = 1 << 20
_REFERENCE = struct.Struct(">QQQ")
_COUNTER = struct.Struct("=Q")


def _round_up(value: int, step: int) -> int:
    return (value + step - 1) // step * step


class SharedFile:
    """One direction: the producer's or the consumer's view of one inherited memfd."""

    def __init__(self, fd: int, max_file_bytes: int) -> None:
        self._fd = fd
        self._max = max_file_bytes
        self._map = self._map_file()
        self._sequence = 0  # last blob stored or taken
        self._next = HEADER_BYTES

    def _map_file(self) -> mmap.mmap:
        size = os.fstat(self._fd).st_size
        if size < HEADER_BYTES:
            raise ValueError(f"shared file of {size} bytes is smaller than its header")
        return mmap.mmap(self._fd, size)

    def _ensure(self, end: int) -> None:
        if end > len(self._map):
            self._map.close()
            self._map = self._map_file()

    def take(self, reference: bytes, max_bytes: int) -> bytes:
        """Consumer: the bytes ``reference`` names; raises ``ValueError`` on a bad one."""
        if len(reference) != _REFERENCE.size:
            raise ValueError(f"shared-memory reference of {len(reference)} bytes")
        sequence, offset, length = _REFERENCE.unpack(reference)
        if sequence != self._sequence + 1:
            raise ValueError(
                f"shared-memory reference number {sequence} where {self._sequence + 1} was next"
            )
        if length > max_bytes:
            raise ValueError(f"shared-memory reference to {length} bytes, over {max_bytes}")
        end = offset + length
        if offset < HEADER_BYTES or end > self._max:
            raise ValueError(f"shared-memory reference outside the file ({offset}+{length})")
        self._ensure(end)
        if end > len(self._map):
            raise ValueError(f"shared-memory reference ends at {end} of {len(self._map)} bytes")
        data = self._map[offset:end]
        self._sequence = sequence
        _COUNTER.pack_into(self._map, 0, sequence)
        return data

    def mark(self) -> tuple[int, int]:
        """Producer: the position before a store, for :meth:`rollback`."""
        return self._sequence, self._next

    def rollback(self, mark: tuple[int, int]) -> None:
        """Producer: forget the stores since ``mark`` (their frame was never sent)."""
        self._sequence, self._next = mark

    def store(self, data: bytes | bytearray | memoryview) -> Any:
        """Producer: an ext reference to a copy of ``data``; None when it must go inline."""
        caught_up = _COUNTER.unpack_from(self._map, 0)[0]
        if caught_up > self._sequence:
            return None
        if caught_up == self._sequence:
            self._next = HEADER_BYTES
        view = memoryview(data)
        if not view.c_contiguous:
            return None
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        length = view.nbytes
        offset = _round_up(self._next, _ALIGNMENT)
        end = offset + length
        if end > self._max:
            return None
        if end > len(self._map):
            try:
                if end > os.fstat(self._fd).st_size:
                    os.ftruncate(self._fd, min(self._max, _round_up(end, _GROWTH_STEP)))
                self._ensure(end)
            except OSError:
                return None
        self._map[offset:end] = view
        self._sequence += 1
        self._next = end
        import msgpack

        return msgpack.ExtType(EXT_TYPE, _REFERENCE.pack(self._sequence, offset, length))


def _byte_range(low: bytes, high: bytes) -> bytes:
    """A regular expression for the byte strings ``s`` of ``len(low)`` bytes with
    ``low <= s <= high`` (big-endian order, i.e. as unsigned integers)."""
    if low == b"\x00" * len(low) and high == b"\xff" * len(high):
        return b"." * len(low)  # any bytes (also the empty string)
    rest = len(low) - 1
    if low[0] == high[0]:
        return b"\\x%02x" % low[0] + _byte_range(low[1:], high[1:])
    parts = [b"\\x%02x" % low[0] + _byte_range(low[1:], b"\xff" * rest)]
    if high[0] - low[0] > 1:
        parts.append(b"[\\x%02x-\\x%02x]" % (low[0] + 1, high[0] - 1) + b"." * rest)
    parts.append(b"\\x%02x" % high[0] + _byte_range(b"\x00" * rest, high[1:]))
    return b"(?:" + b"|".join(parts) + b")"


# MessagePack's bin headers: marker, bytes of the length, the largest length it holds.
_BIN_HEADERS = ((0xC4, 1, 0xFF), (0xC5, 2, 0xFFFF), (0xC6, 4, 0xFFFFFFFF))
_LENGTH_BYTES = {marker: size for marker, size, _ in _BIN_HEADERS}


def _bin_header_pattern(min_bytes: int, max_bytes: int) -> re.Pattern[bytes] | None:
    """Matches the marker of every bin header whose length is within [min_bytes, max_bytes]
    (and, as any byte search over packed data does, bytes inside other values that look like
    one); None when no bin header can have such a length.

    Each match is the marker alone, the length a lookahead, so that matches may overlap: a
    false one must not hide a real header that starts inside its length.
    """
    alternatives = []
    for marker, size, largest in _BIN_HEADERS:
        low, high = max(min_bytes, 0), min(max_bytes, largest)
        if low <= high:
            length = _byte_range(low.to_bytes(size, "big"), high.to_bytes(size, "big"))
            alternatives.append(b"\\x%02x(?=%b)" % (marker, length))
    if not alternatives:
        return None
    return re.compile(b"|".join(alternatives), re.DOTALL)


class SharedBlobs:
    """Both directions, and the walk that moves large bytes of a result out."""

    def __init__(self, inbound: SharedFile, outbound: SharedFile, min_bytes: int, limit: int):
        self.inbound = inbound
        self.outbound = outbound
        self.min_bytes = min_bytes
        self.limit = limit
        self._moved = 0  # bytes moved by the current move_result
        self._bin_header = _bin_header_pattern(min_bytes, limit)

    def may_move(self, packed: bytes | bytearray | memoryview) -> bool:
        """False when MessagePack ``packed`` certainly holds no bytes value that
        :meth:`move_result` would move (none of at least ``min_bytes``), so the walk can be
        skipped; True when it may.

        A byte search, no decoding: the payload must be at least ``min_bytes`` long and hold
        a bin header whose length lies between ``min_bytes`` and both the frame limit and the
        bytes that follow it. Every large bin has one, so there are no false negatives; a
        float or a string can hold the same bytes, so there are (rare) false positives.
        """
        size = len(packed)
        pattern = self._bin_header
        if size < self.min_bytes or pattern is None:
            return False
        for match in pattern.finditer(packed):
            at = match.start()
            header = 1 + _LENGTH_BYTES[packed[at]]
            length = int.from_bytes(packed[at + 1 : at + header], "big")
            if length <= size - at - header:
                return True
        return False

    def ext_hook(self, code: int, data: bytes) -> Any:
        """``msgpack.unpackb``'s ext_hook: references become bytes, other exts stay."""
        if code == EXT_TYPE:
            return self.inbound.take(data, self.limit)
        import msgpack

        return msgpack.ExtType(code, data)

    def move_result(self, result: Any) -> Any:
        """``result`` with its large bytes in shared memory; undone if they pass the limit.

        The frame limit covers moved bytes as if they were inline: raises
        :class:`FrameTooLarge` (and stores nothing) when they add up to more.
        """
        mark = self.outbound.mark()
        self._moved = 0
        moved = self.move_out(result)
        if self._moved > self.limit:
            self.outbound.rollback(mark)
            raise FrameTooLarge(self._moved, self.limit)
        return moved

    def move_out(self, value: Any) -> Any:
        """``value`` with its large bytes replaced by references; never changes ``value``.

        Containers are copied only where something inside them moved, so a small result
        costs one pass over it and no allocation.
        """
        kind = type(value)
        if kind is bytes or kind is bytearray or kind is memoryview:
            size = memoryview(value).nbytes
            if size >= self.min_bytes:
                reference = self.outbound.store(value)
                if reference is not None:
                    self._moved += size
                    return reference
            return value
        if kind is dict:
            moved = None
            for key, item in value.items():
                if type(item) in _WALKED:
                    new = self.move_out(item)
                    if new is not item:
                        if moved is None:
                            moved = dict(value)
                        moved[key] = new
            return value if moved is None else moved
        if kind is list or kind is tuple:
            items = None
            for index, item in enumerate(value):
                if type(item) in _WALKED:
                    new = self.move_out(item)
                    if new is not item:
                        if items is None:
                            items = list(value)
                        items[index] = new
            return value if items is None else items
        return value


_WALKED = frozenset({bytes, bytearray, memoryview, dict, list, tuple})


def attach_from_environment(max_frame_bytes: int) -> SharedBlobs | None:
    """The shared files the host passed, or None (with a note on stderr if they are unusable).

    Removes the variable and makes the descriptors non-inheritable, so processes a
    handler starts neither see nor keep them.
    """
    spec = os.environ.pop(ENV_NAME, None)
    if not spec:
        return None
    try:
        in_fd, out_fd, min_bytes, max_file_bytes = (int(part) for part in spec.split(","))
        # A spawner that did not pass the files on leaves other descriptors (or none) there:
        # never map, let alone write to, anything but the host's memfds.
        for fd, name in ((in_fd, "/memfd:mlbridge-to-"), (out_fd, "/memfd:mlbridge-from-")):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if not target.startswith(name):
                raise ValueError(f"fd {fd} is {target!r}, not the host's shared file")
            os.set_inheritable(fd, False)
        inbound = SharedFile(in_fd, max_file_bytes)
        outbound = SharedFile(out_fd, max_file_bytes)
    except (ValueError, OSError) as exc:
        print(
            f"mlbridge: large bytes go through the pipe: {ENV_NAME}={spec!r}: {exc}",
            file=sys.stderr,
        )
        return None
    return SharedBlobs(inbound, outbound, max(1, min_bytes), max_frame_bytes)
