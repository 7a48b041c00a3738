"""A raw worker that breaks the protocol on purpose, for the host's tests.

No ``mlbridge`` import: its framing and codecs are its own, so it can do what the
SDK never would. Spawned like any worker, plus ``--mode``::

    python misbehaving_worker.py --worker-id ID --codec json|msgpack --protocol 1 --mode MODE

Modes (all but the first three send a valid hello and answer ``init`` first):

- ``exit_before_hello``: writes "boom: failing on purpose" to stderr, exits 7.
- ``no_hello``: sends nothing, sleeps forever.
- ``bad_hello``: sends a hello with protocol 99, then echoes requests.
- ``zero_length``: on the first request, writes a zero length header.
- ``huge_length``: on the first request, writes a header claiming 2 GiB.
- ``garbage``: on the first request, writes a line of text over and over.
- ``partial_then_eof``: on the first request, writes a header of 100 and 10 bytes, exits 0.
- ``non_map``: on the first request, sends a frame whose payload is the list [1, 2, 3].
- ``unknown_id``: answers every request first with a "stale" result for id + 1000, then
  correctly (echoing the args).
- ``string_error``: answers every request seed-style, ``{"id", "success": false,
  "error": "plain string error"}`` with no ``type``.
- ``close_stdout``: on the first request, closes its stdout (the protocol pipe: this worker
  writes frames to fd 1 itself) and keeps running without answering.
- ``bad_result_text``: on the first request, answers in the SDK's exact JSON success layout
  (``{"type":"response","id":N,"success":true,"result":...}``, which the host reads without
  decoding it) with a result that is not JSON (``{"a":}``), whatever the codec.

After breaking the stream the worker waits for end of input, then exits 0.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

MODES = (
    "exit_before_hello",
    "no_hello",
    "bad_hello",
    "zero_length",
    "huge_length",
    "garbage",
    "partial_then_eof",
    "non_map",
    "unknown_id",
    "string_error",
    "close_stdout",
    "bad_result_text",
)

Encode = Callable[[Any], bytes]
Decode = Callable[[bytes], Any]


def make_codec(name: str) -> tuple[Encode, Decode]:
    """Return (encode, decode) for ``json`` (bytes as {"__bytes__": b64}) or ``msgpack``."""
    if name == "msgpack":
        import msgpack

        return (
            lambda obj: msgpack.packb(obj, use_bin_type=True),
            lambda data: msgpack.unpackb(data, raw=False),
        )

    def default(obj: Any) -> Any:
        if isinstance(obj, bytes | bytearray):
            return {"__bytes__": base64.b64encode(obj).decode()}
        raise TypeError(f"cannot encode {type(obj).__name__}")

    def hook(obj: dict[str, Any]) -> Any:
        if len(obj) == 1 and "__bytes__" in obj:
            return base64.b64decode(obj["__bytes__"])
        return obj

    return (
        lambda obj: json.dumps(obj, default=default).encode(),
        lambda data: json.loads(data, object_hook=hook),
    )


def write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def read_exact(count: int) -> bytes | None:
    """Read ``count`` bytes from stdin; ``None`` at end of input."""
    data = b""
    while len(data) < count:
        chunk = os.read(0, count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_message(decode: Decode) -> Any:
    header = read_exact(4)
    if header is None:
        return None
    payload = read_exact(struct.unpack(">I", header)[0])
    return None if payload is None else decode(payload)


def send(encode: Encode, message: Any) -> None:
    payload = encode(message)
    write_all(struct.pack(">I", len(payload)) + payload)


def linger() -> None:
    """Wait for end of input (the host closing the pipe or killing us), then exit 0."""
    while os.read(0, 65536):
        pass
    sys.exit(0)


def response(request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "response", "id": request.get("id"), **fields}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--worker-id", default="misbehaving")
    parser.add_argument("--codec", choices=("json", "msgpack"), default="json")
    parser.add_argument("--protocol", type=int, default=1)
    parser.add_argument("--max-frame-bytes", type=int, default=64 * 1024 * 1024)
    options = parser.parse_args()
    mode = options.mode
    encode, decode = make_codec(options.codec)

    if mode == "exit_before_hello":
        sys.stderr.write("boom: failing on purpose\n")
        sys.stderr.flush()
        return 7
    if mode == "no_hello":
        while True:
            time.sleep(3600)

    send(
        encode,
        {
            "type": "hello",
            "protocol": 99 if mode == "bad_hello" else 1,
            "worker_id": options.worker_id,
            "pid": os.getpid(),
            "framework": "misbehaving",
            "framework_version": "0",
            "bridge_version": "0",
            "commands": ["ping", "init", "echo"],
            "concurrency": 1,
        },
    )

    while True:
        request = read_message(decode)
        if request is None:
            return 0
        if request.get("command") in ("init", "common:init"):
            send(encode, response(request, success=True, result={"status": "ready"}))
            continue
        if mode == "zero_length":
            write_all(struct.pack(">I", 0))
            linger()
        elif mode == "huge_length":
            write_all(struct.pack(">I", 2 * 1024 * 1024 * 1024))
            linger()
        elif mode == "garbage":
            write_all(b"this is not a frame at all\n" * 1000)
            linger()
        elif mode == "partial_then_eof":
            write_all(struct.pack(">I", 100) + b"0123456789")
            return 0
        elif mode == "close_stdout":
            os.close(1)
            linger()
        elif mode == "bad_result_text":
            payload = b'{"type":"response","id":%d,"success":true,"result":{"a":}}' % request["id"]
            write_all(struct.pack(">I", len(payload)) + payload)
            linger()
        elif mode == "non_map":
            send(encode, [1, 2, 3])
            linger()
        elif mode == "unknown_id":
            stale = {"type": "response", "id": request["id"] + 1000, "success": True}
            send(encode, {**stale, "result": "stale"})
            send(encode, response(request, success=True, result=request.get("args")))
        elif mode == "string_error":
            send(
                encode,
                {"id": request.get("id"), "success": False, "error": "plain string error"},
            )
        else:  # bad_hello: a well-behaved echo loop, in case the host keeps talking
            send(encode, response(request, success=True, result=request.get("args")))


if __name__ == "__main__":
    sys.exit(main())
