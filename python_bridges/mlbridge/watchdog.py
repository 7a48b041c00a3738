"""The loop watchdog: notices an event loop that has not run for too long, and names why.

A handler that blocks the loop (``time.sleep`` or CPU work inside ``async def``) stops
every other call of the worker, pings included. The loop bumps a heartbeat a few times a
second; a daemon thread checks it and, once per stall, logs on stderr which command holds
the loop and where (its ``file:line`` and the innermost frame), read from
``sys._current_frames()``. ``MLBRIDGE_LOOP_WATCHDOG_MS`` sets the threshold (default 1000;
0 turns the watchdog off).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from types import CodeType, FrameType

ENV_NAME = "MLBRIDGE_LOOP_WATCHDOG_MS"
DEFAULT_THRESHOLD_MS = 1000


def threshold_from_environment() -> float | None:
    """The stall threshold in seconds, or None when the watchdog is off."""
    text = os.environ.get(ENV_NAME, "")
    if not text:
        return DEFAULT_THRESHOLD_MS / 1000
    try:
        value = int(text)
    except ValueError:
        print(
            f"mlbridge: {ENV_NAME}={text!r} is not a whole number of milliseconds; "
            f"using {DEFAULT_THRESHOLD_MS}",
            file=sys.stderr,
        )
        return DEFAULT_THRESHOLD_MS / 1000
    return value / 1000 if value > 0 else None


class LoopWatchdog:
    """Watches one event loop from a daemon thread.

    ``handlers`` maps the code object of each command handler to its command name, so a
    stack can be attributed to a command. Start it from the loop's thread.
    """

    def __init__(self, threshold_s: float, handlers: dict[CodeType, str]) -> None:
        self.threshold_s = threshold_s
        self._handlers = handlers
        self._interval = min(threshold_s / 4, 0.25)
        self._beat = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._stopped = threading.Event()
        self.stalls = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin the heartbeat on ``loop`` (call from its thread) and the watching thread."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        loop.call_later(self._interval, self._heartbeat)
        threading.Thread(target=self._watch, name="mlbridge-loop-watchdog", daemon=True).start()

    def stop(self) -> None:
        """Stop watching (any thread); the watching thread ends within one interval."""
        self._stopped.set()

    def _heartbeat(self) -> None:
        if self._stopped.is_set():
            return
        self._beat = time.monotonic()
        assert self._loop is not None
        self._loop.call_later(self._interval, self._heartbeat)

    def _watch(self) -> None:
        reported_beat = None
        loop = self._loop
        assert loop is not None
        last_wake = time.monotonic()
        while not self._stopped.wait(self._interval):
            if loop.is_closed() or not loop.is_running():
                return  # the worker is done serving: nothing to watch
            now = time.monotonic()
            watcher_late = now - last_wake - self._interval
            last_wake = now
            beat = self._beat
            stalled = now - beat
            if stalled > self.threshold_s and beat != reported_beat:
                reported_beat = beat  # once per stall
                if process_was_starved(watcher_late, self.threshold_s):
                    # This thread could not run either: the machine gave the whole process no
                    # CPU, so whatever frame the loop thread is in is no culprit.
                    print(
                        f"mlbridge: the event loop has not run for {stalled:.1f} s, but neither "
                        f"did the watchdog ({watcher_late:.1f} s late): the worker process got "
                        "no CPU (an overloaded machine, or the process was stopped); no "
                        "handler is blamed.",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
                self.stalls += 1
                print(
                    f"mlbridge: the event loop has not run for {stalled:.1f} s "
                    f"(watchdog {self.threshold_s * 1000:.0f} ms): {self.describe()}; "
                    "every other call of this worker waits. Use `await` (asyncio.sleep, an "
                    "async client) or a plain `def` command (it runs in the thread pool).",
                    file=sys.stderr,
                    flush=True,
                )

    def describe(self) -> str:
        """Which command holds the loop thread now, and where."""
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return "the loop thread is gone"
        innermost = frame
        handlers = self._handlers
        while frame is not None:
            command = handlers.get(frame.f_code)
            if command is not None:
                where = f"command {command!r} blocks it at {_where(frame)}"
                if innermost is not frame:
                    where += f" (innermost frame {_where(innermost)})"
                return where
            frame = frame.f_back
        return f"no command handler is on the stack; innermost frame {_where(innermost)}"


def process_was_starved(watcher_late_s: float, threshold_s: float) -> bool:
    """Whether a stall is the whole process's: the watching thread itself woke at least half
    the threshold late, so the loop thread had no chance to run either."""
    return watcher_late_s >= threshold_s / 2


def _where(frame: FrameType) -> str:
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
