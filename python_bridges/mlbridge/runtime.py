"""The runtime that serves a bridge: command line, stdio, hello, responses.

``run_worker(cls)`` (what ``BaseBridge.main()`` does):

1. moves the protocol onto private duplicates of fd 0 and fd 1, points fd 1 (and
   ``sys.stdout``) at stderr and fd 0 at ``/dev/null``, so nothing a handler or a C
   library prints or reads can touch the frames;
2. parses ``--worker-id ID --codec json|msgpack --protocol 1 [--max-frame-bytes N]
   [--concurrency N] [--code-path DIR]... [--code-module NAME]...``;
3. loads the user's declared code (:mod:`mlbridge.user_code`; an import error fails the
   start like a bridge script's), constructs the bridge and sends the hello frame;
4. at concurrency 1 serves requests one at a time until end of input or ``shutdown``
   (:class:`~mlbridge.sync_runtime.SyncRuntime`); above 1 serves many at once on an
   asyncio loop (:class:`~mlbridge.async_runtime.AsyncRuntime`).

:class:`Runtime` holds what both share: the worker's state (read by the built-in
commands), the hello, and error responses.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from .builtins import PROTOCOL_VERSION
from .codec import Codec, MsgpackCodec, get_codec
from .command import BUILTIN_NAMESPACE, CommandSpec, discover
from .errors import error_map, exception_to_error
from .framing import DEFAULT_MAX_FRAME_BYTES, FrameError, FrameTooLarge
from .process import protect_stdio
from .resources import SessionStore
from .secrets import REDACTOR, install_redacting_stdio
from .session import Session, success_response
from .shared_blobs import SharedBlobs, attach_from_environment

if TYPE_CHECKING:
    from .bridge import BaseBridge

EXIT_OK = 0
EXIT_STARTUP_FAILED = 1
EXIT_USAGE = 2
EXIT_PROTOCOL_ERROR = 3

MAX_CONCURRENCY = 10000
"""The most calls one worker runs at once (the host clamps to the same bound)."""


# ------------------------------------------------------------------ command line


def _concurrency_argument(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_CONCURRENCY}, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be at least 1 (1 serves one call at a time), got {value}"
        )
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The worker's command line; a bad one exits 2 with a message naming the argument."""
    parser = argparse.ArgumentParser(
        description="An mlbridge worker. Spawned by the mlbridge host; speaks frames on stdio.",
        allow_abbrev=False,
    )
    parser.add_argument("--worker-id", default=f"worker-{os.getpid()}", help="id used in logs")
    parser.add_argument("--codec", choices=("json", "msgpack"), default="json")
    parser.add_argument("--protocol", type=int, default=PROTOCOL_VERSION)
    parser.add_argument(
        "--max-frame-bytes",
        type=int,
        default=DEFAULT_MAX_FRAME_BYTES,
        help=f"largest frame payload accepted or sent (default {DEFAULT_MAX_FRAME_BYTES})",
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrency_argument,
        default=None,
        help="calls this worker runs at once (default: the bridge class's `concurrency`); "
        f"1 serves one at a time, more runs an asyncio loop; at most {MAX_CONCURRENCY}",
    )
    parser.add_argument(
        "--code-path",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory put at the front of sys.path before the code modules are imported "
        "(repeatable; the bridge's code.paths)",
    )
    parser.add_argument(
        "--code-module",
        action="append",
        default=[],
        metavar="NAME",
        help="a module imported at start whose objects requests may name as 'NAME:attr' "
        "(repeatable; the bridge's code.modules)",
    )
    options, unknown = parser.parse_known_args(argv)
    if options.protocol != PROTOCOL_VERSION:
        parser.error(
            f"unsupported --protocol {options.protocol}; this SDK speaks {PROTOCOL_VERSION}"
        )
    if options.max_frame_bytes < 1:
        parser.error("--max-frame-bytes must be at least 1")
    if unknown:
        print(f"mlbridge: ignoring unknown arguments {unknown}", file=sys.stderr)
    return options


