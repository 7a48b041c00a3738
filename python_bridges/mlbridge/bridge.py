"""``BaseBridge``: what a bridge author writes.

A bridge script subclasses :class:`BaseBridge`, declares its commands with ``@command``
and calls ``MyBridge.main()``. Serving the protocol is the runtime's job
(:mod:`mlbridge.runtime`: command line, stdio, hello, one call at a time;
:mod:`mlbridge.async_runtime`: many calls at once on an asyncio loop).

Exit codes: 0 end of input or ``shutdown``; 1 the bridge failed to start (traceback on
stderr); 2 bad command line; 3 protocol error from the host (bad frame, undecodable
or non-map payload).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, NoReturn

from .builtins import PROTOCOL_VERSION, SDK_VERSION, BuiltinCommands
from .process import protect_stdio, rss_bytes

__all__ = ["BaseBridge", "PROTOCOL_VERSION", "SDK_VERSION", "protect_stdio", "rss_bytes"]


class BaseBridge(BuiltinCommands):
    """Base class of every Python bridge.

    Subclasses set :attr:`framework` (and optionally :attr:`bridge_version`,
    :attr:`concurrency` and :attr:`sync_overlap`), may override
    :meth:`framework_version`, :meth:`initialize` and :meth:`capabilities`, and declare
    handlers with ``@command``. A handler is ``(self, args, ctx) -> result``, a plain
    ``def`` or an ``async def`` (or an ``async def`` generator that yields chunks); it
    may raise any exception (reported with its type, message and traceback) or
    :class:`~mlbridge.errors.BridgeError` to give a category. A subclass ``__init__``
    need not call ``super().__init__()``.
    """

    framework: ClassVar[str] = "base"
    """The framework's name: reported in hello and used as the command namespace."""
    bridge_version: ClassVar[str] = SDK_VERSION
    """The version of this bridge script."""
    concurrency: ClassVar[int] = 1
    """Calls one worker runs at once unless the host says otherwise (``--concurrency N``,
    from the YAML's ``pool.max_concurrency``); reported in hello.

    1 serves one call at a time on the main thread (SIGINT cancels it). Above 1 the worker
    runs an asyncio loop: ``async def`` commands run as tasks side by side, plain ``def``
    commands in a bounded thread pool. Clamped to 1..10000.
    """
    sync_overlap: ClassVar[bool] = False
    """May calls of plain ``def`` commands run side by side in the thread pool of a
    concurrent worker? False (the default) runs them one at a time, for code that is not
    thread-safe; ``@command(..., overlap=True)`` allows it for one command."""

    # ----------------------------------------------------------------- hooks

    def framework_version(self) -> str:
        """The framework's version; by default that of the installed distribution."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.framework)
        except (PackageNotFoundError, ValueError):
            return "unknown"

    def initialize(self, options: dict[str, Any]) -> Any:
        """Prepare the framework with the bridge's ``options``; runs on ``init``.

        May be an ``async def``: it then runs on the event loop the async commands use, so
        it can create clients bound to that loop. In a concurrent worker ``init`` runs in
        the thread pool, so a plain ``def initialize`` never blocks the loop.
        """

    def capabilities(self) -> dict[str, Any]:
        """Features reported by ``get_info``."""
        return {"streaming": True, "sessions": True, "cancellation": True}

    # --------------------------------------------------------------- helpers

    def log(self, level: str, message: str) -> None:
        """Send a ``log`` frame to the host (to stderr before the worker runs).

        Any thread may call it.
        """
        runtime = getattr(self, "_runtime", None)
        if runtime is None:
            print(f"[{level}] {message}", file=sys.stderr)
        else:
            runtime.send({"type": "log", "level": level, "message": message})

    # ------------------------------------------------------------ the worker

    @classmethod
    def main(cls, argv: list[str] | None = None) -> NoReturn:
        """Run this bridge as a worker process; never returns (see the module docstring)."""
        from .runtime import run_worker

        run_worker(cls, argv)
