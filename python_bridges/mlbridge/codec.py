"""The two payload codecs, ``json`` and ``msgpack`` (PROTOCOL.md, "Codec").

Bytes travel as MessagePack ``bin``; in JSON as ``{"__bytes__": "<base64>"}``. Both
codecs turn Python ``bytes``/``bytearray``/``memoryview`` into that form and give
``bytes`` back when decoding, at any depth.

Both codecs are on the hot path of every call. The JSON codec runs on orjson when it
is installed (a Rust parser and printer: 1 MiB of nested records decoded and encoded
in ~6-8 ms, the standard library's C accelerators took ~29 ms) and on the standard
library's ``json`` otherwise, or where orjson refuses a value the standard library
takes (integers beyond 64 bits, non-string keys, tuple subclasses; a lone surrogate).
Either way it writes the constant envelope of a success response literally. The
MessagePack codec reuses one packer and hands its internal buffer to the writer
instead of copying it out. Both decode large payloads with the garbage collector
paused (:func:`_decode_without_collections`).
"""

from __future__ import annotations

import base64
import gc
import json
import json.encoder
import json.scanner
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

try:
    import orjson
except ImportError:  # the SDK works without it, on the standard library's json
    orjson = None

if TYPE_CHECKING:
    from .shared_blobs import SharedBlobs

Sink = Callable[[bytes | bytearray | memoryview], object]
"""Where :meth:`Codec.encode_to` hands an encoded payload (e.g. ``FrameWriter.write``)."""

BYTES_KEY = "__bytes__"
_BYTES_MARK = BYTES_KEY.encode()

_JSON_RESULT = b'{"type":"response","id":%d,"success":true,"result":%b}'

_GC_PAUSE_BYTES = 64 * 1024
"""Payloads this long are decoded with the garbage collector paused (see
:func:`_decode_without_collections`)."""


def _decode_without_collections(decode: Callable[[Any], Any], data: Any) -> Any:
    """``decode(data)``; for a large payload without the garbage collector's help.

    A decoder makes no cycles, yet every container it makes counts towards the next
    collection, so 1 MiB of records (~30k containers) set off ~40 young, ~4 middle and
    every few calls a full collection during the decode, and the first young collection
    after it walked all 30k again: a quarter of the decode's time, to find no garbage.
    So: the young generations are collected first (what they hold is then judged as
    before, so no cycle made earlier escapes), the decode runs with the collector off,
    and ``gc.freeze()`` + ``gc.unfreeze()`` put the decoded containers (with everything
    else) in the oldest generation without a walk. They are freed by reference counting
    when the call is done, and a full collection still looks at whatever outlives it.
    When someone else froze objects (``gc.get_freeze_count()``) or turned the collector
    off, the decode only pauses it, or leaves it alone.
    """
    if len(data) < _GC_PAUSE_BYTES or not gc.isenabled():
        return decode(data)
    promote = gc.get_freeze_count() == 0
    if promote:
        gc.collect(1)
    gc.disable()
    try:
        return decode(data)
    finally:
        if promote:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _response(request_id: Any, result: Any) -> dict[str, Any]:
    return {"type": "response", "id": request_id, "success": True, "result": result}