def effective_concurrency(requested: int | None, class_default: object) -> int:
    """``requested`` (from ``--concurrency``) or the class's default, clamped to 1..10000.

    A value out of range is clamped with a warning on stderr.
    """
    source = "--concurrency" if requested is not None else "the bridge class's concurrency"
    value = requested if requested is not None else class_default
    if isinstance(value, bool) or not isinstance(value, int):
        print(
            f"mlbridge: {source} is {value!r}, not an integer; serving one call at a time",
            file=sys.stderr,
        )
        return 1
    if value > MAX_CONCURRENCY:
        print(
            f"mlbridge: warning: {source} {value} is above the limit; "
            f"clamped to {MAX_CONCURRENCY} calls at once",
            file=sys.stderr,
        )
        return MAX_CONCURRENCY
    if value < 1:
        print(
            f"mlbridge: warning: {source} {value} is below 1; serving one call at a time",
            file=sys.stderr,
        )
        return 1
    return value


def run_worker(cls: type[BaseBridge], argv: list[str] | None = None) -> NoReturn:
    """Run ``cls`` as a worker process; never returns (see the module docstring)."""
    in_fd, out_fd = protect_stdio()
    # Secrets in the environment never reach the host's log or an error message.
    install_redacting_stdio()
    REDACTOR.add_from_env()
    from .sync_runtime import on_sigint

    signal.signal(signal.SIGINT, on_sigint)
    options = parse_args(argv)
    concurrency = effective_concurrency(options.concurrency, getattr(cls, "concurrency", 1))
    try:
        if options.code_path or options.code_module:
            from .user_code import load_user_code

            load_user_code(options.code_path, options.code_module)
        bridge = cls()
        if concurrency == 1:
            from .sync_runtime import SyncRuntime

            runtime: Runtime = SyncRuntime(bridge, options, in_fd, out_fd, concurrency)
        else:
            from .async_runtime import AsyncRuntime

            runtime = AsyncRuntime(bridge, options, in_fd, out_fd, concurrency)
        runtime.start()
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"mlbridge: {cls.__name__} failed to start", file=sys.stderr)
        sys.exit(EXIT_STARTUP_FAILED)
    sys.exit(runtime.serve())


# ------------------------------------------------------------------ shared by both runtimes


