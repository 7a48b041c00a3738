"""The Python peers of the comparison: what a Python user would pick instead of mlbridge.

Each driver runs the same no-op (a function returning its argument, an empty dict) and prints
JSON lines like compare_bench: "latency" at concurrency 1 (one worker), then "throughput" for
pools of WORKERS processes (or actors) with CALLERS calls kept in flight (closed loop: each
completion submits the next call).

    python peers.py pool|executor --seconds S --workers 1,2 --callers 1,8,64,512
    python peers.py ray ...    # a round per "round" line on stdin (see run_ray)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable


def noop(args):
    """The no-op every system runs."""
    return args


def emit(kind: str, **fields) -> None:
    print(json.dumps({"kind": kind, **fields}), flush=True)


def summarize(ns: list[float]) -> dict:
    ns.sort()

    def at(q: float) -> float:
        return ns[min(len(ns) - 1, int(q * (len(ns) - 1) + 0.5))] / 1000

    return {
        "n": len(ns),
        "median_us": at(0.5),
        "p99_us": at(0.99),
        "p999_us": at(0.999),
        "mean_us": statistics.fmean(ns) / 1000,
    }


def time_calls(one: Callable[[], object], seconds: float, warmup: int = 100) -> list[float]:
    for _ in range(warmup):
        one()
    ns: list[float] = []
    clock = time.perf_counter_ns
    end = time.perf_counter() + seconds
    while len(ns) < 5 or time.perf_counter() < end:
        t0 = clock()
        one()
        ns.append(clock() - t0)
    return ns


class ClosedLoop:
    """Keeps `callers` calls in flight through `submit(done)`; counts completions."""

    def __init__(self, submit: Callable[[Callable[[bool], None]], None], callers: int):
        self.submit = submit
        self.callers = callers
        self.completed = 0
        self.errors = 0
        self.in_flight = 0
        self.stop = False
        self.lock = threading.Lock()
        self.drained = threading.Condition(self.lock)

    def _one(self) -> None:
        with self.lock:
            self.in_flight += 1
        self.submit(self._done)

    def _done(self, ok: bool) -> None:
        with self.lock:
            if ok:
                self.completed += 1
            else:
                self.errors += 1
            again = not self.stop
        if again:
            self._one()
        with self.lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.drained.notify_all()

    def run(self, seconds: float) -> dict:
        for _ in range(self.callers):
            self._one()
        time.sleep(0.3)
        before, start = self.completed, time.perf_counter()
        time.sleep(seconds)
        after, elapsed = self.completed, time.perf_counter() - start
        with self.lock:
            self.stop = True
            self.drained.wait_for(lambda: self.in_flight == 0, timeout=60)
        return {"calls_per_s": (after - before) / elapsed, "errors": self.errors}


def pool_peer(options, name: str, make, call, submit) -> None:
    """Latency with a pool of 1, then throughput per pool size and caller count.

    make(workers) opens a pool (a context manager); call(pool) runs one no-op and waits;
    submit(pool, done) starts one and calls done(ok) when it completes."""
    with make(1) as pool:
        latency = summarize(time_calls(lambda: call(pool), options.seconds))
        emit("latency", system=name, codec="pickle", **latency)
    for workers in options.workers:
        with make(workers) as pool:
            call(pool)  # the workers started
            for callers in options.callers:
                result = ClosedLoop(lambda done: submit(pool, done), callers).run(options.seconds)
                emit(
                    "throughput",
                    system=name,
                    codec="pickle",
                    workers=workers,
                    callers=callers,
                    **result,
                )


def run_pool(options) -> None:
    import multiprocessing

    pool_peer(
        options,
        "multiprocessing.Pool",
        multiprocessing.Pool,
        lambda pool: pool.apply(noop, ({},)),
        lambda pool, done: pool.apply_async(
            noop, ({},), callback=lambda _: done(True), error_callback=lambda _: done(False)
        ),
    )


def run_executor(options) -> None:
    from concurrent.futures import ProcessPoolExecutor

    pool_peer(
        options,
        "ProcessPoolExecutor",
        ProcessPoolExecutor,
        lambda executor: executor.submit(noop, {}).result(),
        lambda executor, done: executor.submit(noop, {}).add_done_callback(
            lambda f: done(f.exception() is None)
        ),
    )


def run_ray(options) -> None:
    """One local Ray instance (ray.init) for the whole run: started once, then a round of
    measurements for each line read on stdin ("round"), each ended by an "end" line on stdout,
    and ray.shutdown() at end of input. Ray's start-up under load takes a minute here, too
    long to repeat for every round."""
    import ray

    started = time.perf_counter()
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )

    @ray.remote
    class Noop:
        def noop(self, args):
            return args

    actors = [Noop.remote() for _ in range(max(options.workers))]
    ray.get([actor.noop.remote({}) for actor in actors])
    emit(
        "coldstart",
        bridge="Ray (ray.init + first actor calls)",
        start_to_first_answer_ms=(time.perf_counter() - started) * 1000,
    )
    print("end", flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            continue
        emit(
            "latency",
            system="Ray actor",
            codec="ray",
            **summarize(time_calls(lambda: ray.get(actors[0].noop.remote({})), options.seconds)),
        )
        for workers in options.workers:
            for callers in options.callers:
                result = ray_closed_loop(ray, actors[:workers], callers, options.seconds)
                emit(
                    "throughput",
                    system="Ray actor",
                    codec="ray",
                    workers=workers,
                    callers=callers,
                    **result,
                )
        print("end", flush=True)
    ray.shutdown()


def ray_closed_loop(ray, actors, callers: int, seconds: float) -> dict:
    """`callers` calls in flight over the actors, round robin; each completion submits one."""
    turn = 0

    def submit():
        nonlocal turn
        turn += 1
        return actors[turn % len(actors)].noop.remote({})

    refs = [submit() for _ in range(callers)]
    completed = 0
    start = time.perf_counter()
    counted_from = start + 0.3
    before = None
    while True:
        now = time.perf_counter()
        if before is None and now >= counted_from:
            before, start = completed, now
        if before is not None and now - start >= seconds:
            break
        ready, refs = ray.wait(refs, num_returns=1)
        ray.get(ready)
        completed += len(ready)
        refs.extend(submit() for _ in ready)
    rate = (completed - before) / (time.perf_counter() - start)
    ray.get(refs)
    return {"calls_per_s": rate, "errors": 0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["pool", "executor", "ray"])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--callers", default="1,8,64,512")
    options = parser.parse_args()
    options.workers = [int(x) for x in options.workers.split(",")]
    options.callers = [int(x) for x in options.callers.split(",")]
    {"pool": run_pool, "executor": run_executor, "ray": run_ray}[options.peer](options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
