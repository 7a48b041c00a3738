"""Unit tests of mlbridge.shared_blobs: large bytes through a memfd, as host and worker do."""

from __future__ import annotations

import os
import struct

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


def _walks(blobs: SharedBlobs, monkeypatch) -> list[object]:
    """Records each result that the codec walks (move_result), still walking it."""
    walked: list[object] = []
    walk = blobs.move_result

    def counting(result: object) -> object:
        walked.append(result)
        return walk(result)

    monkeypatch.setattr(blobs, "move_result", counting)
    return walked


def _codec(blobs: SharedBlobs) -> MsgpackCodec:
    codec = MsgpackCodec()
    codec.use_shared_blobs(blobs)
    return codec


def test_codec_moves_large_bytes_deep_inside_a_result(monkeypatch) -> None:
    blobs, host = _blobs()
    walked = _walks(blobs, monkeypatch)
    big = os.urandom(3 << 20)
    frames: list[bytes] = []
    result = {"a": [1.5, {"b": ["x" * 100, (big,)]}], "c": b"small"}
    _codec(blobs).encode_result_to(4, result, lambda view: frames.append(bytes(view)))
    assert len(walked) == 1 and len(frames[0]) < 300
    message = msgpack.unpackb(frames[0], ext_hook=lambda code, data: host.take(data, BOUND))
    assert message["result"]["a"][1]["b"][1][0] == big
    assert message["result"]["c"] == b"small"


def test_codec_skips_the_walk_when_no_bin_can_be_large(monkeypatch) -> None:
    blobs, _ = _blobs()
    walked = _walks(blobs, monkeypatch)
    # Over min_bytes in all, with 0xc6 bytes in floats and text, and bins under min_bytes; the
    # floats' bytes read as a bin header of 15 MiB: under the limit, past the payload's end.
    looks_like = struct.unpack(">d", b"\xc6\x00\xf0\x00\x00\x00\x00\x00")[0]
    result = {
        "floats": [looks_like] * 1000,
        "text": "\u0180" * (600 << 10),  # UTF-8 c6 80, ...
        "bins": [b"\xc6" * 1000] * 600,
    }
    frames: list[bytes] = []
    _codec(blobs).encode_result_to(5, result, lambda view: frames.append(bytes(view)))
    assert walked == []
    assert len(frames[0]) > blobs.min_bytes
    assert msgpack.unpackb(frames[0])["result"] == result


def test_a_bin_header_inside_a_false_one_is_found() -> None:
    blobs, _ = _blobs()
    real = msgpack.packb(b"z" * (1 << 20))
    assert real[0] == 0xC6
    # A false header (0xc6 and a length of 2^20 + 0xc6...) whose length bytes hold the real one.
    assert blobs.may_move(b"\xc6" + real)
    assert not blobs.may_move(b"\xc6" + real[:-1])  # the real one is one byte short now
    assert not blobs.may_move(b"\xc6\x00\x10\x00\x00" + b"." * ((1 << 20) - 1))


def test_codec_refuses_a_result_whose_moved_bytes_pass_the_limit() -> None:
    blobs, host = _blobs(limit=3 << 20)
    codec = _codec(blobs)
    with pytest.raises(FrameTooLarge):
        codec.encode_result_to(6, {"a": b"1" * (2 << 20), "b": [b"2" * (2 << 20)]}, print)
    frames: list[bytes] = []
    codec.encode_result_to(7, {"a": b"3" * (2 << 20)}, lambda view: frames.append(bytes(view)))
    message = msgpack.unpackb(frames[0], ext_hook=lambda code, data: host.take(data, BOUND))
    assert message["result"]["a"] == b"3" * (2 << 20)  # number 1: the refused ones left no gap
