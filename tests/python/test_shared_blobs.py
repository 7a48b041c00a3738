"""Unit tests of mlbridge.shared_blobs: large bytes through a memfd, as host and worker do."""

from __future__ import annotations

import os

import msgpack
import pytest

from mlbridge.codec import MsgpackCodec
from mlbridge.framing import FrameTooLarge
from mlbridge.shared_blobs import (
    ENV_NAME,
    EXT_TYPE,
    HEADER_BYTES,
    SharedBlobs,
    SharedFile,
    attach_from_environment,
)

BOUND = 16 << 20


def _memfd(name: str = "test-shared-blobs") -> int:
    fd = os.memfd_create(name)
    os.ftruncate(fd, HEADER_BYTES)
    return fd


@pytest.fixture
def pair() -> tuple[SharedFile, SharedFile]:
    """A producer and a consumer of one file (each side of a pipe in real use)."""
    fd = _memfd()
    return SharedFile(fd, BOUND), SharedFile(os.dup(fd), BOUND)


def _offset(reference: msgpack.ExtType) -> int:
    return int.from_bytes(reference.data[8:16], "big")


def test_bytes_come_out_as_they_went_in_and_space_is_reused_once_taken(pair) -> None:
    producer, consumer = pair
    data = os.urandom(3 << 20)
    reference = producer.store(data)
    assert reference.code == EXT_TYPE
    assert consumer.take(reference.data, BOUND) == data
    again = producer.store(b"x" * 100)
    assert _offset(again) == _offset(reference) == HEADER_BYTES


def test_while_the_consumer_is_behind_the_producer_appends(pair) -> None:
    producer, consumer = pair
    first, second = os.urandom(2 << 20), os.urandom(3 << 20)
    ref_first, ref_second = producer.store(first), producer.store(second)
    assert _offset(ref_second) >= _offset(ref_first) + len(first)
    assert consumer.take(ref_first.data, BOUND) == first
    assert consumer.take(ref_second.data, BOUND) == second


def test_the_consumer_refuses_bad_references(pair) -> None:
    producer, consumer = pair
    producer.store(b"a" * 10)
    second = producer.store(b"b" * 10)
    with pytest.raises(ValueError, match="number 2 where 1 was next"):
        consumer.take(second.data, BOUND)
    with pytest.raises(ValueError, match="of 5 bytes"):
        consumer.take(b"12345", BOUND)


def test_bytes_past_the_bound_stay_inline() -> None:
    producer = SharedFile(_memfd(), 1 << 20)
    assert producer.store(b"z" * (2 << 20)) is None


def _blobs(limit: int = BOUND) -> tuple[SharedBlobs, SharedFile]:
    """Worker-side blobs whose outbound file the returned SharedFile consumes."""
    out_fd = _memfd()
    blobs = SharedBlobs(SharedFile(_memfd(), BOUND), SharedFile(out_fd, BOUND), 1 << 20, limit)
    return blobs, SharedFile(os.dup(out_fd), BOUND)


def test_move_out_copies_only_containers_that_change() -> None:
    blobs, host = _blobs()
    big = os.urandom(2 << 20)
    small = {"status": "ok", "n": [1, 2]}
    assert blobs.move_result(small) is small
    original = {"keep": b"tiny", "deep": [big, {"x": bytearray(big)}]}
    moved = blobs.move_result(original)
    assert original["deep"][0] is big  # the handler's objects are never changed
    assert moved["keep"] == b"tiny"
    assert isinstance(moved["deep"][0], msgpack.ExtType)
    assert host.take(moved["deep"][0].data, BOUND) == big
    assert host.take(moved["deep"][1]["x"].data, BOUND) == big


def test_a_result_over_the_frame_limit_raises_and_leaves_no_gap() -> None:
    blobs, host = _blobs(limit=3 << 20)
    with pytest.raises(FrameTooLarge):
        blobs.move_result({"a": b"1" * (2 << 20), "b": b"2" * (2 << 20)})
    fits = blobs.move_result({"a": b"3" * (2 << 20)})
    assert host.take(fits["a"].data, BOUND) == b"3" * (2 << 20)  # number 1: no gap


def test_codec_puts_large_results_in_shared_memory_and_rolls_back_on_failure() -> None:
    blobs, host = _blobs()
    codec = MsgpackCodec()
    codec.use_shared_blobs(blobs)
    frames: list[bytes] = []
    with pytest.raises(TypeError):  # a set does not encode: its blob must not count
        codec.encode_result_to(1, {"data": b"q" * (2 << 20), "bad": {1}}, frames.append)
    codec.encode_result_to(2, {"data": b"r" * (2 << 20)}, lambda view: frames.append(bytes(view)))
    assert len(frames) == 1 and len(frames[0]) < 100
    message = msgpack.unpackb(frames[0], ext_hook=lambda code, data: host.take(data, BOUND))
    assert message["result"]["data"] == b"r" * (2 << 20)


def test_codec_decodes_references_into_bytes() -> None:
    blobs, _ = _blobs()
    host_side = SharedFile(os.dup(blobs.inbound._fd), BOUND)
    reference = host_side.store(b"s" * (1 << 20))
    codec = MsgpackCodec()
    codec.use_shared_blobs(blobs)
    decoded = codec.decode(
        msgpack.packb({"args": {"data": reference, "other": msgpack.ExtType(5, b"x")}})
    )
    assert decoded["args"]["data"] == b"s" * (1 << 20)
    assert decoded["args"]["other"] == msgpack.ExtType(5, b"x")


def test_attach_reads_the_environment_and_hides_it(monkeypatch, capsys) -> None:
    in_fd, out_fd = _memfd("mlbridge-to-w"), _memfd("mlbridge-from-w")
    monkeypatch.setenv(ENV_NAME, f"{in_fd},{out_fd},4096,{BOUND}")
    blobs = attach_from_environment(BOUND)
    assert blobs is not None and blobs.min_bytes == 4096
    assert ENV_NAME not in os.environ
    assert not os.get_inheritable(in_fd)

    with open(os.devnull, "rb") as other:  # not a shared file: never mapped
        monkeypatch.setenv(ENV_NAME, f"{other.fileno()},{out_fd},4096,{BOUND}")
        assert attach_from_environment(BOUND) is None
    assert "not the host's shared file" in capsys.readouterr().err

    monkeypatch.setenv(ENV_NAME, "3,oops")
    assert attach_from_environment(BOUND) is None
    assert "large bytes go through the pipe" in capsys.readouterr().err
