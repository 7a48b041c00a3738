"""Unit tests of mlbridge.codec: exact encodings and bytes at any depth."""

from __future__ import annotations

import collections
import gc
import json
import math
import weakref

import msgpack
import pytest

import mlbridge.codec as codec_module
from mlbridge.codec import JsonCodec, MsgpackCodec, get_codec

NESTED = {
    "text": "héllo ✓",
    "n": -(2**63),
    "u": 2**64 - 1,
    "f": 1.5,
    "none": None,
    "flag": True,
    "raw": b"\x00\x01\xff",
    "list": [b"a", {"deep": [bytearray(b"bc"), memoryview(b"d")]}],
}
DECODED = {
    **NESTED,
    "list": [b"a", {"deep": [b"bc", b"d"]}],
}


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_round_trip_with_bytes_at_any_depth(name: str) -> None:
    codec = get_codec(name)
    decoded = codec.decode(codec.encode(NESTED))
    assert decoded == DECODED
    assert type(decoded["list"][1]["deep"][0]) is bytes


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_decodes_a_view_of_a_reused_buffer_into_objects_of_its_own(name: str) -> None:
    codec = get_codec(name)
    buffer = bytearray(codec.encode(NESTED))  # as the frame reader hands over a large frame
    decoded = codec.decode(memoryview(buffer))
    buffer[:] = b"\0" * len(buffer)  # the reader overwrites it with the next frame
    assert decoded == DECODED


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_encode_to_matches_encode(name: str) -> None:
    codec = get_codec(name)
    seen: list[bytes] = []
    codec.encode_to(NESTED, lambda view: seen.append(bytes(view)))
    codec.encode_to({"again": 1}, lambda view: seen.append(bytes(view)))
    assert seen == [codec.encode(NESTED), codec.encode({"again": 1})]


def test_json_is_compact_utf8_with_base64_bytes() -> None:
    data = JsonCodec().encode({"a": [1, 2], "b": b"\x00\x01", "t": "é"})
    assert data == '{"a":[1,2],"b":{"__bytes__":"AAE="},"t":"é"}'.encode()


def test_json_decodes_bytes_maps_and_leaves_other_maps() -> None:
    codec = JsonCodec()
    doc = b'{"b":{"__bytes__":"AAE="},"two":{"__bytes__":"AAE=","x":1},"n":{"__bytes__":5}}'
    assert codec.decode(doc) == {
        "b": b"\x00\x01",
        "two": {"__bytes__": "AAE=", "x": 1},
        "n": {"__bytes__": 5},
    }


def test_json_accepts_surrounding_whitespace_and_bytearray() -> None:
    assert JsonCodec().decode(bytearray(b' \n{"a": 1} \n')) == {"a": 1}


@pytest.mark.parametrize("bad", [b'{"a":1} x', b"{", b"\xff\xfe", b'{"b":{"__bytes__":"!!"}}'])
def test_json_rejects_bad_payloads(bad: bytes) -> None:
    with pytest.raises(ValueError):
        JsonCodec().decode(bad)


def test_json_writes_non_finite_floats_as_null_and_refuses_unknown_types() -> None:
    assert JsonCodec().encode({"x": math.nan, "y": -math.inf}) == b'{"x":null,"y":null}'
    with pytest.raises(TypeError, match="set"):
        JsonCodec().encode({"x": {1, 2}})


def test_json_without_orjson_refuses_non_finite_floats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec_module, "orjson", None)
    with pytest.raises(ValueError):
        JsonCodec().encode({"x": math.nan})
    assert JsonCodec().decode('{"a":[1,"é"]}'.encode()) == {"a": [1, "é"]}


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({1: "a"}, b'{"1":"a"}'),  # orjson refuses keys that are not strings
        ({"big": 2**70}, b'{"big":1180591620717411303424}'),  # and integers beyond 64 bits
        (Point(1, 2), b"[1,2]"),  # and tuple subclasses
    ],
)
def test_json_encodes_what_orjson_refuses_as_the_standard_library_does(value, text) -> None:
    assert JsonCodec().encode(value) == text
    assert JsonCodec().encode(value) == json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("payload", [b'{"s":"\\ud800"}', b'{"n":NaN}'])
def test_json_decodes_what_orjson_refuses_as_the_standard_library_does(payload: bytes) -> None:
    assert repr(JsonCodec().decode(payload)) == repr(json.loads(payload))


def test_json_decodes_integers_beyond_64_bits_as_doubles_like_the_host() -> None:
    # The host reads such a number as a double too (nlohmann's DOM, json_to_msgpack).
    assert JsonCodec().decode(b'{"big":123456789012345678901234567890}') == {
        "big": 1.2345678901234568e29
    }


