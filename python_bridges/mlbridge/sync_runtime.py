"""Serving one call at a time on the main thread (concurrency 1, the original path).

Cancellation: SIGINT raises ``KeyboardInterrupt`` only while a handler runs (once per
request, and never in the middle of writing a frame); the request is answered with a
``Cancelled`` error and the worker keeps serving. A SIGINT while idle is ignored. With a
cancel pipe (``MLBRIDGE_CANCEL_FD``, see :mod:`mlbridge.cancel_pipe`) a SIGINT interrupts
only the request the pipe names, and a named request still waiting in stdin is answered
``Cancelled`` without running. An ``async def`` handler runs on a persistent event loop in
the main thread (:class:`~mlbridge.handlers.MainThreadLoop`); SIGINT cancels its task.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from . import cancel_pipe
from .command import build_routes
from .context import _CURRENT, CallContext, Send
from .errors import exception_to_error
from .framing import FrameError, FrameReader, FrameWriter
from .handlers import Kind, MainThreadLoop, kind_of
from .runtime import EXIT_OK, Runtime, cancelled_error, protocol_exit
from .secrets import REDACTOR


class SyncRuntime(Runtime):
    """Serves one request at a time on the main thread (today's path, SIGINT cancels)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Requests may then wait in stdin behind the running one (see cancel_pipe).
        self.pipelining = _SIGINT.attach(cancel_pipe.attach_from_environment())
        self._reader = FrameReader(self.in_fd, self.max_frame_bytes)
        self._writer = FrameWriter(self.out_fd, self.max_frame_bytes)
        self._send_lock = threading.Lock()
        routes = build_routes(self.bridge, self.commands, self.framework)
        self._loop = loop = MainThreadLoop()
        for name, handler in routes.items():
            kind = kind_of(handler)
            if kind is not Kind.SYNC:
                routes[name] = loop.wrap(handler, kind)
        self._routes = routes
        self.send, self.send_response = self._make_senders()

    def run_awaitable(self, awaitable: Any) -> Any:
        return self._loop.run(awaitable)

    def _make_senders(self) -> tuple[Send, Send]:
        """Build ``send`` (any thread, any time) and ``send_response`` (the serving loop).

        Both encode and write one frame under the send lock, so frames from several
        threads never interleave. ``send`` also holds back a SIGINT that arrives while
        the main thread writes until the frame is complete, so a cancellation never
        leaves half a frame on the pipe; ``send_response`` runs when no handler does,
        when SIGINT is ignored anyway, and skips that bookkeeping.
        """
        lock = self._send_lock
        encode_to = self.codec.encode_to
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

    def serve(self) -> int:
        """Serve requests until end of input or ``shutdown``; return the exit code.

        This is the hot path, kept flat on purpose: every Python call it saves shows
        in the ping round trip. Rare cases go to helper methods.
        """
        read = self._reader.read_frame
        decode = self.codec.decode
        routes = self._routes
        session = self.sessions.get
        anonymous = self.sessions.anonymous
        send = self.send
        acquire, release = self._send_lock.acquire, self._send_lock.release
        encode_result_to = self.codec.encode_result_to
        write = self._writer.write
        worker_id = self.worker_id
        set_current = _CURRENT.set
        state = _SIGINT
        cancelled = state.cancelled
        try:
            while True:
                try:
                    frame = read()
                except FrameError as exc:
                    return self.send_bad_frame(exc)
                if frame is None:
                    return EXIT_OK
                try:
                    message = decode(frame)
                except Exception as exc:
                    return protocol_exit(f"undecodable {self.codec.name} frame: {exc!r}")
                try:
                    kind = message.get("type")
                except AttributeError:  # only a map has .get(); cheaper than a type check
                    return protocol_exit(
                        f"frame is a {type(message).__name__}, not a map; cannot answer it"
                    )
                if kind != "request" and kind is not None:
                    print(f"mlbridge: ignoring a {kind!r} message from the host", file=sys.stderr)
                    continue
                self.requests += 1
                request_id = message.get("id")
                command = message.get("command")
                try:
                    handler = routes.get(command)
                except TypeError:  # an unhashable command
                    handler = None
                if handler is None:
                    self.send_error(request_id, command, self.unknown_command(command))
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
                            request_id,
                            call_session,
                            message.get("deadline_ms"),
                            worker_id,
                            send,
                            command,
                        )
                        set_current(ctx)
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
                        self.send_error(request_id, command, cancelled_error(request_id))
                    except Exception as exc:
                        state.busy = False
                        call_session.discard_updates()
                        REDACTOR.add_from_args(message.get("args"))
                        self.send_error(request_id, command, exception_to_error(exc))
                    else:
                        if call_session.dirty:  # the handler touched its session: the slow path
                            self.send_session_result(request_id, command, result, call_session)
                            continue  # (shutdown, which sets stopping, never touches a session)
                        acquire()  # what send_response() does, for a success response
                        try:
                            encode_result_to(request_id, result, write)
                            failure = None
                        except Exception as exc:
                            failure = exc
                        finally:
                            release()
                        if failure is not None:
                            self.send_unencodable(request_id, command, failure)
                if self.stopping:
                    return EXIT_OK
        except BrokenPipeError:
            print("mlbridge: the host closed the pipe; exiting", file=sys.stderr)
            return EXIT_OK


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


def on_sigint(signum: int, frame: object) -> None:
    """Raise KeyboardInterrupt in a running handler, at most once per request.

    With a cancel pipe, only when the pipe names the running request; the other ids
    it names wait in ``cancelled`` for the serving loop. (A concurrent worker replaces
    this handler: it is cancelled by ``cancel`` messages.)
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
