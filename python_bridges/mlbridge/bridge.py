"""``BaseBridge``: the worker side of the mlbridge protocol.

A bridge script subclasses :class:`BaseBridge`, declares its commands with
``@command`` and calls ``MyBridge.main()``. ``main()``:

1. moves the protocol onto private duplicates of fd 0 and fd 1, points fd 1 (and
   ``sys.stdout``) at stderr and fd 0 at ``/dev/null``, so nothing a handler or a C
   library prints or reads can touch the frames;
2. parses ``--worker-id ID --codec json|msgpack --protocol 1 [--max-frame-bytes N]``;
3. constructs the bridge and sends the hello frame;
4. serves requests one at a time until end of input or ``shutdown``.

Exit codes: 0 end of input or ``shutdown``; 1 the bridge failed to start (traceback on
stderr); 2 bad command line; 3 protocol error from the host (bad frame, undecodable
or non-map payload).

Cancellation: SIGINT raises ``KeyboardInterrupt`` only while a handler runs (once per
request, and never in the middle of writing a frame); the request is answered with a
``Cancelled`` error and the worker keeps serving. A SIGINT while idle is ignored. With
a cancel pipe (``MLBRIDGE_CANCEL_FD``, see :mod:`mlbridge.cancel_pipe`) a SIGINT
interrupts only the request the pipe names, and a named request still waiting in
stdin is answered ``Cancelled`` without running.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any, ClassVar, NoReturn

from . import cancel_pipe
from .codec import Codec, MsgpackCodec, get_codec
from .command import BUILTIN_NAMESPACE, CommandSpec, build_routes, builtin_command, discover
from .context import CallContext, Send
from .errors import BridgeError, error_map, exception_to_error
from .framing import DEFAULT_MAX_FRAME_BYTES, FrameError, FrameReader, FrameTooLarge, FrameWriter
from .resources import SessionStore
from .secrets import REDACTOR, install_redacting_stdio
from .session import Session, success_response
from .shared_blobs import attach_from_environment

SDK_VERSION = "0.1.0"
PROTOCOL_VERSION = 1

EXIT_OK = 0
EXIT_STARTUP_FAILED = 1
EXIT_USAGE = 2
EXIT_PROTOCOL_ERROR = 3


def rss_bytes() -> int | None:
    """The resident set size of this process, from ``/proc/self/statm`` (Linux)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


_protocol_fds: tuple[int, int] | None = None


def protect_stdio() -> tuple[int, int]:
    """Move the protocol off fds 0 and 1; return ``(input fd, output fd)``.

    The private duplicates are not inherited by child processes. Afterwards fd 1
    and a new line-buffered ``sys.stdout`` write to stderr, and fd 0 reads
    ``/dev/null``. ``main()`` calls this first; a bridge script whose imports print
    to stdout calls it before those imports. Later calls return the same fds.
    """
    global _protocol_fds
    if _protocol_fds is not None:
        return _protocol_fds
    out_fd = os.dup(1)
    in_fd = os.dup(0)
    os.dup2(2, 1)
    try:  # text printed earlier and still buffered now goes to stderr too
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):
        pass
    null_fd = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null_fd, 0)
    finally:
        os.close(null_fd)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout = open(  # lives as long as the process
        1, "w", buffering=1, encoding=encoding, errors="backslashreplace", closefd=False
    )
    _protocol_fds = (in_fd, out_fd)
    return _protocol_fds


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
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


