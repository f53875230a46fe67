"""Fault schedules, pure parts: plans, phrases, per-cycle recoveries; plus the new step phrasings.

No Docker: plans are pure functions of their arguments, and the per-cycle checker reads a
hand-made history.
"""

from __future__ import annotations


import pytest
from pydantic import ValidationError

import harness.steps.pgfaults  # noqa: F401  (registers the phrasings)
from harness.errors import SetupError
from harness.faults.postgres import MetricSample, first_crossing, metric_samples
from harness.faults.schedule import (
    CYCLE_SERIES,
    DEFAULT_MENU,
    Action,
    PlannedFault,
    Schedule,
    cycle_recoveries,
    parse_action,
    plan_cycles,
    plan_random,
    recorded_schedules,
)
from harness.history import ActionEvent, FaultEvent, History, MetricReading, Note, ProbeOp, RepetitionMark, Stamp
from harness.steps.types import EXTRA_TYPES, known_phrasings
from harness.units import parse_size

# -- random plans ------------------------------------------------------------------------------


def test_same_seed_gives_the_same_plan() -> None:
    a = plan_random(42, 120, replicas=2)
    b = plan_random(42, 120, replicas=2)
    assert a == b
    assert a.model_dump_json() == b.model_dump_json()
    assert len(a.items) >= 3


def test_different_seeds_give_different_plans() -> None:
    plans = {plan_random(seed, 120, replicas=2).model_dump_json() for seed in range(20)}
    assert len(plans) == 20


@pytest.mark.parametrize("seed", range(50))
@pytest.mark.parametrize("duration", [10.0, 45.0, 120.0, 600.0])
def test_random_plans_respect_their_bounds(seed: int, duration: float) -> None:
    plan = plan_random(seed, duration, replicas=2, max_faults=12, max_hold_s=5, min_gap_s=1, max_gap_s=4)
    assert plan.seed == seed and plan.duration_s == duration
    assert len(plan.items) <= 12
    assert [p.index for p in plan.items] == list(range(1, len(plan.items) + 1))
    end = 0.0
    for p in plan.items:
        # one fault at a time: each starts after the previous window plus the minimum gap
        assert p.at_s >= end
        a = p.action
        assert (a.kind, "a replica" if a.role.startswith("replica") else a.role) in DEFAULT_MENU
        if a.kind in ("pause", "sigstop"):
            assert 1.0 <= a.hold_s <= 5.0
        # durations fit: the fault, its hold and its recovery allowance end inside the schedule
        assert p.at_s + a.budget_s() <= duration
        end = p.at_s + a.budget_s() + 1.0 - 0.051  # min gap, less the 0.1 s rounding of starts
    if duration >= 45:
        assert plan.items, "a schedule of 45 s or more holds at least one fault"


def test_random_plans_name_replicas_that_exist() -> None:
    for seed in range(30):
        for p in plan_random(seed, 300, replicas=1).items:
            assert p.action.role in ("the primary", "replica 1")
    only_primary = plan_random(1, 300, replicas=0)
    assert all(p.action.role == "the primary" for p in only_primary.items)


def test_a_schedule_too_short_for_any_fault_is_empty_and_bad_bounds_are_refused() -> None:
    assert plan_random(3, 2, replicas=2).items == ()
    with pytest.raises(SetupError):
        plan_random(3, 0, replicas=2)
    with pytest.raises(SetupError):
        plan_random(3, 60, replicas=2, min_gap_s=5, max_gap_s=1)
    with pytest.raises(SetupError):
        plan_random(3, 60, replicas=2, max_faults=0)


def test_the_plan_round_trips_through_the_journal(tmp_path: pytest.TempPathFactory) -> None:
    plan = plan_random(7, 90, replicas=2)
    h = History()
    h.add(Note(at=_s(0), name="schedule.plan", detail=plan.model_dump_json()))
    assert recorded_schedules(h) == [plan]


# -- cycles and phrases ------------------------------------------------------------------------


def test_cycles_start_every_period() -> None:
    plan = plan_cycles(parse_action("kill the primary"), 5, 30)
    assert [p.at_s for p in plan.items] == [0, 30, 60, 90, 120]
    assert plan.duration_s == 150
    assert {p.action for p in plan.items} == {Action(kind="kill", role="the primary", hold_s=0)}


