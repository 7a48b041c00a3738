"""The cluster benchmark: sessions through HAProxy while one host is SIGKILLed and comes back.

Run by ``scripts/cluster.sh bench`` (or ``smoke``), which starts the cluster, passes the frontend
URL and its control FIFO, and tears everything down afterwards. Phases:

1. **failover**: N sessions x T turns of the cluster bridge's ``turn`` command (a state counter
   plus a journaled list), at most C sessions at once, each call with ``X-Mlbridge-Session``.
   When a fraction of all turns is done, host K is SIGKILLed; it is started again a few seconds
   later. A turn that fails with a connection error, 502, 503, 504 or 409 ``session_moved`` is
   sent again after its ``Retry-After`` (bounded); then every session is read back and checked
   exactly against its T turns.
2. **throughput** (full run only): the same load without a kill on 3 hosts, then on 1 host (hosts
   2 and 3 stopped with SIGTERM: they drain out of HAProxy).
3. **cost** (full run only): one session's turns one after another on that one host, with its
   store (Redis), then with host 1 restarted on the memory store: the cost of Redis per
   stateful call.

Writes one JSON document (``--out``) that ``report_cluster.py`` turns into
docs/benchmarks-cluster.md, and prints a summary. Exit status 1 when a session was lost or came
back different.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BRIDGE = "cluster"
RETRYABLE_STATUS = {409, 502, 503, 504}
MAX_ATTEMPTS = 100  # per turn
MAX_TURN_SECONDS = 60.0  # per turn, retries included


@dataclass
class ErrorEvent:
    session: str
    turn: int
    kind: str  # "connection: ServerDisconnectedError", "http 502", "http 409 session_moved", ...
    sent: float
    failed: float
    last_host: str | None  # where the session's previous successful turn ran


@dataclass
class SessionRecord:
    sid: str
    hosts: list[tuple[float, str]] = field(default_factory=list)  # (turn answered at, host)
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (first failure sent, success)
    # Turns that ran on another host than the turn before, without failing: (sent, answered). A
    # host waits for the previous host's lease before it runs such a turn, so this is a wait too.
    moves: list[tuple[float, float]] = field(default_factory=list)
    replayed_answers: int = 0  # turns found applied already (their first answer was lost)
    diverged: str | None = None  # why the session came back different
    gave_up: str | None = None  # a turn that never succeeded
    final_ok: bool = False


class Cluster:
    """Commands to scripts/cluster.sh through its control FIFO (kill, stop, start a host)."""

    def __init__(self, control: Path | None, ack_dir: Path | None):
        self.control = control
        self.ack_dir = ack_dir

    async def command(self, *words: str) -> None:
        if self.control is None or self.ack_dir is None:
            raise RuntimeError("no --control FIFO: run this through scripts/cluster.sh")
        token = f"py-{uuid.uuid4().hex[:12]}"
        with open(self.control, "w", encoding="utf-8") as fifo:
            fifo.write(" ".join([*words, token]) + "\n")
        ack = self.ack_dir / f"ack.{token}"
        deadline = time.monotonic() + 120
        while not ack.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not answer {' '.join(words)!r} in 120 s")
            await asyncio.sleep(0.05)
        answer = ack.read_text(encoding="utf-8").strip()
        ack.unlink()
        if answer != "ok":
            raise RuntimeError(f"cluster command {' '.join(words)!r} failed: {answer}")


class Driver:
    def __init__(self, url: str, token: str, concurrency: int, direct_url: str | None = None):
        self.url = url.rstrip("/")
        self.direct_url = direct_url or self.url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.concurrency = concurrency
        self.http: aiohttp.ClientSession | None = None
        self.last_retry_after = 0.0
        self.think = 0.0  # seconds between a session's turns (failover phase only)
        self.errors: list[ErrorEvent] = []
        self.turns_done = 0
        self.turn_done_event = asyncio.Event()

    async def __aenter__(self) -> Driver:
        connector = aiohttp.TCPConnector(limit=self.concurrency + 8, force_close=False)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.close()

    async def post(
        self, sid: str, command: str, args: dict[str, Any], url: str | None = None
    ) -> tuple[Any, str | None]:
        """One call: (result, None) or (None, what failed); a failure's Retry-After (seconds) is
        left in self.last_retry_after."""
        assert self.http is not None
        self.last_retry_after = 0.0
        try:
            async with self.http.post(
                f"{url or self.url}/v1/bridges/{BRIDGE}/commands/{command}",
                json={"args": args, "session": sid},
                headers={**self.headers, "X-Mlbridge-Session": sid},
            ) as response:
                text = await response.text()
                if response.status == 200:
                    return json.loads(text)["result"], None
                category = ""
                try:
                    category = json.loads(text)["error"]["category"]
                except (ValueError, KeyError, TypeError):
                    pass
                retry_after = response.headers.get("Retry-After")
                if retry_after is not None:
                    try:
                        self.last_retry_after = float(retry_after)
                    except ValueError:
                        pass
                return None, f"http {response.status} {category}".strip()
        except (TimeoutError, aiohttp.ClientError) as error:
            return None, f"connection: {type(error).__name__}"

    async def call_until_answered(
        self, record: SessionRecord, command: str, args: dict[str, Any], turn: int
    ) -> Any:
        """The call, sent again after retryable failures; None if it never succeeded."""
        first_failure: float | None = None
        started = time.monotonic()
        for attempt in range(MAX_ATTEMPTS):
            sent = time.monotonic()
            result, kind = await self.post(record.sid, command, args)
            now = time.monotonic()
            if kind is None:
                if first_failure is not None:
                    record.gaps.append((first_failure, now))
                elif command == "turn" and record.hosts:
                    if record.hosts[-1][1] != result.get("host"):
                        record.moves.append((started, now))
                if command == "turn":  # where the session's turns ran (the read is not one)
                    record.hosts.append((now, result.get("host", "?")))
                return result
            last_host = record.hosts[-1][1] if record.hosts else None
            self.errors.append(ErrorEvent(record.sid, turn, kind, sent, now, last_host))
            if first_failure is None:
                first_failure = sent
            retryable = kind.startswith("connection") or any(
                kind.startswith(f"http {status}") for status in RETRYABLE_STATUS
            )
            if not retryable or now - started > MAX_TURN_SECONDS:
                record.gave_up = f"turn {turn}: {kind} after {attempt + 1} attempt(s)"
                return None
            delay = self.last_retry_after or min(1.0, 0.05 * 2**attempt)
            await asyncio.sleep(delay)
        record.gave_up = f"turn {turn}: still failing after {MAX_ATTEMPTS} attempts"
        return None

    async def run_session(self, record: SessionRecord, turns: int, first_turn: int = 1) -> None:
        for n in range(first_turn, first_turn + turns):
            if self.think and n > first_turn:
                await asyncio.sleep(self.think)  # a user reading the answer before the next turn
            failed_before = len(record.gaps)
            result = await self.call_until_answered(record, "turn", {"n": n}, n)
            if result is None:
                return
            retried = len(record.gaps) > failed_before  # a gap is recorded only after a failure
            count, items = result["count"], result["items"]
            if result["applied"] and count == n - 1 and items == n - 1:
                pass
            elif not result["applied"] and count == n and items == n and retried:
                record.replayed_answers += 1  # its first answer was lost; applied once
            else:
                record.diverged = (
                    f"turn {n} on {result['host']}: found count {count} and {items} item(s), "
                    f"expected {n - 1} (applied: {result['applied']})"
                )
                return
            self.turns_done += 1
            self.turn_done_event.set()

    async def verify(self, record: SessionRecord, turns: int) -> None:
        if record.diverged or record.gave_up:
            return
        result = await self.call_until_answered(record, "read", {}, turns + 1)
        if result is None:
            return
        expected = [f"{record.sid}:{n}" for n in range(1, turns + 1)]
        if result["count"] == turns and result["items"] == expected:
            record.final_ok = True
        else:
            record.diverged = (
                f"read back on {result['host']}: count {result['count']}, "
                f"{len(result['items'])} item(s); expected {turns} and the exact list"
            )

    async def load(self, prefix: str, sessions: int, turns: int) -> list[SessionRecord]:
        records = [SessionRecord(f"{prefix}-{i:05d}") for i in range(sessions)]
        slots = asyncio.Semaphore(self.concurrency)

        async def one(record: SessionRecord) -> None:
            async with slots:
                await self.run_session(record, turns)

        await asyncio.gather(*(one(record) for record in records))
        return records


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "count": len(values),
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
    }


async def failover_phase(
    args: argparse.Namespace, driver: Driver, cluster: Cluster, run: str
) -> dict[str, Any]:
    total = args.sessions * args.turns
    killed = f"h{args.kill_host}"
    marks: dict[str, float] = {}

    async def kill_and_return() -> None:
        while driver.turns_done < args.kill_at * total:
            driver.turn_done_event.clear()
            await driver.turn_done_event.wait()
        marks["kill"] = time.monotonic()
        await cluster.command("kill", str(args.kill_host))
        marks["killed"] = time.monotonic()
        await asyncio.sleep(args.restart_after)
        marks["restart"] = time.monotonic()
        await cluster.command("start", str(args.kill_host), args.store)
        marks["returned"] = time.monotonic()

    started = time.monotonic()
    chaos = asyncio.create_task(kill_and_return())
    driver.think = args.think
    records = await driver.load(f"fo{run}", args.sessions, args.turns)
    driver.think = 0.0
    ended = time.monotonic()
    if "kill" not in marks:
        chaos.cancel()
        raise RuntimeError(
            f"the load ended before the kill ({driver.turns_done} of {total} turns): "
            "lower --kill-at"
        )
    await chaos  # the host may come back after the last turn: then nothing can move back
    await asyncio.gather(*(driver.verify(record, args.turns) for record in records))

    kill, returned = marks["kill"], marks["returned"]
    lost = [r for r in records if not r.final_ok]
    kinds: dict[str, int] = {}
    in_flight_kinds: dict[str, int] = {}
    not_in_flight: list[dict[str, Any]] = []
    for event in driver.errors:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
        # In flight on the dead host: sent before it was gone, and failed by the connection
        # breaking (HAProxy answers 502 for a request whose host died mid-answer, or the
        # client's own connection fails). A 409 is a host refusing a session another one
        # holds: it never ran, and is counted apart.
        broken = event.kind.startswith(("connection", "http 502", "http 504"))
        in_flight = (
            broken
            and event.sent <= marks["killed"]
            and event.failed >= kill
            and event.last_host in (killed, None)
        )
        if in_flight:
            in_flight_kinds[event.kind] = in_flight_kinds.get(event.kind, 0) + 1
        else:
            not_in_flight.append(
                {"kind": event.kind, "at_s": round(event.sent - kill, 3), "host": event.last_host}
            )

    # Where each session was served when the host died, and whether it came back to it.
    def host_at(record: SessionRecord, moment: float) -> str | None:
        before = [host for when, host in record.hosts if when <= moment]
        return before[-1] if before else None

    on_killed = [r for r in records if host_at(r, kill) == killed]
    active_after_return = [
        r
        for r in records
        if host_at(r, returned) is not None and any(when > returned for when, _ in r.hosts)
    ]
    moved_after_return = [
        r
        for r in active_after_return
        if host_at(r, returned) is not None
        and any(when > returned and host != host_at(r, returned) for when, host in r.hosts)
    ]
    moved_back = [
        r
        for r in moved_after_return
        if any(when > returned and host == killed for when, host in r.hosts)
    ]

    # A session's longest wait from a failure, or from sending a turn that ran on another host
    # (the host waited for the previous one's lease), to its success: while the host was gone
    # (failover), and after it came back (sessions moving back wait for the other's lease).
    def longest(record: SessionRecord, since: float, until: float) -> float | None:
        waits = [
            end - begin for begin, end in [*record.gaps, *record.moves] if since <= begin < until
        ]
        return max(waits) if waits else None

    failover_gaps = [g for r in records if (g := longest(r, kill - 60, returned)) is not None]
    return_gaps = [g for r in records if (g := longest(r, returned, float("inf"))) is not None]
    return {
        "sessions": args.sessions,
        "turns": args.turns,
        "concurrency": args.concurrency,
        "think_s": args.think,
        "killed_host": killed,
        "kill_after_turns": round(args.kill_at * total),
        "kill_at_s": round(kill - started, 3),
        "host_back_after_s": round(returned - kill, 3),
        "wall_s": round(ended - started, 3),
        "calls_per_s": round(total / (ended - started), 1),
        "sessions_lost_or_different": len(lost),
        "lost_examples": [r.diverged or r.gave_up or "not read back" for r in lost[:10]],
        "replayed_answers": sum(r.replayed_answers for r in records),
        "errors_by_kind": kinds,
        "errors_in_flight_on_dead_host": in_flight_kinds,
        "errors_not_in_flight": len(not_in_flight),
        "errors_not_in_flight_kinds": {
            kind: sum(1 for e in not_in_flight if e["kind"] == kind)
            for kind in sorted({e["kind"] for e in not_in_flight})
        },
        "errors_not_in_flight_examples": not_in_flight[:10],
        "sessions_on_dead_host": len(on_killed),
        "affected_sessions": len(failover_gaps),
        "failover_gap_s": spread(failover_gaps),
        "sessions_waiting_after_return": len(return_gaps),
        "gap_after_return_s": spread(return_gaps),
        "sessions_active_after_return": len(active_after_return),
        "sessions_moved_after_return": len(moved_after_return),
        "sessions_moved_back": len(moved_back),
        "moved_back_fraction": (
            round(len(moved_back) / len(active_after_return), 4) if active_after_return else None
        ),
    }


async def throughput_run(driver: Driver, prefix: str, sessions: int, turns: int) -> dict[str, Any]:
    driver.errors.clear()
    started = time.monotonic()
    records = await driver.load(prefix, sessions, turns)
    wall = time.monotonic() - started
    bad = sum(1 for r in records if r.diverged or r.gave_up)
    kinds: dict[str, int] = {}
    for event in driver.errors:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    return {
        "sessions": sessions,
        "turns": turns,
        "wall_s": round(wall, 3),
        "calls_per_s": round(sessions * turns / wall, 1),
        "errors": len(driver.errors),
        "errors_by_kind": kinds,
        "failed_sessions": bad,
    }


async def sequential_cost(driver: Driver, sid: str, calls: int) -> dict[str, Any]:
    """One session's turns one after another, straight to host 1 (no HAProxy hop, less noise)."""
    record = SessionRecord(sid)
    latencies = []
    for n in range(1, calls + 1):
        sent = time.perf_counter()
        result, kind = await driver.post(sid, "turn", {"n": n}, url=driver.direct_url)
        latencies.append((time.perf_counter() - sent) * 1e3)
        if kind is not None or not result["applied"]:
            raise RuntimeError(f"cost run: turn {n} of {sid} failed: {kind or result}")
        record.hosts.append((time.monotonic(), result["host"]))
    return {
        "calls": calls,
        "mean_ms": round(statistics.fmean(latencies), 3),
        "p50_ms": round(percentile(latencies, 0.5) or 0, 3),
        "p99_ms": round(percentile(latencies, 0.99) or 0, 3),
    }


