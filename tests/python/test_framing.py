"""Unit tests of mlbridge.framing over real pipes."""

from __future__ import annotations

import os
import re
import struct
import threading

import pytest

from mlbridge.framing import (
    DEFAULT_MAX_FRAME_BYTES,
    FrameError,
    FrameReader,
    FrameTooLarge,
    FrameWriter,
)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def feed(write_fd: int, data: bytes, pieces: int = 1, close: bool = True) -> threading.Thread:
    """Write ``data`` in ``pieces`` writes from a thread (so big data cannot block the test)."""

    def run() -> None:
        step = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), step):
            view = memoryview(data)[start : start + step]
            while view:
                view = view[os.write(write_fd, view) :]
        if close:
            os.close(write_fd)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_several_frames_in_one_read_then_clean_end(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    os.write(write_fd, frame(b"one") + frame(b"two") + frame(b"three"))
    os.close(write_fd)
    reader = FrameReader(read_fd)
    assert [reader.read_frame() for _ in range(3)] == [b"one", b"two", b"three"]
    assert reader.read_frame() is None
    assert reader.read_frame() is None


def test_frame_delivered_one_byte_at_a_time(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    data = frame(b"hello") + frame(b"x" * 300)
    thread = feed(write_fd, data, pieces=len(data))
    reader = FrameReader(read_fd)
    assert reader.read_frame() == b"hello"
    assert reader.read_frame() == b"x" * 300
    assert reader.read_frame() is None
    thread.join(5)


def test_large_frame_is_read_whole(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    payload = os.urandom(1024) * 3000  # ~3 MiB, far beyond one read
    thread = feed(write_fd, frame(payload) + frame(b"after"), pieces=7)
    reader = FrameReader(read_fd)
    got = reader.read_frame()
    assert len(got) == len(payload) and got == payload
    assert reader.read_frame() == b"after"
    assert reader.read_frame() is None
    thread.join(5)


def test_large_frames_of_other_sizes_reuse_the_buffer_without_stale_bytes(
    pipe: tuple[int, int],
) -> None:
    read_fd, write_fd = pipe
    big, smaller, biggest = (
        bytes([n]) * size for n, size in ((1, 300_000), (2, 200_000), (3, 500_000))
    )
    thread = feed(write_fd, frame(big) + frame(smaller) + frame(biggest), pieces=11)
    reader = FrameReader(read_fd)
    first = reader.read_frame()
    assert first == big
    second = reader.read_frame()  # the same buffer, shorter: only its own bytes
    assert second == smaller and len(second) == len(smaller)
    third = reader.read_frame()  # larger than the buffer while `second` still views it
    assert third == biggest
    assert second == smaller  # the old buffer was replaced, not resized under the view
    thread.join(5)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "inside a frame header"),
        (struct.pack(">I", 10) + b"abc", "inside a frame (3 of 10"),
        (struct.pack(">I", 0), "zero-length"),
    ],
)
def test_bad_input_is_a_frame_error(pipe: tuple[int, int], data: bytes, message: str) -> None:
    read_fd, write_fd = pipe
    os.write(write_fd, data)
    os.close(write_fd)
    with pytest.raises(FrameError, match=re.escape(message)):
        FrameReader(read_fd).read_frame()


def test_oversize_length_is_rejected_before_reading_it(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    os.write(write_fd, struct.pack(">I", 101))  # no payload follows: must not wait for it
    with pytest.raises(FrameTooLarge) as caught:
        FrameReader(read_fd, max_frame_bytes=100).read_frame()
    assert (caught.value.length, caught.value.limit) == (101, 100)
    assert DEFAULT_MAX_FRAME_BYTES == 64 * 1024 * 1024


def test_writer_writes_header_and_payload(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    writer = FrameWriter(write_fd)
    writer.write(b"abc")
    writer.write(memoryview(b"defg"))
    writer.write(bytearray(b"h"))
    assert os.read(read_fd, 100) == frame(b"abc") + frame(b"defg") + frame(b"h")


def test_writer_large_payload_round_trips(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    payload = bytes(range(256)) * (16 * 4096)  # 16 MiB, needs many partial writes
    received: list[bytes | bytearray | None] = []
    thread = threading.Thread(
        target=lambda: received.append(FrameReader(read_fd).read_frame()), daemon=True
    )
    thread.start()
    FrameWriter(write_fd).write(memoryview(payload))
    thread.join(10)
    assert received and received[0] == payload


def test_writer_rejects_empty_and_oversize(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    writer = FrameWriter(write_fd, max_frame_bytes=10)
    with pytest.raises(FrameError, match="zero-length"):
        writer.write(b"")
    with pytest.raises(FrameTooLarge):
        writer.write(b"x" * 11)
    writer.write(b"x" * 10)
    assert os.read(read_fd, 100) == frame(b"x" * 10)  # nothing of the rejected ones