class Runtime:
    """The worker's state and what both runtimes do alike: hello, errors, responses.

    Attributes the built-in commands read: ``pong``, ``started_ns``, ``worker_id``,
    ``framework_version``, ``codec``, ``max_frame_bytes``, ``concurrency``, ``commands``,
    ``sessions``, ``requests``, ``errors``, ``stopping``.
    """

    pipelining = False

    def __init__(
        self,
        bridge: BaseBridge,
        options: argparse.Namespace,
        in_fd: int,
        out_fd: int,
        concurrency: int,
    ) -> None:
        framework = bridge.framework
        if not framework or ":" in framework or framework == BUILTIN_NAMESPACE:
            raise ValueError(f"{type(bridge).__name__}.framework {framework!r} is not a valid name")
        self.bridge = bridge
        self.framework = framework
        self.started_ns = time.monotonic_ns()
        self.worker_id: str = options.worker_id
        self.max_frame_bytes: int = options.max_frame_bytes
        self.concurrency = concurrency
        self.in_fd, self.out_fd = in_fd, out_fd
        self.codec: Codec = get_codec(options.codec)
        self.blobs: SharedBlobs | None = None
        if isinstance(self.codec, MsgpackCodec):
            self.blobs = attach_from_environment(options.max_frame_bytes)
            if self.blobs is not None:
                self.codec.use_shared_blobs(self.blobs)
        self.sessions = SessionStore()
        self.requests = 0
        self.errors = 0
        self.stopping = False
        commands = discover(type(bridge))
        # Built-ins first, then the framework's commands in definition order.
        self.commands: dict[str, tuple[str, CommandSpec]] = dict(
            sorted(commands.items(), key=lambda item: not item[1][1].builtin)
        )
        self.pong = {"status": "ok", "worker_id": self.worker_id, "uptime_s": 0}
        self.pong["framework"] = framework
        bridge._runtime = self  # the built-ins and log() read it

    def start(self) -> None:
        """Finish setting up and send hello (runs in ``main`` before serving)."""
        self.framework_version = str(self.bridge.framework_version())
        self.send(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "worker_id": self.worker_id,
                "pid": os.getpid(),
                "framework": self.framework,
                "framework_version": self.framework_version,
                "bridge_version": self.bridge.bridge_version,
                "commands": list(self.commands),
                "concurrency": self.concurrency,
                "shared_blobs": self.blobs is not None,
                "pipelining": self.pipelining,
            }
        )

    # Overridden: how a message reaches the host.
    def send(self, message: dict[str, Any]) -> None:
        """Send one message to the host; any thread may call it."""
        raise NotImplementedError

    def send_response(self, message: dict[str, Any]) -> None:
        """Send a response (from the serving thread)."""
        raise NotImplementedError

    def serve(self) -> int:
        """Serve until end of input or ``shutdown``; return the exit code."""
        raise NotImplementedError

    def in_flight(self) -> int:
        """Calls running or waiting in this worker now (not counting the one asking)."""
        return 0

    def run_awaitable(self, awaitable: Any) -> Any:
        """Run ``awaitable`` to completion on the loop the async handlers use; return its
        result. For ``async def initialize``; called from the thread that runs ``init``."""
        raise NotImplementedError

    # Responses.
    def send_session_result(
        self, request_id: Any, command: object, result: Any, call_session: Session
    ) -> None:
        """Send a success response with what the handler changed in its session."""
        try:
            self.send_response(success_response(request_id, result, call_session))
        except Exception as exc:
            self.send_unencodable(request_id, command, exc)

    def send_error(self, request_id: Any, command: object, error: dict[str, Any]) -> None:
        """Count an error and send its response, with every known secret redacted."""
        self.errors += 1
        error = REDACTOR.redact_value(error)
        response = {"type": "response", "id": request_id, "success": False, "error": error}
        try:
            self.send_response(response)
        except Exception as exc:
            self.send_unencodable(request_id, command, exc, counted=True)

    def send_bad_frame(self, exc: FrameError) -> int:
        """Answer a bad frame from the host (id null, it cannot be known); return exit code 3."""
        self.send_response(
            {
                "type": "response",
                "id": None,
                "success": False,
                "error": error_map("ProtocolError", str(exc), "protocol_error"),
            }
        )
        return protocol_exit(f"bad frame from the host: {exc}")

    def send_unencodable(
        self, request_id: Any, command: object, exc: Exception, counted: bool = False
    ) -> None:
        """A response failed to encode or is too large: send an error in its place."""
        if isinstance(exc, OSError):  # the pipe, not the response: nothing to answer
            raise exc
        if isinstance(exc, FrameTooLarge):
            error = error_map(
                "FrameTooLarge",
                f"the response to {short(command)} is {exc.length} bytes, "
                f"more than max_frame_bytes ({exc.limit})",
                "resource_exhausted",
            )
        else:
            error = exception_to_error(exc)
            error["message"] = (
                f"cannot encode the response to {short(command)} "
                f"as {self.codec.name}: {error['message']}"
            )
            error["category"] = "internal"
        if not counted:
            self.errors += 1
        error = REDACTOR.redact_value(error)
        failure = {"type": "response", "id": request_id, "success": False, "error": error}
        try:
            self.send_response(failure)
        except OSError:
            raise
        except Exception:
            # Even this error does not encode (e.g. a lone surrogate in its message).
            failure["error"] = error_map(
                error["type"].encode("ascii", "replace").decode(),
                "the response could not be encoded",
                "internal",
            )
            self.send_response(failure)

    def unknown_command(self, name: object) -> dict[str, Any]:
        """The error for a command this worker does not answer."""
        if not isinstance(name, str):
            message = f"request has no command name (got {type(name).__name__})"
        else:
            namespace, colon, _ = name.partition(":")
            if colon and namespace not in (BUILTIN_NAMESPACE, self.framework):
                message = (
                    f"unknown namespace {namespace!r} in command {short(name)}; "
                    f"this worker answers '{BUILTIN_NAMESPACE}:' and '{self.framework}:'"
                )
            else:
                message = (
                    f"unknown command {short(name)} for bridge {self.framework!r}; "
                    f"list_commands names the {len(self.commands)} commands it answers"
                )
        return error_map("UnknownCommand", message, "not_found")


def cancelled_error(request_id: Any) -> dict[str, Any]:
    """The error a cancelled call is answered with."""
    return error_map("Cancelled", f"request {request_id} was cancelled", "cancelled")


def protocol_exit(reason: str) -> int:
    """Log a protocol error from the host; return exit code 3."""
    print(f"mlbridge: protocol error: {reason}; exiting", file=sys.stderr)
    return EXIT_PROTOCOL_ERROR


def short(name: object, limit: int = 80) -> str:
    """``repr(name)``, cut to ``limit`` characters."""
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 3] + "..."
