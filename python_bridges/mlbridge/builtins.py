"""The built-in commands every bridge answers (``ping``, ``get_info``, ``init``, ...).

A mixin of :class:`~mlbridge.bridge.BaseBridge`, kept apart so the author's class reads
small. The commands read the worker's state from the runtime that serves the bridge
(``self._runtime``, set before the first request). They run on the serving thread (the
event loop's thread in a concurrent worker) and must stay quick; ``init`` is the
exception and runs in the thread pool of a concurrent worker.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from .command import BUILTIN_NAMESPACE, CommandSpec, builtin_command
from .context import CallContext
from .errors import BridgeError
from .process import rss_bytes

if TYPE_CHECKING:
    from .runtime import Runtime

SDK_VERSION = "0.1.0"
PROTOCOL_VERSION = 1


class BuiltinCommands:
    """``ping``, ``get_info``, ``get_stats``, ``list_commands`` and the host-only
    ``init``, ``cleanup``, ``cleanup_session`` and ``shutdown``."""

    framework: str
    bridge_version: str
    _runtime: Runtime

    def initialize(self, options: dict[str, Any]) -> Any:  # overridden by BaseBridge
        raise NotImplementedError

    def capabilities(self) -> dict[str, Any]:  # overridden by BaseBridge
        raise NotImplementedError

    @builtin_command("ping", description="Liveness check: worker id, uptime, framework.")
    def _builtin_ping(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        # The host pings often and the benchmark measures it: one dict, built at start
        # and encoded before the next request can change it; uptime in whole seconds
        # (an int encodes much faster than a float).
        runtime = self._runtime
        pong = runtime.pong
        pong["uptime_s"] = (time.monotonic_ns() - runtime.started_ns) // 1_000_000_000
        return pong

    @builtin_command(
        "init", description="Run initialize(options); answers once ready.", host_only=True
    )
    def _builtin_init(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        options = args.get("options") if isinstance(args, dict) else None
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise BridgeError(
                f"init: options must be a map, got {type(options).__name__}",
                category="invalid_configuration",
            )
        prepared = self.initialize(options)
        if inspect.isawaitable(prepared):  # an `async def initialize`: on the serving loop
            self._runtime.run_awaitable(prepared)
        return {"status": "ready"}

    @builtin_command("get_info", description="Framework, versions, commands and capabilities.")
    def _builtin_get_info(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        runtime = self._runtime
        return {
            "framework": self.framework,
            "framework_version": runtime.framework_version,
            "bridge_version": self.bridge_version,
            "sdk_version": SDK_VERSION,
            "protocol": PROTOCOL_VERSION,
            "worker_id": runtime.worker_id,
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "codec": runtime.codec.name,
            "max_frame_bytes": runtime.max_frame_bytes,
            "concurrency": runtime.concurrency,
            "commands": [
                name for name, (_, spec) in runtime.commands.items() if not spec.host_only
            ],
            "capabilities": self.capabilities(),
        }

    @builtin_command("get_stats", description="Requests, errors, uptime, memory and sessions.")
    def _builtin_get_stats(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        runtime = self._runtime
        sessions = runtime.sessions
        return {
            "worker_id": runtime.worker_id,
            "pid": os.getpid(),
            "requests": runtime.requests,
            "errors": runtime.errors,
            "in_flight": runtime.in_flight(),
            "uptime_s": (time.monotonic_ns() - runtime.started_ns) / 1e9,
            "rss_bytes": rss_bytes(),
            "sessions": len(sessions),
            "resources": sessions.resource_counts(),
            "anonymous_resources": len(sessions.anonymous.resources),
        }

    @builtin_command(
        "list_commands",
        description="Every command with a one-line description and its declared JSON schemas.",
    )
    def _builtin_list_commands(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        return {
            "commands": [
                describe_command(name, spec, self.framework)
                for name, (_, spec) in self._runtime.commands.items()
                if not spec.host_only
            ]
        }

    @builtin_command("cleanup", description="Drop every resource of every session.", host_only=True)
    def _builtin_cleanup(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        return {"status": "ok", "dropped": self._runtime.sessions.clear()}

    @builtin_command("cleanup_session", description="Drop one session's resources.", host_only=True)
    def _builtin_cleanup_session(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        session_id = cleanup_target(args)
        return {
            "status": "ok",
            "session_id": session_id,
            "dropped": self._runtime.sessions.drop(session_id),
        }

    @builtin_command("shutdown", description="Answer, then exit 0.", host_only=True)
    def _builtin_shutdown(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        self._runtime.stopping = True
        return {"status": "shutting_down"}


def describe_command(name: str, spec: CommandSpec, framework: str) -> dict[str, Any]:
    """One entry of ``list_commands``: name, namespace, description, and ``args_schema`` /
    ``result_schema`` where the command declares them (``@command(schema=...)``)."""
    entry: dict[str, Any] = {
        "name": name,
        "namespace": BUILTIN_NAMESPACE if spec.builtin else framework,
        "description": spec.description,
    }
    if spec.args_schema is not None:
        entry["args_schema"] = spec.args_schema
    if spec.result_schema is not None:
        entry["result_schema"] = spec.result_schema
    return entry


def cleanup_target(args: Any) -> Any:
    """The session id a ``cleanup_session`` request names; ``invalid_argument`` without one."""
    if not isinstance(args, dict) or "session_id" not in args:
        raise BridgeError(
            "cleanup_session needs args {'session_id': ...}", category="invalid_argument"
        )
    return args["session_id"]
