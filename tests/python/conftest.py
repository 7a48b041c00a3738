"""Fixtures: worker processes that are always killed and reaped after the test."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_client import ECHO_BRIDGE, ROOT, Worker

try:
    import mlbridge  # noqa: F401
except ImportError:  # not installed: test the checkout
    sys.path.insert(0, str(ROOT / "python_bridges"))

Spawn = Callable[..., Worker]


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """An os.pipe() (read end, write end), both closed after the test if still open."""
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture(params=["json", "msgpack"])
def codec(request: pytest.FixtureRequest) -> str:
    """Every worker test runs once per codec."""
    return request.param


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a worker: ``spawn(script=ECHO_BRIDGE, codec="json", extra_args=(), env=None)``."""
    workers: list[Worker] = []

    def start(script: Path | str = ECHO_BRIDGE, codec: str = "json", **kwargs: Any) -> Worker:
        kwargs.setdefault("stderr_path", tmp_path / f"stderr-{len(workers)}.txt")
        worker = Worker(script, codec, **kwargs)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()


@pytest.fixture(scope="module", params=["json", "msgpack"])
def shared_echo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """One ready echo bridge per codec, shared by a module's tests that leave no state."""
    stderr_path = tmp_path_factory.mktemp("shared-echo") / "stderr.txt"
    worker = Worker(ECHO_BRIDGE, request.param, stderr_path=stderr_path, worker_id="t1")
    try:
        worker.hello()
        assert worker.result("init", {"options": {}}) == {"status": "ready"}
        yield worker
    finally:
        worker.kill()


@pytest.fixture
def echo(spawn: Spawn, codec: str) -> Worker:
    """A ready echo bridge (hello read, ``init`` answered), in the test's codec."""
    worker = spawn(ECHO_BRIDGE, codec)
    worker.hello()
    assert worker.result("init", {"options": {"greeting": "hi"}}) == {"status": "ready"}
    return worker
