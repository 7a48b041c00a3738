"""A bridge that writes its own API key to fd 2 in awkward pieces, for redaction tests.

It writes with ``os.write(2, ...)``, under the SDK's redacting ``sys.stderr``, as a C library
would: what reaches the host is raw, and only the host's redaction (telemetry::Redactor in the
stderr collector) stands between the key and the log.

``split`` writes ``key <first half>``, waits ``pause`` seconds so that the host reads it alone,
then ``<second half> end`` and a newline. ``long_line`` writes one line of ``size`` bytes with
the key at byte ``at``, in writes of ``chunk`` bytes. ``crash`` exits at once with code 3, so
that the error of the call carries the stderr tail.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python_bridges")
)

from mlbridge import BaseBridge, CallContext, command  # noqa: E402


def key() -> bytes:
    return os.environ["OPENAI_API_KEY"].encode()


class StderrWriterBridge(BaseBridge):
    framework = "stderr-writer"
    bridge_version = "0.1.0"

    def framework_version(self) -> str:
        return "1.0.0"

    @command("split", description="Write the key to fd 2 in two writes, a pause apart.")
    def split(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        half = len(key()) // 2
        os.write(2, b"key " + key()[:half])
        time.sleep(float(args.get("pause", 0.2)))
        os.write(2, key()[half:] + b" end\n")
        return {"written": True}

    @command("long_line", description="Write one long line holding the key, in chunks.")
    def long_line(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        size, at, chunk = int(args["size"]), int(args["at"]), int(args["chunk"])
        line = bytearray(b"x" * size)
        line[at : at + len(key())] = key()
        line += b"\n"
        for start in range(0, len(line), chunk):
            os.write(2, bytes(line[start : start + chunk]))
            time.sleep(0.01)
        return {"written": True}

    @command("crash", description="Exit at once with code 3.")
    def crash(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        os._exit(3)


if __name__ == "__main__":
    StderrWriterBridge.main()