class Codec(Protocol):
    """What the bridge needs from a codec."""

    name: str

    def encode(self, obj: Any) -> bytes:
        """Encode one message."""
        ...

    def encode_to(self, obj: Any, sink: Sink) -> None:
        """Encode one message and pass the payload to ``sink`` (avoiding a copy if it can).

        Not thread-safe: callers serialise calls (the bridge holds its send lock).
        """
        ...

    def encode_result_to(self, request_id: Any, result: Any, sink: Sink) -> None:
        """Encode the success response to ``request_id`` and pass it to ``sink``.

        The same as ``encode_to({"type": "response", "id": request_id, "success": True,
        "result": result}, sink)``; the hot message, so a codec may make it cheaper.
        """
        ...

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one message. Raises ``ValueError`` (or a subclass) on a bad payload."""
        ...


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return {BYTES_KEY: base64.b64encode(obj).decode("ascii")}
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _json_object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and BYTES_KEY in obj:
        value = obj[BYTES_KEY]
        if isinstance(value, str):
            return base64.b64decode(value, validate=True)
    return obj


class JsonCodec:
    """Compact UTF-8 JSON; bytes as ``{"__bytes__": base64}``.

    NaN and the infinities are written as ``null`` (orjson's rule, and the host's when it
    prints a MessagePack worker's floats as JSON); without orjson the standard library
    refuses them, which makes the response an ``internal`` error.
    """

    name = "json"

    def __init__(self) -> None:
        c_encoder = json.encoder.c_make_encoder
        if c_encoder is not None:
            self._iterencode: Callable[[Any, int], Any] = c_encoder(
                None,  # markers: no cycle check; a cycle ends in RecursionError
                _json_default,
                json.encoder.encode_basestring,  # UTF-8 output, no \u escapes
                None,  # indent
                ":",
                ",",
                False,  # sort_keys
                False,  # skipkeys
                False,  # allow_nan: NaN/Infinity are not JSON
            )
        else:  # pragma: no cover - CPython always has the accelerator
            encoder = json.JSONEncoder(
                ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
            )
            self._iterencode = lambda obj, _level: (encoder.encode(obj),)
        self._plain = json.JSONDecoder()
        self._bytes = json.JSONDecoder(object_hook=_json_object_hook)
        self._scan_plain = json.scanner.make_scanner(self._plain)
        self._scan_bytes = json.scanner.make_scanner(self._bytes)

    def encode(self, obj: Any) -> bytes:
        """Encode ``obj`` as compact UTF-8 JSON."""
        if orjson is not None:
            try:
                return orjson.dumps(obj, default=_json_default)
            except TypeError:
                pass  # a value orjson refuses: the standard library takes it, or says why not
        return "".join(self._iterencode(obj, 0)).encode()

    def encode_to(self, obj: Any, sink: Sink) -> None:
        """Encode ``obj`` and pass the payload to ``sink``."""
        sink(self.encode(obj))

    def encode_result_to(self, request_id: Any, result: Any, sink: Sink) -> None:
        """Encode a success response around a constant envelope (see :class:`Codec`).

        Encoders spend as much on the envelope's five strings as on a small result; with
        an integer id (always, from the host) they are written literally. The host reads
        the result of this exact layout without decoding the envelope.
        """
        if type(request_id) is int:
            # One more copy of the result: JSON is not the big-data codec.
            sink(_JSON_RESULT % (request_id, self.encode(result)))
        else:
            sink(self.encode(_response(request_id, result)))

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode UTF-8 JSON; ``{"__bytes__": ...}`` maps become ``bytes``."""
        if type(data) is memoryview:  # a large frame in the reader's buffer (see framing)
            data = data.tobytes()  # a copy; decoding costs far more at that size
        # find(), not `in`: bytes.__contains__ first tries the needle as an int, and
        # the TypeError it raises and clears costs more than the search itself.
        if orjson is not None and data.find(_BYTES_MARK) == -1:
            try:
                if len(data) < _GC_PAUSE_BYTES:  # every call's request: no wrapper
                    return orjson.loads(data)
                return _decode_without_collections(orjson.loads, data)
            except orjson.JSONDecodeError:
                pass  # what orjson refuses (a lone surrogate): the standard library decides
        return _decode_without_collections(self._decode_standard, data)

    def _decode_standard(self, data: bytes | bytearray) -> Any:
        text = data.decode()
        scan = self._scan_plain if data.find(_BYTES_MARK) == -1 else self._scan_bytes
        try:
            obj, end = scan(text, 0)
            if end == len(text):
                return obj
        except StopIteration:
            pass  # leading whitespace, or not JSON
        # The full parser accepts surrounding whitespace and explains errors.
        return (self._plain if scan is self._scan_plain else self._bytes).decode(text)


class MsgpackCodec:
    """MessagePack with ``bin`` for bytes and ``str`` for text."""

    name = "msgpack"

    def __init__(self) -> None:
        import msgpack  # here, so that JSON workers do not pay for importing it

        self._msgpack = msgpack
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=False)
        self._unpackb = msgpack.unpackb
        self._ext_hook: Callable[[int, bytes], Any] = msgpack.ExtType
        self._blobs: SharedBlobs | None = None

    def use_shared_blobs(self, blobs: SharedBlobs) -> None:
        """Take large bytes from, and put large results' bytes into, shared memory."""
        self._blobs = blobs
        self._ext_hook = blobs.ext_hook

    def encode(self, obj: Any) -> bytes:
        """Encode ``obj`` as MessagePack."""
        return self._msgpack.packb(obj, use_bin_type=True)

    def encode_to(self, obj: Any, sink: Sink) -> None:
        """Encode ``obj`` into the reused packer buffer and pass a view of it to ``sink``."""
        self._pack_to(obj, sink)

    def _pack_to(
        self, obj: Any, sink: Sink, send_if: Callable[[memoryview], bool] | None = None
    ) -> bool:
        """Pack ``obj`` into the reused packer buffer and pass a view of it to ``sink``, unless
        ``send_if`` says no for that view; whether it was passed on."""
        packer = self._packer
        try:
            packer.pack(obj)
            view = packer.getbuffer()
            sent = send_if is None or send_if(view)
            if sent:
                sink(view)
        except BaseException:
            # The packer may hold half an object or an exported view: start afresh.
            self._packer = self._msgpack.Packer(use_bin_type=True, autoreset=False)
            raise
        view.release()
        packer.reset()
        return sent

    def encode_result_to(self, request_id: Any, result: Any, sink: Sink) -> None:
        """Encode a success response (see :class:`Codec`); large bytes to shared memory.

        The response is packed first, as it is; only when the packed bytes may hold a bytes
        value to move (:meth:`SharedBlobs.may_move`, a byte search) is it packed again after
        the walk that moves them, so a result without large bytes never pays for a Python
        walk over its containers.
        """
        blobs = self._blobs
        if blobs is None:
            self.encode_to(_response(request_id, result), sink)
            return
        if self._pack_to(
            _response(request_id, result), sink, lambda view: not blobs.may_move(view)
        ):
            return
        mark = blobs.outbound.mark()
        try:
            self.encode_to(_response(request_id, blobs.move_result(result)), sink)
        except BaseException:
            blobs.outbound.rollback(mark)  # the frame was not sent: nor were its blobs
            raise

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        """Decode one MessagePack object; trailing bytes are an error."""
        if len(data) < _GC_PAUSE_BYTES:  # every call's request: no wrapper on the hot path
            return self._unpackb(data, raw=False, strict_map_key=False, ext_hook=self._ext_hook)
        return _decode_without_collections(self._unpack, data)

    def _unpack(self, data: bytes | bytearray | memoryview) -> Any:
        return self._unpackb(data, raw=False, strict_map_key=False, ext_hook=self._ext_hook)


CODECS: dict[str, type[JsonCodec] | type[MsgpackCodec]] = {
    "json": JsonCodec,
    "msgpack": MsgpackCodec,
}


def get_codec(name: str) -> Codec:
    """Return a new codec by name (``json`` or ``msgpack``)."""
    try:
        return CODECS[name]()
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; use json or msgpack") from None
