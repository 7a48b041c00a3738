"""A worker that runs many requests at once on asyncio, for the host's tests.

Standard library only (no ``mlbridge`` import), JSON codec only, so the host's tests of
concurrent workers do not depend on the SDK. Spawned like any worker::

    python concurrent_worker.py --worker-id ID --codec json --protocol 1 \\
        [--concurrency N] [--claim-concurrency C]

Its hello claims ``--claim-concurrency`` when given (any integer, 0 and 10**12 included),
else ``--concurrency`` (the host's ``pool.max_concurrency``), else 1000. Every request runs as
its own task; responses go out in the order the tasks finish. A ``{"type": "cancel", "id": N}``
cancels request N's task, which is then answered ``Cancelled``; a cancel for an unknown or
finished id is ignored.

Commands:

- ``ping`` / ``init`` / ``shutdown`` (the built-ins the host sends); ``shutdown`` answers, then
  the worker exits.
- ``echo``: returns its args.
- ``sleep`` ``{"seconds": s}``: sleeps with asyncio, returns ``{"slept": s}``.
- ``stream`` ``{"count": n}``: sends n chunks ``{"i": i}`` (yielding between them), returns
  ``{"chunks": n}``.
- ``ignore_cancel`` ``{"seconds": s}``: sleeps s seconds and swallows every cancellation,
  then returns ``{"slept": s}`` (an answer the host has long stopped waiting for).
- ``stats``: returns ``{"running": number of request tasks, "cancels_ignored": number of cancels
  for unknown or finished ids}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import sys
import time
from typing import Any


class Worker:
    def __init__(self, writer_fd: int) -> None:
        self.writer_fd = writer_fd
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.cancels_ignored = 0
        self.stopping = asyncio.Event()

    def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        data = memoryview(struct.pack(">I", len(payload)) + payload)
        # Blocking writes of small frames: the host reads all the time, and a frame is never
        # interleaved with another because the loop runs one callback at a time.
        while data:
            data = data[os.write(self.writer_fd, data) :]

    def answer(self, request_id: int, result: Any) -> None:
        self.send({"type": "response", "id": request_id, "success": True, "result": result})

    def fail(self, request_id: int, kind: str, message: str, category: str) -> None:
        self.send(
            {
                "type": "response",
                "id": request_id,
                "success": False,
                "error": {"type": kind, "message": message, "traceback": "", "category": category},
            }
        )

    async def run_request(self, request: dict[str, Any]) -> None:
        request_id = request["id"]
        command = request.get("command", "")
        args = request.get("args") or {}
        try:
            result = await self.execute(request_id, command, args)
        except asyncio.CancelledError:
            self.fail(request_id, "Cancelled", f"request {request_id} was cancelled", "cancelled")
            return
        except Exception as error:  # noqa: BLE001 - every failure is answered as data
            self.fail(request_id, type(error).__name__, str(error), "invalid_argument")
            return
        finally:
            self.tasks.pop(request_id, None)
        self.answer(request_id, result)

    async def execute(self, request_id: int, command: str, args: dict[str, Any]) -> Any:
        if command in ("ping", "init"):
            return {"status": "ready"}
        if command == "echo":
            return args
        if command == "sleep":
            await asyncio.sleep(float(args["seconds"]))
            return {"slept": args["seconds"]}
        if command == "stream":
            for i in range(int(args["count"])):
                self.send({"type": "chunk", "id": request_id, "seq": i, "data": {"i": i}})
                await asyncio.sleep(0)
            return {"chunks": args["count"]}
        if command == "ignore_cancel":
            end = time.monotonic() + float(args["seconds"])
            while (left := end - time.monotonic()) > 0:
                try:
                    await asyncio.sleep(left)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
            return {"slept": args["seconds"]}
        if command == "stats":
            return {"running": len(self.tasks), "cancels_ignored": self.cancels_ignored}
        raise ValueError(f"unknown command '{command}'")

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type", "request")
        if kind == "cancel":
            task = self.tasks.get(message.get("id"))
            if task is None:
                self.cancels_ignored += 1
            else:
                task.cancel()
            return
        if message.get("command") == "shutdown":
            self.answer(message["id"], {"status": "stopping"})
            self.stopping.set()
            return
        request_id = message["id"]
        task = asyncio.ensure_future(self.run_request(message))
        task.add_done_callback(lambda done: self.answer_if_cancelled_early(request_id, done))
        self.tasks[request_id] = task

    def answer_if_cancelled_early(self, request_id: int, task: asyncio.Task[None]) -> None:
        """Answer a request cancelled before its task started (its handler never ran)."""
        if task.cancelled():
            self.tasks.pop(request_id, None)
            self.fail(request_id, "Cancelled", f"request {request_id} was cancelled", "cancelled")


async def read_frames(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    while not worker.stopping.is_set():
        try:
            header = await reader.readexactly(4)
            payload = await reader.readexactly(struct.unpack(">I", header)[0])
        except asyncio.IncompleteReadError:
            return  # end of input: the host closed the pipe
        worker.on_message(json.loads(payload))


async def serve(options: argparse.Namespace) -> None:
    worker = Worker(writer_fd=1)
    if options.claim_concurrency is not None:
        claim = options.claim_concurrency
    elif options.concurrency is not None:
        claim = options.concurrency
    else:
        claim = 1000
    worker.send(
        {
            "type": "hello",
            "protocol": options.protocol,
            "worker_id": options.worker_id,
            "pid": os.getpid(),
            "framework": "concurrent-test",
            "framework_version": "0",
            "bridge_version": "0",
            "commands": ["ping", "init", "shutdown", "echo", "sleep", "stream", "ignore_cancel"],
            "concurrency": claim,
        }
    )
    reading = asyncio.ensure_future(read_frames(worker))
    stopping = asyncio.ensure_future(worker.stopping.wait())
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    # Tasks that ignore cancellation would keep asyncio.run's clean-up waiting: leave at once.
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker-id", default="concurrent")
    parser.add_argument("--codec", choices=("json",), default="json")
    parser.add_argument("--protocol", type=int, default=1)
    parser.add_argument("--max-frame-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--claim-concurrency", type=int, default=None)
    asyncio.run(serve(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
