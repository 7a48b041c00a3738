"""The concurrent runtime: many calls at once on one asyncio event loop.

Used when the worker's concurrency is above 1 (``--concurrency N`` or the bridge class's
``concurrency``). One event loop (uvloop's when installed) runs in the main thread:

- Frames are read by the loop itself (``connect_read_pipe`` on the protocol fd) and
  handled in arrival order. Responses, chunks and logs are encoded on the loop thread
  and written in order; frames written in one pass of the loop leave in one write.
  Other threads hand their frames to the loop (``call_soon_threadsafe``).
- Built-ins (``ping``, ``get_info``, ``get_stats``, ``list_commands``, ``cleanup``,
  ``cleanup_session``, ``shutdown``) are answered at once, between handler steps.
  ``cleanup_session`` of a session with a call running or waiting waits its turn in that
  session's queue. ``init`` runs in the thread pool.
- ``async def`` commands run as tasks; ``async def`` generators too (each ``yield`` is a
  chunk, the result is ``{"chunks": n}``). Plain ``def`` commands run in a bounded thread
  pool, one at a time unless the bridge's ``sync_overlap`` or the command's
  ``overlap=True`` allows more.
- Calls of one session run one at a time in arrival order; anonymous calls and other
  sessions run side by side.
- ``{"type": "cancel", "id": N}`` cancels call N: a waiting call is answered
  ``Cancelled`` at once; a task gets ``CancelledError``; a plain ``def`` handler sees
  ``ctx.cancelled`` and is answered ``Cancelled`` when it returns. A call whose cancel was
  requested is answered ``Cancelled`` however it ends. Unknown or finished ids: ignored.
- ``shutdown`` and end of input: answer, cancel every call (each answered ``Cancelled``),
  wait briefly for them, flush the output and exit 0.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import cancel_pipe
from .async_pipes import FrameInput, FrameOutput
from .builtins import cleanup_target
from .command import build_routes
from .context import _CURRENT, CallContext
from .errors import exception_to_error
from .framing import FrameError
from .handlers import Kind, kind_of, new_event_loop, stream_generator
from .runtime import EXIT_OK, Runtime, cancelled_error, protocol_exit
from .secrets import REDACTOR
from .session import Session
from .watchdog import LoopWatchdog, threshold_from_environment

MAX_SYNC_THREADS = 64
"""The thread pool for plain ``def`` commands has min(concurrency, this) threads."""

SHUTDOWN_GRACE_S = 1.0
"""How long ``shutdown`` waits for cancelled tasks to end before exiting anyway."""

OUTPUT_CLOSE_TIMEOUT_S = 5.0
"""How long the worker waits, when it exits, for the host to read its last frames."""

# Route kinds beyond handlers.Kind: built-ins answered on the loop at once.
_INLINE = 10
_CLEANUP_SESSION = 11
_INLINE_BUILTINS = {"ping", "get_info", "get_stats", "list_commands", "cleanup", "shutdown"}


def _ignore_signal(signum: int, frame: object) -> None:
    """SIGINT in a concurrent worker: calls are cancelled by `cancel` messages instead."""


class _Route:
    __slots__ = ("handler", "kind", "overlap")

    def __init__(self, handler: Callable[..., Any], kind: int, overlap: bool) -> None:
        self.handler = handler
        self.kind = kind
        self.overlap = overlap


class _Call:
    """One call in this worker: waiting in its session's queue, or running."""

    __slots__ = (
        "id",
        "command",
        "message",
        "route",
        "ctx",
        "queue_key",
        "task",
        "in_thread",
        "started",
        "cancel_requested",
        "answered",
    )

    def __init__(self, message: dict[str, Any], route: _Route, ctx: CallContext) -> None:
        self.id = message.get("id")
        self.command = message.get("command")
        self.message = message
        self.route = route
        self.ctx = ctx
        self.queue_key: Any = None  # the session whose queue orders this call
        self.task: asyncio.Task[None] | None = None
        self.in_thread = False
        self.started = False  # its task has begun (a task cancelled before that never runs)
        self.cancel_requested = False
        self.answered = False