async def anonymous_spread(driver: Driver, calls: int) -> dict[str, int]:
    """Calls without a session, one after another: HAProxy balances them round robin (no
    X-Mlbridge-Session header to hash), so every host should serve some."""
    assert driver.http is not None
    hosts: dict[str, int] = {}
    for _ in range(calls):
        async with driver.http.post(
            f"{driver.url}/v1/bridges/{BRIDGE}/commands/where", json={}, headers=driver.headers
        ) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise RuntimeError(f"an anonymous call failed: {response.status} {body}")
            host = body["result"]["host"]
            hosts[host] = hosts.get(host, 0) + 1
    return hosts


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    token = os.environ.get("MLBRIDGE_CLUSTER_TOKEN", "")
    cluster = Cluster(args.control, args.ack_dir)
    run = uuid.uuid4().hex[:6]
    report: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "store": args.store,
        "smoke": args.smoke,
    }
    async with Driver(args.url, token, args.concurrency, args.direct) as driver:
        report["anonymous_calls_by_host"] = await anonymous_spread(driver, 30)
        report["failover"] = await failover_phase(args, driver, cluster, run)
        if args.smoke:
            return report
        sessions, turns = args.throughput_sessions, args.turns
        three = await throughput_run(driver, f"t3{run}", sessions, turns)
        await cluster.command("stop", "2")
        await cluster.command("stop", "3")
        one = await throughput_run(driver, f"t1{run}", sessions, turns)
        report["throughput"] = {
            "three_hosts": three,
            "one_host": one,
            "ratio": round(three["calls_per_s"] / one["calls_per_s"], 3),
        }
        store_cost = await sequential_cost(driver, f"c{args.store}{run}", args.cost_calls)
        # Host 1 again, on the memory store (stop, then start with the other store).
        await cluster.command("stop", "1")
        await cluster.command("start", "1", "memory")
        memory_cost = await sequential_cost(driver, f"cmemory{run}", args.cost_calls)
        memory_load = await throughput_run(driver, f"tm{run}", sessions, turns)
        report["cost"] = {
            "store": store_cost,
            "memory": memory_cost,
            "added_ms_per_call": round(store_cost["mean_ms"] - memory_cost["mean_ms"], 3),
            "one_host_memory_throughput": memory_load,
        }
    return report


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="HAProxy's frontend, http://127.0.0.1:PORT")
    parser.add_argument("--direct", help="host 1's own URL, for the cost run (default: --url)")
    parser.add_argument("--control", type=Path, help="scripts/cluster.sh's control FIFO")
    parser.add_argument("--ack-dir", type=Path, help="where the cluster writes its answers")
    parser.add_argument("--store", default="redis", choices=["redis", "memory"])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument(
        "--think", type=float, default=0.3, help="seconds between a session's turns (failover)"
    )
    parser.add_argument("--kill-host", type=int, default=1)
    parser.add_argument("--kill-at", type=float, default=0.2, help="fraction of turns done")
    parser.add_argument("--restart-after", type=float, default=2.0, help="seconds")
    parser.add_argument("--throughput-sessions", type=int, default=400)
    parser.add_argument("--cost-calls", type=int, default=1500)
    parser.add_argument("--smoke", action="store_true", help="100 sessions x 4 turns, a kill")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sessions, args.turns, args.concurrency = 100, 4, 50
        args.kill_at, args.restart_after, args.think = 0.3, 0.5, 0.0
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    report = asyncio.run(main_async(args))
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    failover = report["failover"]
    if failover["sessions_lost_or_different"]:
        print(
            f"FAILED: {failover['sessions_lost_or_different']} session(s) lost or different: "
            f"{failover['lost_examples']}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
