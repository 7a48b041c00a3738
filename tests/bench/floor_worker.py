"""The benchmark floor: the smallest Python loop that speaks the mlbridge protocol.

It answers every request (``init`` included) with its own ``args`` and exits 0 at end
of input. It uses the same primitives as ``mlbridge`` (one buffered ``os.read`` per
frame, one ``os.write`` of header + payload, the JSON C encoder and scanner built
once, one reused MessagePack packer), so the gap to an ``mlbridge`` worker is the
SDK's own cost, not a difference in I/O or codecs.

    python floor_worker.py --worker-id floor-1 --codec json|msgpack --protocol 1
"""

import json
import os
import struct
import sys


def codec(name):
    """Return (encode, decode) for ``json`` or ``msgpack``."""
    if name == "msgpack":
        import msgpack

        packer = msgpack.Packer(use_bin_type=True)
        return packer.pack, lambda data: msgpack.unpackb(data, raw=False)
    from json import encoder, scanner

    iterencode = encoder.c_make_encoder(
        None, None, encoder.encode_basestring, None, ":", ",", False, False, False
    )
    scan = scanner.c_make_scanner(json.JSONDecoder())
    return (
        lambda obj: "".join(iterencode(obj, 0)).encode(),
        lambda data: scan(data.decode(), 0)[0],
    )


def main():
    argv = sys.argv
    encode, decode = codec(argv[argv.index("--codec") + 1] if "--codec" in argv else "json")
    read, write = os.read, os.write
    header, unpack_from = struct.Struct(">I").pack, struct.unpack_from
    hello = encode(
        {
            "type": "hello",
            "protocol": 1,
            "worker_id": argv[argv.index("--worker-id") + 1] if "--worker-id" in argv else "floor",
            "pid": os.getpid(),
            "framework": "floor",
            "framework_version": "0",
            "bridge_version": "0",
            "commands": ["ping", "init", "echo"],
            "concurrency": 1,
        }
    )
    write(1, header(len(hello)) + hello)
    buf = b""
    while True:
        while len(buf) < 4:
            chunk = read(0, 65536)
            if not chunk:
                return 0
            buf += chunk
        end = 4 + unpack_from(">I", buf)[0]
        while len(buf) < end:
            chunk = read(0, 65536)
            if not chunk:
                return 3
            buf += chunk
        req = decode(buf[4:end])
        buf = buf[end:]
        res = {"type": "response", "id": req["id"], "success": True, "result": req.get("args")}
        out = encode(res)
        out = header(len(out)) + out
        while out:
            out = out[write(1, out) :]


if __name__ == "__main__":
    sys.exit(main())