class AsyncRuntime(Runtime):
    """Serves up to ``concurrency`` calls at once on an asyncio loop (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if cancel_pipe.attach_from_environment() is not None:
            print(
                "mlbridge: a concurrent worker is cancelled by `cancel` messages; "
                "ignoring the cancel pipe",
                file=sys.stderr,
            )
        self._loop = new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop_thread = threading.get_ident()
        self._output = FrameOutput(
            self._loop, self.out_fd, self.max_frame_bytes, self.on_output_lost
        )
        self._calls: dict[Any, _Call] = {}
        self._session_queues: dict[Any, deque[_Call]] = {}
        self._done: asyncio.Future[int] | None = None
        self._threads = ThreadPoolExecutor(
            max_workers=min(self.concurrency, MAX_SYNC_THREADS),
            thread_name_prefix="mlbridge-sync",
        )
        self._sync_lock = asyncio.Lock()
        bridge = self.bridge
        sync_overlap = bool(getattr(bridge, "sync_overlap", False))
        routes: dict[str, _Route] = {}
        handler_codes: dict[Any, str] = {}
        specs = {name: spec for name, (_, spec) in self.commands.items()}
        for name, handler in build_routes(bridge, self.commands, self.framework).items():
            bare = name.partition(":")[2] or name
            spec = specs[bare]
            if spec.builtin and bare in _INLINE_BUILTINS:
                kind: int = _INLINE
            elif spec.builtin and bare == "cleanup_session":
                kind = _CLEANUP_SESSION
            else:
                kind = kind_of(handler)
            routes[name] = _Route(handler, kind, sync_overlap or spec.overlap)
            code = getattr(getattr(handler, "__func__", handler), "__code__", None)
            if code is not None:
                handler_codes[code] = bare
        self._routes = routes
        threshold = threshold_from_environment()
        self._watchdog = LoopWatchdog(threshold, handler_codes) if threshold else None

    # ------------------------------------------------------------------ output

    def send(self, message: dict[str, Any]) -> None:
        """Queue one message for the host; any thread may call it."""
        if threading.get_ident() == self._loop_thread:
            self.send_response(message)
        else:
            self._loop.call_soon_threadsafe(self._send_quietly, message)

    def _send_quietly(self, message: dict[str, Any]) -> None:
        try:
            self.send_response(message)
        except Exception as exc:  # a chunk from a thread that does not encode
            print(f"mlbridge: dropped a {message.get('type')!r} frame: {exc!r}", file=sys.stderr)

    def send_response(self, message: dict[str, Any]) -> None:
        """Queue a message for the host (loop thread only)."""
        self.codec.encode_to(message, self._output.append)

    def start(self) -> None:
        super().start()
        self._output.flush()  # hello goes out before the loop starts

    # ------------------------------------------------------------------ serving

    def serve(self) -> int:
        loop = self._loop
        try:
            return loop.run_until_complete(self._main())
        finally:
            self._threads.shutdown(wait=False, cancel_futures=True)

    async def _main(self) -> int:
        loop = self._loop
        self._done = loop.create_future()
        # Cancellation comes as `cancel` messages; a stray SIGINT must not kill the loop.
        signal.signal(signal.SIGINT, _ignore_signal)
        await self._output.open()
        frames = FrameInput(self, self.in_fd, self.max_frame_bytes)
        await frames.open(loop)
        if self._watchdog is not None:
            self._watchdog.start(loop)
        code = await self._done
        frames.close()
        if self._watchdog is not None:
            self._watchdog.stop()
        await self._cancel_everything()
        await self._output.close(OUTPUT_CLOSE_TIMEOUT_S)
        if self._calls:
            # A handler ignores its cancellation: leave without waiting for it.
            sys.stderr.flush()
            os._exit(code)
        return code

    def _stop(self, code: int) -> None:
        self.stopping = True
        done = self._done
        if done is not None and not done.done():
            done.set_result(code)

    def on_end_of_input(self) -> None:
        self._stop(EXIT_OK)

    def on_bad_frame(self, exc: FrameError) -> None:
        code = self.send_bad_frame(exc)
        self._stop(code)

    def on_output_lost(self, exc: Exception) -> None:
        print(f"mlbridge: the host closed the pipe ({exc!r}); exiting", file=sys.stderr)
        self._stop(EXIT_OK)

    async def _cancel_everything(self) -> None:
        """Cancel every call still here; answer each ``Cancelled``; wait briefly for tasks."""
        for queue in self._session_queues.values():
            for call in queue:
                self._answer_cancelled(call)
            queue.clear()
        tasks = []
        for call in list(self._calls.values()):
            call.cancel_requested = True
            call.ctx._cancelled = True
            if call.task is not None and not call.in_thread:
                if call.started:
                    call.task.cancel()
                tasks.append(call.task)
            else:
                self._answer_cancelled(call)
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        for call in list(self._calls.values()):
            self._answer_cancelled(call)  # those that ignore it: answered all the same

    def in_flight(self) -> int:
        return len(self._calls)

    def run_awaitable(self, awaitable: Any) -> Any:
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("run_awaitable() would block the event loop; await it instead")

        async def run() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    # ------------------------------------------------------------------ input

    def on_frame(self, frame: bytes | bytearray) -> None:
        """Handle one frame from the host (loop thread)."""
        try:
            message = self.codec.decode(frame)
        except Exception as exc:
            self._stop(protocol_exit(f"undecodable {self.codec.name} frame: {exc!r}"))
            return
        try:
            kind = message.get("type")
        except AttributeError:
            self._stop(
                protocol_exit(f"frame is a {type(message).__name__}, not a map; cannot answer it")
            )
            return
        if kind == "request" or kind is None:
            try:
                self._on_request(message)
            except Exception as exc:  # e.g. an id or session id that is not hashable
                self.send_error(message.get("id"), message.get("command"), exception_to_error(exc))
        elif kind == "cancel":
            self._on_cancel(message.get("id"))
        else:
            print(f"mlbridge: ignoring a {kind!r} message from the host", file=sys.stderr)

    def _on_request(self, message: dict[str, Any]) -> None:
        self.requests += 1
        request_id = message.get("id")
        command = message.get("command")
        try:
            route = self._routes.get(command)
        except TypeError:  # an unhashable command
            route = None
        if route is None:
            self.send_error(request_id, command, self.unknown_command(command))
            return
        session_id = message.get("session_id")
        session = self.sessions.get(session_id) if session_id else self.sessions.anonymous
        ctx = CallContext(
            request_id, session, message.get("deadline_ms"), self.worker_id, self.send, command
        )
        kind = route.kind
        if kind == _INLINE:
            self._run_inline(request_id, command, route, message, ctx)
            if self.stopping:
                self._stop(EXIT_OK)
            return
        call = _Call(message, route, ctx)
        if kind == _CLEANUP_SESSION:
            try:
                target = cleanup_target(message.get("args"))
            except Exception as exc:
                self.send_error(request_id, command, exception_to_error(exc))
                return
            if not target or target not in self._session_queues:
                self._run_inline(request_id, command, route, message, ctx)
                return
            call.queue_key = target
        elif session_id:
            call.queue_key = session_id
        if request_id in self._calls:
            print(
                f"mlbridge: request id {request_id!r} is already in flight; "
                "a cancel names only the later call",
                file=sys.stderr,
            )
        self._calls[request_id] = call
        key = call.queue_key
        if key is not None:
            queue = self._session_queues.get(key)
            if queue is not None:  # the session has a call running: wait for it
                queue.append(call)
                return
            self._session_queues[key] = deque()
        self._start(call)

    def _run_inline(
        self,
        request_id: Any,
        command: Any,
        route: _Route,
        message: dict[str, Any],
        ctx: CallContext,
    ) -> None:
        args = message.get("args")
        try:
            result = route.handler({} if args is None else args, ctx)
        except Exception as exc:
            REDACTOR.add_from_args(args)
            self.send_error(request_id, command, exception_to_error(exc))
            return
        try:
            self.codec.encode_result_to(request_id, result, self._output.append)
        except Exception as exc:
            self.send_unencodable(request_id, command, exc)

    def _start(self, call: _Call) -> None:
        if call.route.kind == _CLEANUP_SESSION:  # its turn in the session's queue
            self._calls.pop(call.id, None)
            self._run_inline(call.id, call.command, call.route, call.message, call.ctx)
            self._next_in_session(call.queue_key)
            return
        call.task = self._loop.create_task(self._run(call))

    def _next_in_session(self, key: Any) -> None:
        if key is None:
            return
        queue = self._session_queues.get(key)
        if queue is None:
            return
        if queue:
            self._start(queue.popleft())
        else:
            del self._session_queues[key]

    def _on_cancel(self, request_id: Any) -> None:
        try:
            call = self._calls.get(request_id)
        except TypeError:
            return
        if call is None or call.cancel_requested:
            return  # unknown, finished or already cancelled: nothing to do
        call.cancel_requested = True
        call.ctx._cancelled = True
        if call.task is None:  # still waiting for its session: it never runs
            queue = self._session_queues.get(call.queue_key)
            if queue is not None:
                try:
                    queue.remove(call)
                except ValueError:
                    pass
            self._answer_cancelled(call)
        elif call.started and not call.in_thread:
            call.task.cancel()
        # A task not started yet sees cancel_requested when it starts; a plain `def` handler
        # in a thread sees ctx.cancelled and is answered when it returns.

    # ------------------------------------------------------------------ one call

    async def _run(self, call: _Call) -> None:
        """The task of one call: run its handler, answer it, start the session's next."""
        ctx = call.ctx
        _CURRENT.set(ctx)
        message = call.message
        # The session as it is now, not when the call arrived: a cleanup_session may have
        # run in between (in order, in the session's queue).
        session_id = message.get("session_id")
        sessions = self.sessions
        session: Session = sessions.get(session_id) if session_id else sessions.anonymous
        ctx.session = session
        route = call.route
        call.started = True
        try:
            if call.cancel_requested:
                raise asyncio.CancelledError
            synced = message.get("session_state")
            if synced is not None:
                session.sync(synced)
            args = message.get("args")
            if args is None:
                args = {}
            kind = route.kind
            if kind == Kind.ASYNC:
                result = await route.handler(args, ctx)
            elif kind == Kind.ASYNC_GEN:
                result = await stream_generator(route.handler(args, ctx), ctx)
            else:
                result = await self._run_in_thread(call, args)
        except asyncio.CancelledError:
            session.discard_updates()
            self._answer_cancelled(call)
        except Exception as exc:
            session.discard_updates()
            if call.cancel_requested:
                self._answer_cancelled(call)
            else:
                REDACTOR.add_from_args(message.get("args"))
                self._answer_error(call, exception_to_error(exc))
        else:
            if call.cancel_requested:
                session.discard_updates()
                self._answer_cancelled(call)
            else:
                self._answer_success(call, result, session)
        finally:
            self._finished(call)

    async def _run_in_thread(self, call: _Call, args: Any) -> Any:
        """Run a plain ``def`` handler in the thread pool (under the sync lock unless it may
        overlap). A cancel while it runs sets ``ctx.cancelled`` and waits for it to return."""
        loop = self._loop
        context = contextvars.copy_context()
        handler = call.route.handler
        if call.route.overlap:
            call.in_thread = True
            try:
                return await loop.run_in_executor(
                    self._threads, context.run, handler, args, call.ctx
                )
            finally:
                call.in_thread = False
        async with self._sync_lock:
            call.in_thread = True
            try:
                return await loop.run_in_executor(
                    self._threads, context.run, handler, args, call.ctx
                )
            finally:
                call.in_thread = False

    def _finished(self, call: _Call) -> None:
        if self._calls.get(call.id) is call:
            del self._calls[call.id]
        self._next_in_session(call.queue_key)
        if self.stopping and self._done is not None and not self._done.done():
            self._stop(EXIT_OK)  # `init` or a handler asked to stop: not expected, but honoured

    def _answer_success(self, call: _Call, result: Any, session: Session) -> None:
        if call.answered:
            return
        call.answered = True
        if session.dirty:
            self.send_session_result(call.id, call.command, result, session)
            return
        try:
            self.codec.encode_result_to(call.id, result, self._output.append)
        except Exception as exc:
            self.send_unencodable(call.id, call.command, exc)

    def _answer_error(self, call: _Call, error: dict[str, Any]) -> None:
        if call.answered:
            return
        call.answered = True
        self.send_error(call.id, call.command, error)

    def _answer_cancelled(self, call: _Call) -> None:
        if call.answered:
            return
        call.answered = True
        if call.task is None and self._calls.get(call.id) is call:
            del self._calls[call.id]  # it never started: nothing else will forget it
        self.send_error(call.id, call.command, cancelled_error(call.id))
