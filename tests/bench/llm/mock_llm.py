"""An OpenAI-compatible mock LLM for the LLM-bound benchmark: answers after a fixed delay.

``POST /v1/chat/completions`` answers ``delay`` seconds after the request arrived, without
blocking anything else: the answer is scheduled on the event loop (uvloop when installed),
so thousands of requests wait at once in one process. The reply's content depends on the
prompt: a DSPy ChatAdapter prompt (it names ``[[ ## answer ## ]]``) gets the answer in that
format, anything else (LangChain's prompt | model | parser) a plain assistant message.
``GET /v1/models`` and ``GET /healthz`` answer at once. HTTP/1.1 keep-alive, loopback only.

A raw ``asyncio.Protocol`` rather than a framework: the mock must not be the bottleneck of
the benchmark, and its own ceiling (``ceiling`` in run.py) is reported beside the results.

    python tests/bench/llm/mock_llm.py --port 0 --delay-ms 200
    # prints "mock-llm listening on http://127.0.0.1:PORT/v1" on stdout, serves until SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

DSPY_MARKER = b"[[ ## answer ## ]]"
DSPY_CONTENT = "[[ ## answer ## ]]\nmock answer\n\n[[ ## completed ## ]]"
PLAIN_CONTENT = "mock answer"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


def completion(content: str, model: str) -> bytes:
    """A chat.completion body with ``content`` as the assistant's message."""
    return json.dumps(
        {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
        }
    ).encode()


def response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


# Built once: every completion of a kind is the same bytes (the benchmark measures waiting,
# not JSON encoding in the mock).
DSPY_RESPONSE = response("200 OK", completion(DSPY_CONTENT, "mock"))
PLAIN_RESPONSE = response("200 OK", completion(PLAIN_CONTENT, "mock"))
MODELS_RESPONSE = response(
    "200 OK", json.dumps({"object": "list", "data": [{"id": "mock", "object": "model"}]}).encode()
)
HEALTH_RESPONSE = response("200 OK", b'{"status":"ok"}')
NOT_FOUND_RESPONSE = response("404 Not Found", b'{"error":{"message":"no such route"}}')
BAD_REQUEST_RESPONSE = response("400 Bad Request", b'{"error":{"message":"bad request"}}')


class Stats:
    """Counters the mock prints when it stops (and serves at ``GET /_stats``)."""

    def __init__(self) -> None:
        self.completions = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections = 0


class MockProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests, answer each after the delay.

    Answers go out in request order, as HTTP/1.1 requires: each request gets a sequence
    number, and an answer that is due waits until those before it have been written.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, stats: Stats) -> None:
        self.loop = loop
        self.delay = delay
        self.stats = stats
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.next_seq = 0  # the sequence number of the next request
        self.write_seq = 0  # the sequence number of the next answer to write
        self.ready: dict[int, bytes] = {}  # answers due but waiting for earlier ones
        self.timers: dict[int, asyncio.TimerHandle] = {}  # completions not yet due

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.stats.in_flight -= len(self.timers)
        self.timers.clear()
        self.ready.clear()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self._fail()
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    try:
                        length = int(value.strip())
                    except ValueError:
                        self._fail()
                        return
            if length > MAX_BODY_BYTES:
                self._fail()
                return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self._route(head.split("\r\n", 1)[0], body)

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(BAD_REQUEST_RESPONSE)
            self.transport.close()

    def _route(self, request_line: str, body: bytes) -> None:
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0].split("?", 1)[0].rstrip("/")
        seq = self.next_seq
        self.next_seq += 1
        if method == "POST" and path.endswith("/chat/completions"):
            answer = DSPY_RESPONSE if DSPY_MARKER in body else PLAIN_RESPONSE
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            self.timers[seq] = self.loop.call_later(self.delay, self._due, seq, answer)
        elif method == "GET" and path.endswith("/models"):
            self._answer(seq, MODELS_RESPONSE)
        elif method == "GET" and path == "/healthz":
            self._answer(seq, HEALTH_RESPONSE)
        elif method == "GET" and path == "/_stats":
            self._answer(seq, response("200 OK", json.dumps(vars(self.stats)).encode()))
        else:
            self._answer(seq, NOT_FOUND_RESPONSE)

    def _due(self, seq: int, answer: bytes) -> None:
        del self.timers[seq]
        self.stats.in_flight -= 1
        self.stats.completions += 1
        self._answer(seq, answer)

    def _answer(self, seq: int, answer: bytes) -> None:
        if seq != self.write_seq:
            self.ready[seq] = answer
            return
        out = [answer]
        self.write_seq += 1
        while self.write_seq in self.ready:
            out.append(self.ready.pop(self.write_seq))
            self.write_seq += 1
        if self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(host: str, port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(
        lambda: MockProtocol(loop, delay, stats), host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()
    print(f"mock-llm listening on http://{bound[0]}:{bound[1]}/v1", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    print(json.dumps({"mock_llm_stats": vars(stats)}), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=200.0)
    options = parser.parse_args(argv)
    if not options.host.startswith("127."):
        parser.error("the mock only listens on a loopback address")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(options.host, options.port, options.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