class BaseBridge:
    """Base class of every Python bridge.

    Subclasses set :attr:`framework` (and optionally :attr:`bridge_version` and
    :attr:`concurrency`), may override :meth:`framework_version`, :meth:`initialize`
    and :meth:`capabilities`, and declare handlers with ``@command``. A handler is
    ``(self, args, ctx) -> result``; it may raise any exception (reported with its
    type, message and traceback) or :class:`~mlbridge.errors.BridgeError` to give a
    category. A subclass ``__init__`` need not call ``super().__init__()``.
    """

    framework: ClassVar[str] = "base"
    """The framework's name: reported in hello and used as the command namespace."""
    bridge_version: ClassVar[str] = SDK_VERSION
    """The version of this bridge script."""
    concurrency: ClassVar[int] = 1
    """Requests the host may have in flight to one worker (reported in hello).

    This SDK serves one request at a time; a higher value only lets the host queue
    requests at the worker.
    """

    # ----------------------------------------------------------------- hooks

    def framework_version(self) -> str:
        """The framework's version; by default that of the installed distribution."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.framework)
        except (PackageNotFoundError, ValueError):
            return "unknown"

    def initialize(self, options: dict[str, Any]) -> None:
        """Prepare the framework with the bridge's ``options``; runs on ``init``."""

    def capabilities(self) -> dict[str, Any]:
        """Features reported by ``get_info``."""
        return {"streaming": True, "sessions": True, "cancellation": True}

    # --------------------------------------------------------------- helpers

    def log(self, level: str, message: str) -> None:
        """Send a ``log`` frame to the host (to stderr before the worker runs)."""
        send = getattr(self, "_send", None)
        if send is None:
            print(f"[{level}] {message}", file=sys.stderr)
        else:
            send({"type": "log", "level": level, "message": message})

    # ------------------------------------------------------------- built-ins

    @builtin_command("ping", description="Liveness check: worker id, uptime, framework.")
    def _builtin_ping(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        # The host pings often and the benchmark measures it: one dict, built at start
        # and encoded before the next request can change it; uptime in whole seconds
        # (an int encodes much faster than a float).
        pong = self._pong
        pong["uptime_s"] = (time.monotonic_ns() - self._started_ns) // 1_000_000_000
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
        self.initialize(options)
        return {"status": "ready"}

    @builtin_command("get_info", description="Framework, versions, commands and capabilities.")
    def _builtin_get_info(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "framework_version": self._framework_version,
            "bridge_version": self.bridge_version,
            "sdk_version": SDK_VERSION,
            "protocol": PROTOCOL_VERSION,
            "worker_id": self._worker_id,
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "codec": self._codec.name,
            "max_frame_bytes": self._max_frame_bytes,
            "concurrency": self.concurrency,
            "commands": [name for name, (_, spec) in self._commands.items() if not spec.host_only],
            "capabilities": self.capabilities(),
        }

    @builtin_command("get_stats", description="Requests, errors, uptime, memory and sessions.")
    def _builtin_get_stats(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        sessions = self._sessions
        return {
            "worker_id": self._worker_id,
            "pid": os.getpid(),
            "requests": self._requests,
            "errors": self._errors,
            "uptime_s": (time.monotonic_ns() - self._started_ns) / 1e9,
            "rss_bytes": rss_bytes(),
            "sessions": len(sessions),
            "resources": sessions.resource_counts(),
            "anonymous_resources": len(sessions.anonymous.resources),
        }

    @builtin_command("list_commands", description="Every command with a one-line description.")
    def _builtin_list_commands(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        return {
            "commands": [
                {
                    "name": name,
                    "namespace": BUILTIN_NAMESPACE if spec.builtin else self.framework,
                    "description": spec.description,
                }
                for name, (_, spec) in self._commands.items()
                if not spec.host_only
            ]
        }

    @builtin_command("cleanup", description="Drop every resource of every session.", host_only=True)
    def _builtin_cleanup(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        return {"status": "ok", "dropped": self._sessions.clear()}

    @builtin_command("cleanup_session", description="Drop one session's resources.", host_only=True)
    def _builtin_cleanup_session(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        if not isinstance(args, dict) or "session_id" not in args:
            raise BridgeError(
                "cleanup_session needs args {'session_id': ...}", category="invalid_argument"
            )
        session_id = args["session_id"]
        return {
            "status": "ok",
            "session_id": session_id,
            "dropped": self._sessions.drop(session_id),
        }

    @builtin_command("shutdown", description="Answer, then exit 0.", host_only=True)
    def _builtin_shutdown(self, args: Any, ctx: CallContext) -> dict[str, Any]:
        self._stopping = True
        return {"status": "shutting_down"}

    # ------------------------------------------------------------ the worker

    @classmethod
    def main(cls, argv: list[str] | None = None) -> NoReturn:
        """Run this bridge as a worker process; never returns (see the module docstring)."""
        in_fd, out_fd = protect_stdio()
        # Secrets in the environment never reach the host's log or an error message.
        install_redacting_stdio()
        REDACTOR.add_from_env()
        signal.signal(signal.SIGINT, _on_sigint)
        options = _parse_args(argv)
        try:
            bridge = cls()
            bridge._start(options, in_fd, out_fd)
        except Exception:
            import traceback

            traceback.print_exc()
            print(f"mlbridge: {cls.__name__} failed to start", file=sys.stderr)
            sys.exit(EXIT_STARTUP_FAILED)
        sys.exit(bridge._serve())

    def _start(self, options: argparse.Namespace, in_fd: int, out_fd: int) -> None:
        """Set up the worker's state and send hello."""
        framework = self.framework
        if not framework or ":" in framework or framework == BUILTIN_NAMESPACE:
            raise ValueError(f"{type(self).__name__}.framework {framework!r} is not a valid name")
        self._started_ns = time.monotonic_ns()
        self._worker_id: str = options.worker_id
        self._max_frame_bytes: int = options.max_frame_bytes
        self._codec: Codec = get_codec(options.codec)
        blobs = None
        if isinstance(self._codec, MsgpackCodec):
            blobs = attach_from_environment(options.max_frame_bytes)
            if blobs is not None:
                self._codec.use_shared_blobs(blobs)
        # Requests may then wait in stdin behind the running one (see cancel_pipe).
        cancel_fd = cancel_pipe.attach_from_environment()
        pipelining = self.concurrency == 1 and _SIGINT.attach(cancel_fd)
        self._reader = FrameReader(in_fd, options.max_frame_bytes)
        self._writer = FrameWriter(out_fd, options.max_frame_bytes)
        self._send_lock = threading.Lock()
        self._sessions = SessionStore()
        self._requests = 0
        self._errors = 0
        self._stopping = False
        commands = discover(type(self))
        # Built-ins first, then the framework's commands in definition order.
        self._commands: dict[str, tuple[str, CommandSpec]] = dict(
            sorted(commands.items(), key=lambda item: not item[1][1].builtin)
        )
        self._routes = build_routes(self, self._commands, framework)
        self._framework_version = str(self.framework_version())
        self._pong = {
            "status": "ok",
            "worker_id": self._worker_id,
            "uptime_s": 0,
            "framework": framework,
        }
        self._send, self._send_response = self._make_senders()
        self._send(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "worker_id": self._worker_id,
                "pid": os.getpid(),
                "framework": framework,
                "framework_version": self._framework_version,
                "bridge_version": self.bridge_version,
                "commands": list(self._commands),
                "concurrency": self.concurrency,
                "shared_blobs": blobs is not None,
                "pipelining": pipelining,
            }
        )

    def _make_senders(self) -> tuple[Send, Send]:
        """Build ``send`` (any thread, any time) and ``send_response`` (the serving loop).

        Both encode and write one frame under the send lock, so frames from several
        threads never interleave. ``send`` also holds back a SIGINT that arrives while
        the main thread writes until the frame is complete, so a cancellation never
        leaves half a frame on the pipe; ``send_response`` runs when no handler does,
        when SIGINT is ignored anyway, and skips that bookkeeping.
        """
        lock = self._send_lock
        encode_to = self._codec.encode_to
        write = self._writer.write
        state = _SIGINT

        acquire, release = lock.acquire, lock.release  # cheaper than `with lock`
        get_ident = threading.get_ident
        main_thread = threading.main_thread().ident

        def send(message: dict[str, Any]) -> None:
            if get_ident() != main_thread:  # signal handlers only run in the main thread
                acquire()
                try:
                    encode_to(message, write)
                finally:
                    release()
                return
            # Deferral starts before the lock is taken and ends after it is released,
            # so a KeyboardInterrupt can neither cut a frame nor leave the lock held.
            state.writing = True
            try:
                acquire()
                try:
                    encode_to(message, write)
                finally:
                    release()
            finally:
                state.writing = False
            if state.deferred:
                state.deferred = False
                if state.busy:
                    state.busy = False
                    raise KeyboardInterrupt

        def send_response(message: dict[str, Any]) -> None:
            acquire()
            try:
                encode_to(message, write)
            finally:
                release()

        return send, send_response

    def _serve(self) -> int:
        """Serve requests until end of input or ``shutdown``; return the exit code.

        This is the hot path, kept flat on purpose: every Python call it saves shows
        in the ping round trip. Rare cases go to helper methods.
        """
        read = self._reader.read_frame
        decode = self._codec.decode
        routes = self._routes
        session = self._sessions.get
        anonymous = self._sessions.anonymous
        send = self._send
        acquire, release = self._send_lock.acquire, self._send_lock.release
        encode_result_to = self._codec.encode_result_to
        write = self._writer.write
        worker_id = self._worker_id
        state = _SIGINT
        cancelled = state.cancelled
        try:
            while True:
                try:
                    frame = read()
                except FrameError as exc:
                    return self._bad_frame(exc)
                if frame is None:
                    return EXIT_OK
                try:
                    message = decode(frame)
                except Exception as exc:
                    return _protocol_exit(f"undecodable {self._codec.name} frame: {exc!r}")
                try:
                    kind = message.get("type")
                except AttributeError:  # only a map has .get(); cheaper than a type check
                    return _protocol_exit(
                        f"frame is a {type(message).__name__}, not a map; cannot answer it"
                    )
                if kind != "request" and kind is not None:
                    print(f"mlbridge: ignoring a {kind!r} message from the host", file=sys.stderr)
                    continue
                self._requests += 1
                request_id = message.get("id")
                command = message.get("command")
                try:
                    handler = routes.get(command)
                except TypeError:  # an unhashable command
                    handler = None
                if handler is None:
                    self._send_error(request_id, command, self._unknown_command(command))
                else:
                    call_session = anonymous
                    try:
                        args = message.get("args")
                        session_id = message.get("session_id")
                        call_session = session(session_id) if session_id else anonymous
                        synced = message.get("session_state")
                        if synced is not None:
                            call_session.sync(synced)
                        ctx = CallContext(
                            request_id, call_session, message.get("deadline_ms"), worker_id, send
                        )
                        state.running = request_id
                        state.busy = True
                        if cancelled:  # a request the host cancelled while it waited in stdin
                            if request_id in cancelled:
                                raise KeyboardInterrupt
                            cancel_pipe.forget_older(cancelled, request_id)
                        result = handler({} if args is None else args, ctx)
                        state.busy = False
                    except KeyboardInterrupt:
                        state.busy = False
                        cancelled.discard(request_id)
                        call_session.discard_updates()
                        self._send_error(request_id, command, _cancelled(request_id))
                    except Exception as exc:
                        state.busy = False
                        call_session.discard_updates()
                        REDACTOR.add_from_args(message.get("args"))
                        self._send_error(request_id, command, exception_to_error(exc))
                    else:
                        if call_session.dirty:  # the handler touched its session: the slow path
                            self._send_session_result(request_id, command, result, call_session)
                            continue  # (shutdown, which sets _stopping, never touches a session)
                        acquire()  # what send_response() does, for a success response
                        try:
                            encode_result_to(request_id, result, write)
                            failure = None
                        except Exception as exc:
                            failure = exc
                        finally:
                            release()
                        if failure is not None:
                            self._send_unencodable(request_id, command, failure)
                if self._stopping:
                    return EXIT_OK
        except BrokenPipeError:
            print("mlbridge: the host closed the pipe; exiting", file=sys.stderr)
            return EXIT_OK

    def _send_session_result(
        self, request_id: Any, command: object, result: Any, call_session: Session
    ) -> None:
        """Send a success response with what the handler changed in its session."""
        try:
            self._send_response(success_response(request_id, result, call_session))
        except Exception as exc:
            self._send_unencodable(request_id, command, exc)

    def _send_error(self, request_id: Any, command: object, error: dict[str, Any]) -> None:
        """Count an error and send its response, with every known secret redacted."""
        self._errors += 1
        error = REDACTOR.redact_value(error)
        response = {"type": "response", "id": request_id, "success": False, "error": error}
        try:
            self._send_response(response)
        except Exception as exc:
            self._send_unencodable(request_id, command, exc, counted=True)

    def _bad_frame(self, exc: FrameError) -> int:
        """Answer a bad frame from the host (id null, it cannot be known); return exit code 3."""
        self._send_response(
            {
                "type": "response",
                "id": None,
                "success": False,
                "error": error_map("ProtocolError", str(exc), "protocol_error"),
            }
        )
        return _protocol_exit(f"bad frame from the host: {exc}")

    def _send_unencodable(
        self, request_id: Any, command: object, exc: Exception, counted: bool = False
    ) -> None:
        """A response failed to encode or is too large: send an error in its place."""
        if isinstance(exc, OSError):  # the pipe, not the response: nothing to answer
            raise exc
        if isinstance(exc, FrameTooLarge):
            error = error_map(
                "FrameTooLarge",
                f"the response to {_short(command)} is {exc.length} bytes, "
                f"more than max_frame_bytes ({exc.limit})",
                "resource_exhausted",
            )
        else:
            error = exception_to_error(exc)
            error["message"] = (
                f"cannot encode the response to {_short(command)} "
                f"as {self._codec.name}: {error['message']}"
            )
            error["category"] = "internal"
        if not counted:
            self._errors += 1
        error = REDACTOR.redact_value(error)
        failure = {"type": "response", "id": request_id, "success": False, "error": error}
        try:
            self._send_response(failure)
        except OSError:
            raise
        except Exception:
            # Even this error does not encode (e.g. a lone surrogate in its message).
            failure["error"] = error_map(
                error["type"].encode("ascii", "replace").decode(),
                "the response could not be encoded",
                "internal",
            )
            self._send_response(failure)

    def _unknown_command(self, name: object) -> dict[str, Any]:
        """The error for a command this worker does not answer."""
        if not isinstance(name, str):
            message = f"request has no command name (got {type(name).__name__})"
        else:
            namespace, colon, _ = name.partition(":")
            if colon and namespace not in (BUILTIN_NAMESPACE, self.framework):
                message = (
                    f"unknown namespace {namespace!r} in command {_short(name)}; "
                    f"this worker answers '{BUILTIN_NAMESPACE}:' and '{self.framework}:'"
                )
            else:
                message = (
                    f"unknown command {_short(name)} for bridge {self.framework!r}; "
                    f"list_commands names the {len(self._commands)} commands it answers"
                )
        return error_map("UnknownCommand", message, "not_found")


class _SigintState:
    """Shared with the SIGINT handler: is a handler running (which request), is a frame
    being written, and the cancel pipe with the ids read from it."""

    __slots__ = ("busy", "writing", "deferred", "running", "cancel_fd", "cancelled")

    def __init__(self) -> None:
        self.busy = False
        self.writing = False
        self.deferred = False
        self.running: object = None
        self.cancel_fd: int | None = None
        self.cancelled: set[int] = set()

    def attach(self, cancel_fd: int | None) -> bool:
        """Read request ids from ``cancel_fd`` on SIGINT; True if there is one."""
        self.cancel_fd = cancel_fd
        return cancel_fd is not None


_SIGINT = _SigintState()


def _on_sigint(signum: int, frame: object) -> None:
    """Raise KeyboardInterrupt in a running handler, at most once per request.

    With a cancel pipe, only when the pipe names the running request; the other ids
    it names wait in ``cancelled`` for the serving loop.
    """
    state = _SIGINT
    if state.cancel_fd is not None:
        cancel_pipe.read_cancelled(state.cancel_fd, state.cancelled)
        if state.running not in state.cancelled:
            return
    if not state.busy:
        return
    if state.writing:
        state.deferred = True
        return
    state.busy = False
    raise KeyboardInterrupt


def _cancelled(request_id: Any) -> dict[str, Any]:
    return error_map("Cancelled", f"request {request_id} was cancelled", "cancelled")


def _protocol_exit(reason: str) -> int:
    print(f"mlbridge: protocol error: {reason}; exiting", file=sys.stderr)
    return EXIT_PROTOCOL_ERROR


def _short(name: object, limit: int = 80) -> str:
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 3] + "..."
