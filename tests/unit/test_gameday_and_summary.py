"""The live view, the steady-state reading, stop conditions and the run summary, on hand-made data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.checkers.steady import SteadyState, reading, rolling_availability
from harness.gameday.guards import AbortCondition, Guard
from harness.gameday.live import LiveState, render
from harness.history import AlertEvent, FaultEvent, History, Note, ProbeOp, Sample, Stamp
from harness.report.summary import scorecard, write_summaries


def _st(t: float) -> Stamp:
    return Stamp(t=t, wall=1_000_000 + t)


def _w(start: float, ok: bool, ms: float = 2.0, seq: int = 0) -> ProbeOp:
    return ProbeOp(at=_st(start), end=_st(start + ms / 1000), probe="write", seq=seq, node="node1",
                   outcome="ok" if ok else "fail")


def test_steady_state_reading_over_a_window() -> None:
    events = [_w(i * 0.05, ok=i % 20 != 0, ms=3, seq=i) for i in range(100)]  # 5 % failures
    state = SteadyState(min_write_success=0.99, max_p95_ms=50)
    r = reading(events, state, start=0, end=5)
    assert not r.holds and r.attempts == 100 and r.success == pytest.approx(0.95)
    assert "write success 95.0 %" in r.reason
    assert reading(events, SteadyState(min_write_success=0.9), start=0, end=5).holds
    assert not reading(events, SteadyState(max_p95_ms=1), start=0, end=5).holds  # 3 ms is not under 1 ms
    assert not reading([], state, start=0, end=5).holds


def test_rolling_availability_and_a_guard_that_trips() -> None:
    events = [_w(i * 0.05, ok=i < 20, seq=i) for i in range(80)]  # up for 1 s, then down for 3 s
    assert rolling_availability(events, start=0, end=1, interval_s=0.05) == pytest.approx(1.0)
    assert rolling_availability(events, start=1, end=4, interval_s=0.05) == 0.0
    h = History.of_events(events)
    guard = Guard(h, [AbortCondition("availability", 0.5, 2.0)], interval_s=0.05)
    guard.started = 0.0
    assert guard.check(1.5) is None            # not a full look-back of 2 s yet... and 75 % up
    reason = guard.check(4.0)
    assert reason is not None and reason.startswith("aborted: availability below 50 % for 2 s")


def test_guard_on_a_monitor_metric_needs_it_to_hold_for_its_duration() -> None:
    h = History()
    guard = Guard(h, [AbortCondition("lag_bytes", 1024**3, 2.0)], interval_s=0.05)
    t = time.monotonic()
    h.add(Sample(at=Stamp(t=t, wall=0), node="node2", role="replica", metrics={"up": 1, "lag_bytes": 2 * 1024**3}))
    assert guard.check(t) is None              # above, but not for 2 s yet
    h.add(Sample(at=Stamp(t=t + 2.5, wall=0), node="node2", role="replica", metrics={"up": 1, "lag_bytes": 2e9}))
    assert "lag_bytes above" in (guard.check(t + 2.5) or "")


def test_live_view_renders_what_the_journal_says(tmp_path: Path) -> None:
    d = tmp_path / "scenarios" / "01-kill"
    d.mkdir(parents=True)
    events = [
        Note(at=_st(0), name="step", detail="When I kill the primary"),
        Sample(at=_st(0.5), node="node1", role="down", metrics={"up": 0}),
        Sample(at=_st(0.5), node="node2", role="primary", metrics={"up": 1, "connections_pct": 10}),
        FaultEvent(at=_st(0.1), fault="kill", target="node1", phase="inject", detail="SIGKILL"),
        AlertEvent(at=_st(0.6), alert="database down", severity="critical", node="node1", phase="firing"),
        *[_w(i * 0.05, ok=True, seq=i) for i in range(10)],
    ]
    with (d / "journal.jsonl").open("w") as f:
        for e in events:
            f.write(e.model_dump_json() + "\n")
        f.write('{"half a line')  # the writer may be mid-line: it must wait for the rest
    state = LiveState(tmp_path)
    state.poll()
    console = Console(record=True, width=160)
    console.print(render(state))
    text = console.export_text()
    for expected in ("01-kill", "When I kill the primary", "kill on node1", "CRITICAL database down on node1",
                     "node2", "primary", "downtime 0.000 s", "kill on node1: write RTO 0.000 s"):
        assert expected in text, expected
    assert len(state.current.events) == len(events)  # type: ignore[union-attr]


def _scenario(name: str, status: str, tags: list[str], rto: float | None = 0.5) -> dict[str, object]:
    return {"scenario": name, "status": status, "tags": tags, "violations": [],
            "measurements": {"rto_write_s": rto, "availability": 0.9}, "targets": {"min_availability": 0.5}}


def test_scorecard_levels_and_untested_criteria(tmp_path: Path) -> None:
    runs = [_scenario("failover", "passed", ["failover"]), _scenario("alerts", "passed", ["alerting"])]
    level, crits = scorecard(runs)
    assert level == 0  # backups were not tested: level 1 is not reached, whatever else passed
    verdicts = {c.name: c.verdict for c in crits}
    assert verdicts["manual failover works"] == "met" and verdicts["automated daily backups"] == "not tested"
    level, _ = scorecard(runs + [_scenario("backup", "passed", ["backup"])])
    assert level == 1
    _, crits = scorecard([_scenario("failover", "failed", ["failover"], rto=9.0)])
    assert {c.name: c.verdict for c in crits}["near-zero RTO (write RTO < 5 s in every failover drill)"] == "missed"
    md, html = write_summaries(tmp_path, {"run_id": "r1", "runtime": "docker", "started": "now", "scenarios": runs})
    assert "| failover | passed |" in md.read_text() and "level 0 of 3" in html.read_text()
    json.dumps(runs)  # the summary data stays plain JSON
