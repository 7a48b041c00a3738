"""The mock OpenAI server with a gate: proof that calls were in flight together.

A concurrency test must not time anything (these machines are noisy). Instead the server
holds chat completions at a :class:`Gate` until ``size`` of them are waiting at once, then
answers them all: if the bridge ran its calls one after another, the first one waits at the
gate until ``timeout_s`` and the gate reports that it never opened. The server also counts
the completions in flight, so a test can check a bound (``peak``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openai_server import MockServer, _Handler


class Gate:
    """Holds requests until ``size`` are waiting together, then lets every request through."""

    def __init__(self, size: int, timeout_s: float = 60.0):
        self.size = size
        self.timeout_s = timeout_s
        self.opened = False  #: ``size`` requests were held at the same time
        self.timed_out = 0  #: requests that gave up waiting (the gate never opened for them)
        self._waiting = 0
        self._cond = threading.Condition()

    def release(self) -> None:
        """Open the gate now, however many requests wait."""
        with self._cond:
            self.opened = True
            self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            self._waiting += 1
            if self._waiting >= self.size:
                self.opened = True
                self._cond.notify_all()
            if not self._cond.wait_for(lambda: self.opened, self.timeout_s):
                self.timed_out += 1


class GatedServer(MockServer):
    """:class:`MockServer` whose chat completions pass ``gate`` (when set) and are counted."""

    request_queue_size = 1024  # listen() backlog: 5 by default, too few for 50 connects at once

    def __init__(self, address: tuple[str, int]):
        super().__init__(address)
        self.RequestHandlerClass = _GatedHandler
        self.gate: Gate | None = None
        self.in_flight = 0
        self.peak = 0  #: the most chat completions in flight at once since reset_counts()
        self.arrived = 0  #: chat completions that arrived since reset_counts()
        self._counts = threading.Condition()

    def reset_counts(self, gate: Gate | None = None) -> None:
        """Start counting anew; later chat completions pass ``gate`` (``None``: no gate)."""
        with self._counts:
            self.peak = self.in_flight
            self.arrived = 0
        self.gate = gate

    def wait_for_arrivals(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` chat completions arrived since :meth:`reset_counts`."""
        with self._counts:
            arrived = self._counts.wait_for(lambda: self.arrived >= count, timeout)
        assert arrived, f"{self.arrived} of {count} chat completions reached the mock server"

    def enter(self) -> None:
        with self._counts:
            self.in_flight += 1
            self.arrived += 1
            self.peak = max(self.peak, self.in_flight)
            self._counts.notify_all()

    def leave(self) -> None:
        with self._counts:
            self.in_flight -= 1


class _GatedHandler(_Handler):
    server: GatedServer

    def _chat(self, body: dict[str, Any]) -> None:
        self.server.enter()
        try:
            gate = self.server.gate
            if gate is not None:
                gate.wait()
            super()._chat(body)
        finally:
            self.server.leave()


@contextmanager
def running_gated_server(stream_delay_s: float | None = None) -> Iterator[GatedServer]:
    """A started :class:`GatedServer` on 127.0.0.1; on exit its gate is released (no handler
    thread stays held) and it is stopped, also when the test failed."""
    server = GatedServer(("127.0.0.1", 0))
    server.start()
    if stream_delay_s is not None:
        server.stream_delay_s = stream_delay_s
    try:
        yield server
    finally:
        if server.gate is not None:
            server.gate.release()
        server.stop()