def test_a_freeze_longer_than_the_period_is_refused() -> None:
    with pytest.raises(SetupError, match="does not fit"):
        plan_cycles(parse_action("pause the primary for 10 seconds"), 3, 5)
    with pytest.raises(SetupError):
        plan_cycles(parse_action("kill the primary"), 0, 5)


@pytest.mark.parametrize(("text", "kind", "role", "hold"), [
    ("kill the primary", "kill", "the primary", 0),
    ("crash the primary", "kill", "the primary", 0),
    ("pause the primary for 10 seconds", "pause", "the primary", 10),
    ("Pause  the primary for 2.5 s", "pause", "the primary", 2.5),
    ("freeze PostgreSQL on the primary for 3 seconds", "sigstop", "the primary", 3),
    ("stop a replica", "stop", "a replica", 2),
    ("kill a replica", "kill", "a replica", 2),
    ("kill replica 2 for 5 seconds", "kill", "replica 2", 5),
])
def test_known_fault_phrases_parse_and_read_back(text: str, kind: str, role: str, hold: float) -> None:
    a = parse_action(text)
    assert (a.kind, a.role, a.hold_s) == (kind, role, hold)
    assert parse_action(a.phrase) == a


@pytest.mark.parametrize("text", ["explode the primary", "pause the primary", "kill the database", "kill"])
def test_unknown_fault_phrases_say_what_is_known(text: str) -> None:
    with pytest.raises(SetupError, match="kill the primary|needs a length"):
        parse_action(text)


# -- per-cycle recoveries ----------------------------------------------------------------------


def _s(t: float) -> Stamp:
    return Stamp(t=t, wall=1_700_000_000 + t)


def _w(seq: int, t: float, ok: bool = True) -> ProbeOp:
    return ProbeOp(at=_s(t), end=_s(t + 0.01), probe="write", seq=seq, node="node1",
                   outcome="ok" if ok else "fail")


def _cycle(index: int, t: float) -> RepetitionMark:
    return RepetitionMark(at=_s(t), series=CYCLE_SERIES, index=index, of=2, action="kill the primary")


def test_each_cycle_is_measured_from_its_own_fault() -> None:
    ev: list[object] = [Note(at=_s(0), name="window_start")]
    ev += [_w(i, i * 0.1) for i in range(1, 10)]  # steady until t=1
    ev += [_cycle(1, 1.0), FaultEvent(at=_s(1.0), fault="kill", target="node1", phase="inject")]
    ev += [_w(10 + i, 1.0 + i * 0.1, ok=i >= 20) for i in range(40)]  # down 2 s
    ev += [ActionEvent(at=_s(1.0), end=_s(4.0), action="schedule.cycle", target="1", outcome="ok")]
    ev += [_cycle(2, 10.0), FaultEvent(at=_s(10.0), fault="kill", target="node2", phase="inject")]
    ev += [_w(100 + i, 10.0 + i * 0.1, ok=i >= 5) for i in range(40)]  # down 0.5 s
    ev += [ActionEvent(at=_s(10.0), end=_s(12.0), action="schedule.cycle", target="2", outcome="ok")]
    ev += [Note(at=_s(12.0), name="schedule.end")]
    ev += [_w(200, 12.5)]  # the last cycle's slice runs past the schedule's end...
    ev += [FaultEvent(at=_s(16.0), fault="kill", target="node1", phase="inject")]
    ev += [_w(999, 16.5, ok=False)]  # ...up to the next fault: what follows is not a cycle's business
    h = History.of_events(ev)  # type: ignore[arg-type]
    got = cycle_recoveries(h)
    assert [c.index for c in got] == [1, 2]
    assert [c.outcome for c in got] == ["ok", "ok"]
    assert got[0].write_rto_s == pytest.approx(2.01, abs=1e-6)
    assert got[1].write_rto_s == pytest.approx(0.51, abs=1e-6)


