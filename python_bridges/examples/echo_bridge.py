"""The echo bridge: the smallest real bridge, used by tests, benchmarks and newcomers.

Run it the way the host does::

    python echo_bridge.py --worker-id echo-1 --codec json --protocol 1
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import os
import sys
import threading
import time
from typing import Any

# The SDK beside this script first (like the framework bridges), so that a checkout runs its
# own SDK even when another checkout's is installed (`pip install -e python_bridges`).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mlbridge import BaseBridge, BridgeError, CallContext, command, current_call
from mlbridge.bridge import rss_bytes

#: Memory held by `allocate`, so that it stays resident.
_HELD: list[bytearray] = []

#: One period of the bytes `blob` returns: byte i is i % 256.
_PATTERN = bytes(range(256))

#: What `async_context` sets and reads back: isolated per call by contextvars.
_CALL_TAG: contextvars.ContextVar[Any] = contextvars.ContextVar("echo_call_tag", default=None)


def _exception_class(name: str) -> type[BaseException]:
    """A builtin exception class by name, or a new class of that name.

    A dotted name (``litellm.RateLimitError``) makes a class of that module, so the
    host sees exactly that type name.
    """
    module, _, short = name.rpartition(".")
    if not module:
        found = getattr(builtins, name, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return found
    return type(short, (Exception,), {"__module__": module or "__main__"})


class EchoBridge(BaseBridge):
    """Commands that exercise every part of the protocol."""

    framework = "echo"
    bridge_version = "0.1.0"

    def framework_version(self) -> str:
        return "1.0.0"

    def initialize(self, options: dict[str, Any]) -> None:
        self.options = options

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}
        self._barriers: dict[str, tuple[asyncio.Event, list[int]]] = {}

    @command(
        "echo",
        description="Return the arguments unchanged (bytes included).",
        schema={"args": {"description": "Any JSON value; it comes back as it is."}},
    )
    def echo(self, args: Any, ctx: CallContext) -> Any:
        return args

    @command(
        "types",
        description="The Python type name of each argument, by name.",
        schema={
            "args": {"type": "object"},
            "result": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    )
    def types(self, args: dict[str, Any], ctx: CallContext) -> dict[str, str]:
        return {name: type(value).__name__ for name, value in args.items()}

    @command(
        "sleep",
        description="Sleep for args.seconds, then answer {slept}.",
        schema={
            "args": {
                "type": "object",
                "properties": {
                    "seconds": {"type": "number", "minimum": 0, "default": 0},
                    "report": {"type": "boolean", "default": False},
                },
            },
            "result": {
                "type": "object",
                "properties": {"slept": {"type": "number"}},
                "required": ["slept"],
            },
        },
    )
    def sleep(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """With args.report, also answer the worker's pid and the wall-clock start and end of the
        sleep (seconds since the epoch), so a test can see which calls ran at the same time."""
        seconds = float(args.get("seconds", 0))
        started = time.time()
        time.sleep(seconds)
        if args.get("report"):
            return {"slept": seconds, "pid": os.getpid(), "started": started, "ended": time.time()}
        return {"slept": seconds}

    @command(
        "fail",
        description="Raise the exception type args.type with args.message.",
        schema={
            "args": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "default": "RuntimeError"},
                    "message": {"type": "string"},
                    "category": {"type": "string"},
                },
            }
        },
    )
    def fail(self, args: dict[str, Any], ctx: CallContext) -> None:
        """With args.category, raise a BridgeError of that category (and type) instead."""
        message = str(args.get("message", "failing on purpose"))
        if args.get("category") is not None:
            raise BridgeError(message, category=args["category"], type=args.get("type"))
        raise _exception_class(str(args.get("type", "RuntimeError")))(message)

    @command("crash", description="Exit with args.exit_code, or kill itself with args.signal.")
    def crash(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """With args.once_marker (a file path), crash only if that file does not exist yet,
        creating it first: the call crashes one worker, and a retry of it succeeds."""
        marker = args.get("once_marker")
        if marker is not None:
            if os.path.exists(marker):
                return {"crashed": False}
            with open(marker, "w", encoding="utf-8") as handle:
                handle.write(str(os.getpid()))
        sys.stderr.flush()
        if args.get("signal") is not None:
            signum = int(args["signal"])
            os.kill(os.getpid(), signum)
            return {"survived_signal": signum}  # a signal this process catches or ignores
        os._exit(int(args.get("exit_code", 1)))

    @command("print", description="Write args.text to stdout (both print and fd 1).")
    def print_(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        text = str(args.get("text", ""))
        print(text)
        sys.stdout.flush()
        os.write(1, text.encode() + b"\n")
        return {"printed": True}

    @command(
        "blob",
        description="Return {data: args.size bytes}, byte i being i % 256.",
        schema={
            "args": {
                "type": "object",
                "properties": {"size": {"type": "integer", "minimum": 0, "default": 0}},
            }
        },
    )
    def blob(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        size = int(args.get("size", 0))
        return {"data": _PATTERN * (size // 256) + _PATTERN[: size % 256]}

    @command(
        "stream",
        description="Send args.count chunks, args.delay seconds apart.",
        schema={
            "args": {
                "type": "object",
                "properties": {
                    "count": {"type": "integer", "minimum": 0, "default": 3},
                    "delay": {"type": "number", "minimum": 0, "default": 0},
                },
            },
            "result": {
                "type": "object",
                "properties": {"count": {"type": "integer"}},
                "required": ["count"],
            },
        },
    )
    def stream(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        count = int(args.get("count", 3))
        delay = float(args.get("delay", 0))
        for index in range(count):
            if index and delay:
                time.sleep(delay)
            ctx.stream({"index": index})
        return {"count": count}

    @command(
        "put",
        description="Store args.value under args.key in the session's resources.",
        schema={
            "args": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "value": {}},
                "required": ["key"],
            }
        },
    )
    def put(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        ctx.resources[args["key"]] = args.get("value")
        return {"key": args["key"], "session_id": ctx.session_id}

    @command(
        "get",
        description="Return args.key from the session's resources.",
        schema={
            "args": {
                "type": "object",
                "properties": {"key": {"type": "string"}},
                "required": ["key"],
            }
        },
    )
    def get(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {"key": args["key"], "value": ctx.resources[args["key"]]}

    @command("drop", description="Remove args.key from the session's resources.")
    def drop(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        ctx.resources.pop(args["key"], None)
        return {"key": args["key"], "dropped": True}

    @command("keys", description="The sorted keys of the session's resources.")
    def keys(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {"keys": sorted(ctx.resources), "worker_id": ctx.worker_id}

    @command("state", description="Set args.set, remove args.unset; return the session state.")
    def state(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        state = ctx.session.state
        state.update(args.get("set") or {})
        for key in args.get("unset") or []:
            state.pop(key, None)
        if args.get("fail"):
            raise RuntimeError("failing after changing the state (the change must not stick)")
        return {"state": dict(state), "version": ctx.session.state_version}

    @command("append", description="Append args.value to the list args.key, journaled as data.")
    def append(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        items = ctx.resources.setdefault(args["key"], [])
        items.append(args.get("value"))
        ctx.session.record("put", {"key": args["key"], "value": list(items)}, object=args["key"])
        return {"key": args["key"], "count": len(items)}

    @command("pin", description="Succeed only on worker args.worker_id (default: this one).")
    def pin(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        wanted = args.get("worker_id") or ctx.worker_id
        if wanted != ctx.worker_id:
            raise RuntimeError(f"pinned to worker {wanted}, this is {ctx.worker_id}")
        return {"worker_id": ctx.worker_id}

    @command("export", description="The session's resources as data (a snapshot).")
    def export(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {"resources": dict(ctx.resources), "worker_id": ctx.worker_id}

    @command("import", description="Restore resources from export's data (args.data).")
    def import_(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        data = args["data"]["resources"]
        if "__refuse_import__" in data:
            raise RuntimeError("import refused on purpose")
        ctx.resources.update(data)
        return {"imported": len(data)}

    @command("spin", description="Busy-loop args.seconds; swallow_interrupt ignores SIGINT.")
    def spin(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Answers {spun, interrupts}: how many KeyboardInterrupts it swallowed."""
        seconds = float(args.get("seconds", 1))
        swallow = bool(args.get("swallow_interrupt", False))
        end = time.monotonic() + seconds
        interrupts = 0
        while True:
            try:
                while time.monotonic() < end:
                    pass
                break
            except KeyboardInterrupt:
                if not swallow:
                    raise
                interrupts += 1
        return {"spun": seconds, "interrupts": interrupts}

    @command("allocate", description="Allocate and hold args.mb MiB; answer the RSS.")
    def allocate(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        block = bytearray(int(args.get("mb", 1)) * 1024 * 1024)
        for offset in range(0, len(block), 4096):  # touch every page so it is resident
            block[offset] = 1
        _HELD.append(block)
        return {"held_mb": sum(len(b) for b in _HELD) // (1024 * 1024), "rss_bytes": rss_bytes()}

    @command("options", description="Return the options the worker was initialized with.")
    def options_(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return {"options": self.options, "pid": os.getpid()}

    @command("env", description="Return the environment variable args.name (or null).")
    def env(self, args: dict[str, Any], ctx: CallContext) -> str | None:
        return os.environ.get(str(args.get("name", "")))

    # ----------------------------------------------------------------- async commands
    # They show a concurrent worker (`--concurrency N`, YAML `pool.max_concurrency`) at work;
    # at concurrency 1 they run one at a time like the rest.

    @command("async_echo", description="Return the arguments unchanged, as an async command.")
    async def async_echo(self, args: Any, ctx: CallContext) -> Any:
        return args

    @command("async_sleep", description="Sleep args.seconds with asyncio; answer {slept}.")
    async def async_sleep(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        seconds = float(args.get("seconds", 0))
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @command("async_stream", description="args.count chunks {i}, args.delay s apart (awaited).")
    async def async_stream(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        count = int(args.get("count", 3))
        delay = float(args.get("delay", 0))
        for index in range(count):
            if index and delay:
                await asyncio.sleep(delay)
            await ctx.stream({"i": index})
        return {"chunks": count}

    @command("async_yield", description="The same chunks from an async generator.")
    async def async_yield(self, args: dict[str, Any], ctx: CallContext) -> Any:
        """An async generator command: each yield is a chunk, the result {chunks: n}."""
        count = int(args.get("count", 3))
        delay = float(args.get("delay", 0))
        for index in range(count):
            if index and delay:
                await asyncio.sleep(delay)
            yield {"i": index}

    @command("async_block", description="Block the event loop with time.sleep(args.seconds).")
    async def async_block(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """What not to do: the loop watchdog names this command in the worker's log."""
        seconds = float(args.get("seconds", 1.5))
        time.sleep(seconds)
        return {"blocked": seconds}

    @command(
        "async_ignore_cancel",
        description="Sleep args.seconds, swallowing cancellation; with args.announce, first "
        "stream one chunk saying it started.",
    )
    async def async_ignore_cancel(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """A misbehaving handler for the host's cancel_grace: it keeps sleeping when cancelled.

        The chunk of ``announce`` lets a test cancel only once the handler runs (a cancel that
        reaches the task before its first step is honoured: nothing swallowed it yet).
        """
        seconds = float(args.get("seconds", 5))
        if args.get("announce"):
            ctx.stream({"started": True})
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        ignored = 0
        while (left := end - loop.time()) > 0:
            try:
                await asyncio.sleep(left)
            except asyncio.CancelledError:
                ignored += 1
        return {"slept": seconds, "ignored_cancels": ignored}

    @command("async_barrier", description="Wait until args.parties calls reached args.name.")
    async def async_barrier(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Answers only once that many calls wait here at the same time: proof they overlap."""
        name = str(args.get("name", "default"))
        parties = int(args.get("parties", 2))
        event, arrived = self._barriers.setdefault(name, (asyncio.Event(), []))
        arrived.append(ctx.request_id)
        if len(arrived) >= parties:
            event.set()
            del self._barriers[name]
        await event.wait()
        return {"name": name, "parties": parties}

    @command("async_turn", description="One session turn: record args.turn, sleep, check order.")
    async def async_turn(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Fails if another call of the same session is inside this command at the same time;
        answers every turn the session has seen, in the order they ran."""
        resources = ctx.resources
        if resources.get("_turn_running"):
            raise RuntimeError(f"turn {args.get('turn')} overlaps another call of its session")
        resources["_turn_running"] = True
        try:
            await asyncio.sleep(float(args.get("seconds", 0.01)))
            turns = resources.setdefault("turns", [])
            turns.append(args.get("turn"))
            return {"turns": list(turns)}
        finally:
            resources["_turn_running"] = False

    @command("async_context", description="Set a context variable, sleep, read it back.")
    async def async_context(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Answers what this call's context variable and current_call() hold after the sleep:
        per-call isolation of contextvars (as `with dspy.context(...)` relies on)."""
        _CALL_TAG.set(args.get("tag"))
        await asyncio.sleep(float(args.get("seconds", 0.05)))
        call = current_call()
        return {
            "tag": _CALL_TAG.get(),
            "request_id": call.request_id if call is not None else None,
            "same_ctx": call is ctx,
        }

    @command("wait_file", description="Plain def: wait until the file args.path exists.")
    def wait_file(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        """Runs in the thread pool of a concurrent worker; stops early when cancelled."""
        path = str(args["path"])
        while not os.path.exists(path):
            if ctx.cancelled:
                raise BridgeError("wait_file stopped: cancelled", category="cancelled")
            time.sleep(0.01)
        call = current_call()
        return {"path": path, "thread": threading.current_thread().name, "same_ctx": call is ctx}


if __name__ == "__main__":
    EchoBridge.main()