@pytest.mark.parametrize("orjson_installed", [True, False])
def test_json_decodes_large_payloads_the_same_with_or_without_orjson(
    orjson_installed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not orjson_installed:
        monkeypatch.setattr(codec_module, "orjson", None)
    records = {"items": [{"id": i, "name": f"r{i}", "tags": ["a", "b"]} for i in range(5000)]}
    data = JsonCodec().encode(records)
    assert len(data) > 64 * 1024  # decoded with the collector paused
    enabled = gc.isenabled()
    assert JsonCodec().decode(memoryview(bytearray(data))) == records
    assert gc.isenabled() == enabled


def test_msgpack_uses_bin_for_bytes_and_str_for_text() -> None:
    data = MsgpackCodec().encode({"b": b"a", "s": "a"})
    assert data == b"\x82\xa1b\xc4\x01a\xa1s\xa1a"
    assert msgpack.unpackb(data, raw=False) == {"b": b"a", "s": "a"}


def test_msgpack_rejects_trailing_data() -> None:
    with pytest.raises(ValueError):
        MsgpackCodec().decode(msgpack.packb({"a": 1}) + b"\x01")


def test_msgpack_encode_to_recovers_after_a_failure() -> None:
    codec = MsgpackCodec()
    with pytest.raises(TypeError):
        codec.encode_to({"ok": 1, "bad": object()}, lambda view: None)
    seen: list[bytes] = []
    codec.encode_to({"a": 1}, lambda view: seen.append(bytes(view)))
    assert seen == [msgpack.packb({"a": 1})]


def test_codecs_agree_with_the_standard_libraries() -> None:
    message = {"type": "response", "id": 7, "success": True, "result": {"k": [1, "two", None]}}
    assert json.loads(JsonCodec().encode(message)) == message
    assert msgpack.unpackb(MsgpackCodec().encode(message)) == message


def test_unknown_codec_is_refused() -> None:
    with pytest.raises(ValueError, match="yaml"):
        get_codec("yaml")


@pytest.mark.parametrize("name", ["json", "msgpack"])
@pytest.mark.parametrize("request_id", [0, 17, 2**64 - 1, None, "odd"])
def test_encode_result_to_is_the_success_response(name: str, request_id: object) -> None:
    codec = get_codec(name)
    seen: list[bytes] = []
    codec.encode_result_to(request_id, {"b": b"\x00", "n": [1]}, lambda v: seen.append(bytes(v)))
    assert codec.decode(seen[0]) == {
        "type": "response",
        "id": request_id,
        "success": True,
        "result": {"b": b"\x00", "n": [1]},
    }


def test_json_success_envelope_is_literal() -> None:
    seen: list[bytes] = []
    JsonCodec().encode_result_to(5, None, seen.append)
    assert seen == [b'{"type":"response","id":5,"success":true,"result":null}']


def _collections_during(action) -> list[int]:
    """The generation of each garbage collection that ran while ``action()`` did."""
    runs: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(record)
    try:
        action()
    finally:
        gc.callbacks.remove(record)
    return runs


def _many_containers() -> bytes:
    return msgpack.packb([{"n": [i]} for i in range(20000)])  # ~40k containers


def test_msgpack_decodes_a_large_payload_without_walking_its_containers() -> None:
    codec, payload = MsgpackCodec(), _many_containers()
    decoded: list = []
    # One collection of the young generations before the decode, none during it.
    assert _collections_during(lambda: decoded.append(codec.decode(payload))) == [1]
    assert gc.isenabled()
    # The decoded containers wait in the oldest generation: the next young collections do not
    # walk them.
    assert gc.get_count()[0] < gc.get_threshold()[0]
    young = gc.get_objects(generation=0) + gc.get_objects(generation=1)
    assert all(item is not decoded[0] and item is not decoded[0][0] for item in young)
    assert _collections_during(lambda: [[] for _ in range(5000)]).count(0) > 0  # still running


class _Node:
    pass


def test_msgpack_decode_collects_the_cycles_made_before_it() -> None:
    codec, payload = MsgpackCodec(), _many_containers()
    node = _Node()
    node.self = node
    collected = weakref.ref(node)
    del node
    codec.decode(payload)
    assert collected() is None


def test_msgpack_decode_leaves_objects_someone_froze_frozen() -> None:
    codec, payload = MsgpackCodec(), _many_containers()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert _collections_during(lambda: codec.decode(payload)) == []
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_msgpack_decode_leaves_a_disabled_collector_disabled() -> None:
    codec = MsgpackCodec()
    gc.disable()
    try:
        codec.decode(msgpack.packb([[i] for i in range(20000)]))
        assert not gc.isenabled()
    finally:
        gc.enable()