def test_the_last_cycle_may_recover_after_the_schedule_ends() -> None:
    h = History.of_events([
        _cycle(1, 1.0), FaultEvent(at=_s(1.0), fault="pause", target="node1", phase="inject"),
        _w(1, 1.5, ok=False), _w(2, 2.5, ok=False),
        ActionEvent(at=_s(1.0), end=_s(3.0), action="schedule.cycle", target="1", outcome="ok"),
        Note(at=_s(3.0), name="schedule.end"),
        _w(3, 3.2, ok=False), _w(4, 3.5), _w(5, 3.6),
    ])
    (c,) = cycle_recoveries(h)
    assert c.write_rto_s == pytest.approx(2.51, abs=1e-6)


def test_a_cycle_without_probes_is_not_measured_and_a_failed_one_says_so() -> None:
    h = History.of_events([
        _cycle(1, 1.0), FaultEvent(at=_s(1.0), fault="kill", target="node1", phase="inject"),
        ActionEvent(at=_s(1.0), end=_s(2.0), action="schedule.cycle", target="1", outcome="failed"),
        Note(at=_s(3.0), name="schedule.end"),
    ])
    (c,) = cycle_recoveries(h)
    assert c.write_rto_s is None and c.outcome == "failed" and "no write probe" in c.reason


# -- sampled metrics and sizes -----------------------------------------------------------------


def test_metric_samples_are_read_back_from_the_history() -> None:
    h = History.of_events([
        MetricReading(at=_s(1), metric="replication_lag_bytes", node="node2", value=10),
        MetricReading(at=_s(2), metric="replication_lag_bytes", node="node3", value=5000000),
        MetricReading(at=_s(3), metric="replication_lag_bytes", node="node2", value=2000000),
        MetricReading(at=_s(4), metric="wal_retained_bytes", node="node2", value=9999999),
    ])
    s = metric_samples(h, "replication_lag_bytes", "node2")
    assert [x.value for x in s] == [10, 2_000_000]
    assert first_crossing(s, 1 << 20) == MetricSample(_s(3), "replication_lag_bytes", "node2", 2_000_000)
    assert first_crossing(s, 3_000_000) is None
    assert metric_samples(h, "replication_lag_bytes", "node2", since=2.5)[0].value == 2_000_000


@pytest.mark.parametrize(("text", "n"), [("1 MB", 1 << 20), ("64MB", 64 << 20), ("512 kB", 512 << 10),
                                          ("2 GB", 2 << 30), ("1.5 MB", 3 << 19), ("100 bytes", 100)])
def test_sizes(text: str, n: int) -> None:
    assert parse_size(text) == n


def test_the_new_phrasings_are_registered_and_parse() -> None:
    from pytest_bdd import parsers

    examples = {
        "I pause the primary for 10 seconds": {"target": "the primary", "duration": 10.0},
        "replication lag on replica 1 exceeds 1 MB within 20 seconds":
            {"target": "replica 1", "size": 1 << 20, "timeout": 20.0},
        "WAL retained on the primary exceeds 64 MB within 60 seconds":
            {"target": "the primary", "size": 64 << 20, "timeout": 60.0},
        'I run 5 cycles of "kill the primary" every 30 seconds':
            {"cycles": 5, "action": "kill the primary", "period": 30.0},
        "I run a random fault schedule with seed 42 for 2 minutes": {"seed": 42, "duration": 120.0},
        'I corrupt a data page of table "probe" on the primary': {"table": "probe", "target": "the primary"},
    }
    for text, want in examples.items():
        hits = []
        for phrase in known_phrasings():
            p = parsers.parse(phrase, extra_types=EXTRA_TYPES)  # one registry: every phrase compiles
            if p.is_matching(text):
                hits.append(p.parse_arguments(text))
        assert hits == [want], (text, hits)
    for phrase in ("I heal all faults", "I break WAL archiving on {target:Target}", "I freeze {target:Target}",
                   "I thaw {target:Target}", "I pause WAL replay on {target:Target}",
                   'reading table "{table}" on {target:Target} fails with a checksum error'):
        assert phrase in known_phrasings()
    assert harness.steps.pgfaults.__name__


def test_planned_faults_are_frozen() -> None:
    p = PlannedFault(index=1, at_s=0, action=parse_action("kill the primary"))
    with pytest.raises(ValidationError):
        p.index = 2  # type: ignore[misc]
    assert Schedule(kind="cycles", duration_s=1, items=(p,)).describe().endswith("kill the primary")
