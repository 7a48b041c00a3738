"""report_cluster.py marks issue 24's targets from the benchmark's figures, met or not met."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def load_report_module() -> Any:
    path = ROOT / "tests" / "bench" / "cluster" / "report_cluster.py"
    spec = importlib.util.spec_from_file_location("report_cluster", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figures(**failover: Any) -> dict[str, Any]:
    spread = {"count": 3, "p50": 1.0, "p99": 2.5, "max": 2.6}
    base = {
        "sessions": 1000,
        "turns": 10,
        "concurrency": 200,
        "think_s": 0.3,
        "killed_host": "h1",
        "kill_after_turns": 4000,
        "kill_at_s": 5.0,
        "host_back_after_s": 4.0,
        "wall_s": 20.0,
        "calls_per_s": 500.0,
        "sessions_lost_or_different": 0,
        "lost_examples": [],
        "replayed_answers": 2,
        "errors_by_kind": {"http 502": 5, "http 409 session_moved": 40},
        "errors_in_flight_on_dead_host": {"http 502": 5},
        "errors_not_in_flight": 40,
        "errors_not_in_flight_kinds": {"http 409 session_moved": 40},
        "errors_not_in_flight_examples": [],
        "sessions_on_dead_host": 60,
        "affected_sessions": 60,
        "failover_gap_s": spread,
        "sessions_waiting_after_return": 10,
        "gap_after_return_s": spread,
        "sessions_active_after_return": 100,
        "sessions_moved_after_return": 30,
        "sessions_moved_back": 30,
        "moved_back_fraction": 0.3,
    }
    base.update(failover)
    return {
        "machine": {"cores": 2, "platform": "Linux"},
        "store": "redis",
        "smoke": True,
        "anonymous_calls_by_host": {"h1": 10, "h2": 10, "h3": 10},
        "failover": base,
    }


def marks(report: dict[str, Any]) -> list[bool]:
    return [met for _, _, met in load_report_module().targets(report)]


def test_every_target_met_and_the_strict_error_target_not_met_with_409s() -> None:
    assert marks(figures()) == [True, False, True, True, True]
    assert marks(figures(errors_not_in_flight=0, errors_not_in_flight_kinds={})) == [True] * 5


def test_a_lost_session_a_slow_failover_and_too_many_moves_are_not_met() -> None:
    report = figures(
        sessions_lost_or_different=1,
        failover_gap_s={"count": 1, "p50": 4.0, "p99": 4.0, "max": 4.0},
        moved_back_fraction=0.5,
        errors_not_in_flight_kinds={"http 503 bridge_unavailable": 1},
    )
    assert marks(report) == [False, False, False, False, False]


def test_the_markdown_is_written_with_the_marks(tmp_path: Path) -> None:
    source, target = tmp_path / "cluster.json", tmp_path / "out.md"
    source.write_text(json.dumps(figures()))
    module = load_report_module()
    assert module.main([str(source), "--write", str(target)]) == 0
    text = target.read_text()
    assert "| 0 sessions lost or rebuilt different | 0 of 1000 | **met** |" in text
    assert "**not met**" in text
    assert module.main([str(source), "--check"]) == 1
