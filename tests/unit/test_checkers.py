"""Unit tests of the pure checkers over hand-built histories."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.checkers import (
    Measurements,
    Targets,
    availability,
    combine,
    evaluate,
    evaluate_mttr,
    measure,
    rpo,
    rto,
)
from harness.checkers.outages import Outage
from harness.history import Event, FaultEvent, FinalRead, History, Note, ProbeOp, Stamp

BASE_WALL = 1_700_000_000.0


def st(t: float, wall: float | None = None) -> Stamp:
    return Stamp(t=t, wall=BASE_WALL + t if wall is None else wall)


def op(
    seq: int,
    start: float,
    end: float | None = None,
    outcome: str = "ok",
    probe: str = "write",
    wall_start: float | None = None,
    wall_end: float | None = None,
) -> ProbeOp:
    end = start + 0.1 if end is None else end
    return ProbeOp.model_validate(
        {
            "at": st(start, wall_start),
            "probe": probe,
            "seq": seq,
            "node": "pg1",
            "outcome": outcome,
            "end": st(end, wall_end),
        }
    )


def fault(t: float) -> FaultEvent:
    return FaultEvent(at=st(t), fault="kill", target="primary", phase="inject")


def final(*ranges: tuple[int, int], t: float = 1000.0, node: str = "pg2") -> FinalRead:
    return FinalRead(at=st(t), node=node, present=list(ranges))


def note(name: str, t: float) -> Note:
    return Note(at=st(t), name=name)


def writes(seqs: range, outcome: str = "ok", every: float = 1.0) -> list[ProbeOp]:
    """One write per second starting at t=seq (ack 0.1 s later)."""
    return [op(s, s * every, outcome=outcome) for s in seqs]


# --- verdict ---------------------------------------------------------------------------


def test_combine_invalid_beats_unknown_beats_valid() -> None:
    assert combine() == "valid"
    assert combine("valid", "valid") == "valid"
    assert combine("valid", "unknown") == "unknown"
    assert combine("unknown", "invalid", "valid") == "invalid"


# --- RPO -------------------------------------------------------------------------------


def test_rpo_no_loss() -> None:
    r = rpo(History.of_events([*writes(range(1, 11)), final((1, 10))]))
    assert r.lost == 0
    assert r.lost_seqs == []
    assert r.window_s == 0.0
    assert r.first_lost_wall is None and r.last_lost_wall is None
    assert r.acknowledged == 10
    assert r.final_read_node == "pg2"
    assert r.status == "valid"


def test_rpo_loss_in_the_middle_exact_count_and_window() -> None:
    r = rpo([*writes(range(1, 11)), final((1, 3), (7, 10))])
    assert r.lost == 3
    assert r.lost_seqs == [(4, 6)]
    assert r.window_s == pytest.approx(6.1 - 3.1)  # from the last safe write (seq 3) to the last lost
    assert r.first_lost_wall == pytest.approx(BASE_WALL + 4.1)
    assert r.last_lost_wall == pytest.approx(BASE_WALL + 6.1)
    assert r.status == "invalid"
    assert "3 of 10" in r.reason


def test_rpo_single_lost_write_spans_one_probe_interval() -> None:
    r = rpo([*writes(range(1, 6)), final((1, 2), (4, 5))])
    assert r.lost == 1
    assert r.lost_seqs == [(3, 3)]
    assert r.window_s == pytest.approx(1.0)  # one write a second: the data since seq 2's ack


def test_rpo_indeterminate_writes_are_never_lost() -> None:
    events: list[Event] = [
        *writes(range(1, 4)),
        op(4, 4.0, outcome="timeout"),  # absent: not lost
        op(5, 5.0, outcome="fail"),  # absent: not lost
        op(6, 6.0, outcome="timeout"),  # present: happened after all
        op(7, 7.0),
        final((1, 3), (6, 7)),
    ]
    r = rpo(events)
    assert r.lost == 0
    assert r.status == "valid"
    assert r.acknowledged == 4
    assert r.indeterminate == 3
    assert r.indeterminate_present == 1


def test_rpo_retried_seq_is_counted_once() -> None:
    events: list[Event] = [
        op(1, 1.0),
        op(2, 2.0, outcome="timeout"),
        op(2, 3.0, end=3.2),  # retry acknowledged: not indeterminate any more
        op(2, 4.0, end=4.2),  # acknowledged again
        op(3, 5.0),
        final((1, 1), (3, 3)),
    ]
    r = rpo(events)
    assert r.lost == 1
    assert r.lost_seqs == [(2, 2)]
    assert r.acknowledged == 3
    assert r.indeterminate == 0
    assert r.first_lost_wall == pytest.approx(
        BASE_WALL + 3.2
    )  # the first acknowledgement


def test_rpo_without_final_read_is_unknown() -> None:
    r = rpo(writes(range(1, 4)))
    assert r.lost is None
    assert r.window_s is None
    assert r.status == "unknown"


def test_rpo_uses_the_last_final_read() -> None:
    r = rpo(
        [
            *writes(range(1, 5)),
            final((1, 4), t=50, node="pg1"),
            final((1, 2), t=60, node="pg3"),
        ]
    )
    assert r.lost == 2
    assert r.final_read_node == "pg3"


# --- RTO -------------------------------------------------------------------------------


def test_rto_never_recovers() -> None:
    events: list[Event] = [
        *writes(range(1, 5)),
        fault(4.5),
        *writes(range(5, 10), outcome="timeout"),
    ]
    r = rto(events)
    assert r.value_s is None
    assert r.recovered_at is None
    assert r.status == "invalid"
    assert r.failed_ops == 5
    assert r.fault_at == st(4.5)
    assert r.reason.startswith("no acknowledged write after the fault at")


def test_rto_last_op_failing_after_some_successes_is_never_recovered() -> None:
    events: list[Event] = [
        fault(1.5),
        op(2, 2.0, outcome="fail"),
        op(3, 3.0),
        op(4, 4.0, outcome="timeout"),
    ]
    r = rto(events)
    assert r.value_s is None
    assert r.status == "invalid"


def test_rto_no_op_after_fault_is_never_recovered() -> None:
    r = rto([*writes(range(1, 4)), fault(10.0)])
    assert r.value_s is None
    assert r.status == "invalid"
    assert r.reason.startswith("no acknowledged write after the fault at")


def test_rto_fault_without_outage_is_zero() -> None:
    r = rto([*writes(range(1, 4)), fault(3.5), *writes(range(4, 8))])
    assert r.value_s == 0.0
    assert r.failed_ops == 0
    assert r.status == "valid"


def test_rto_without_fault_is_zero() -> None:
    r = rto(writes(range(1, 4)))
    assert r.value_s == 0.0
    assert r.fault_at is None
    assert r.status == "valid"


def test_rto_fault_before_window_start_is_ignored() -> None:
    events: list[Event] = [
        fault(0.5),
        note("window_start", 1.0),
        *writes(range(1, 4)),
        fault(3.5),
        op(4, 4.0, outcome="fail"),
        op(5, 5.0),
    ]
    r = rto(events)
    assert r.fault_at == st(3.5)
    assert r.value_s == pytest.approx(5.1 - 3.5)


def test_rto_flapping_recovery_measured_from_after_the_last_failure() -> None:
    events: list[Event] = [
        fault(10.0),
        op(1, 10.5, outcome="fail"),
        op(2, 11.0),  # looks recovered ...
        op(3, 12.0, outcome="fail"),  # ... but is not
        op(4, 13.0, end=13.2),
        op(5, 14.0),
    ]
    r = rto(events)
    assert r.value_s == pytest.approx(3.2)
    assert r.recovered_at == st(13.2)
    assert r.failed_ops == 2


def test_rto_counts_ops_in_flight_at_the_fault() -> None:
    events: list[Event] = [
        op(1, 9.0, end=9.1, outcome="fail"),  # ended before the fault: not counted
        op(2, 9.8, end=10.3, outcome="timeout"),  # in flight at the fault
        fault(10.0),
        op(3, 10.5, end=10.6),
        op(4, 11.0),
    ]
    r = rto(events)
    assert r.failed_ops == 1
    assert r.value_s == pytest.approx(0.6)


def test_rto_op_in_flight_that_succeeds_is_no_outage() -> None:
    r = rto([op(1, 9.8, end=10.3), fault(10.0), op(2, 11.0)])
    assert r.value_s == 0.0


def test_rto_ties_on_identical_timestamps() -> None:
    # An op ending exactly at the fault did not end after it.
    assert (
        rto([op(1, 9.5, end=10.0, outcome="fail"), fault(10.0), op(2, 10.0)]).value_s
        == 0.0
    )
    # Same start: the order is by end, so the ok op that ended later follows the failure.
    r = rto([fault(10.0), op(1, 11.0, end=11.0, outcome="fail"), op(2, 11.0, end=11.5)])
    assert r.value_s == pytest.approx(1.5)
    # Same start, but the ok op ended before the failure: recovery is the next op.
    r = rto(
        [
            fault(10.0),
            op(1, 11.0, end=11.2),
            op(2, 11.0, end=11.4, outcome="fail"),
            op(3, 12.0),
        ]
    )
    assert r.value_s == pytest.approx(2.1)


def test_rto_resolution_inferred_as_median_gap_or_given() -> None:
    events: list[Event] = [op(1, 0.0), op(2, 1.0), op(3, 2.0), op(4, 5.0), fault(0.5)]
    assert rto(events).resolution_s == pytest.approx(1.0)
    assert rto(events, resolution_s=0.25).resolution_s == 0.25
    assert rto([op(1, 0.0)]).resolution_s is None


def test_rto_read_probe_only_looks_at_reads() -> None:
    events: list[Event] = [
        fault(1.0),
        op(1, 1.5, outcome="fail"),  # a write failure does not affect the read RTO
        op(2, 2.5),
        op(1, 1.2, outcome="fail", probe="read"),
        op(2, 1.7, end=1.9, probe="read"),
    ]
    assert rto(events, "read").value_s == pytest.approx(0.9)
    assert rto(events, "write").value_s == pytest.approx(1.6)


def test_numbers_use_monotonic_time_when_the_wall_clock_goes_backwards() -> None:
    # Wall clock steps back 100 s at the fault; monotonic keeps going.
    def bw(seq: int, start: float, outcome: str = "ok") -> ProbeOp:
        shift = 0.0 if start < 10 else -100.0
        return op(
            seq,
            start,
            outcome=outcome,
            wall_start=BASE_WALL + start + shift,
            wall_end=BASE_WALL + start + 0.1 + shift,
        )

    events: list[Event] = [
        *(bw(s, float(s)) for s in range(1, 10)),
        fault(9.5),
        bw(10, 10.0, "fail"),
        bw(11, 11.0),
        bw(12, 12.0),
        final((1, 7), (12, 12)),
    ]
    r = rto(events)
    assert r.value_s == pytest.approx(11.1 - 9.5)
    loss = rpo(events)
    assert loss.lost_seqs == [(8, 9), (11, 11)]
    assert loss.window_s == pytest.approx(11.1 - 7.1)
    assert loss.first_lost_wall == pytest.approx(
        BASE_WALL + 8.1
    )  # first by monotonic ack ...
    assert loss.last_lost_wall == pytest.approx(
        BASE_WALL + 11.1 - 100
    )  # ... though wall is earlier
    assert availability(events, 1.0).window_s == pytest.approx(12.1 - 1.1)  # from the first ack


# --- availability (in time: 1 - downtime / window) ---------------------------------------


def test_availability_with_a_gap_is_downtime_over_the_window() -> None:
    # A write every 0.5 s (acked 0.1 s later), failing from 3.0 to 5.5: no ack from 2.6 to 6.1.
    ops = [op(i, i * 0.5, outcome="fail" if 3.0 <= i * 0.5 < 6.0 else "ok") for i in range(20)]
    events: list[Event] = [note("window_start", 0.0), *ops, note("window_end", 10.0)]
    r = availability(events, 0.5)
    assert r.downtime_s == pytest.approx(6.1 - 2.6)
    assert r.window_s == pytest.approx(10.0 - 0.1)  # from the first acknowledgement to the window's end
    assert r.value == pytest.approx(1 - 3.5 / 9.9)
    assert r.status == "valid"


def test_availability_without_notes_spans_the_write_probes() -> None:
    ops = [op(i, float(i), outcome="fail" if i in (4, 5) else "ok") for i in range(10)]
    r = availability(ops, 0.5)  # threshold 1.5 s: the 3 s without an ack (3.1 to 6.1) is an outage
    assert r.window_s == pytest.approx(9.1 - 0.1)  # from the first acknowledgement
    assert r.downtime_s == pytest.approx(3.0)


def test_availability_ignores_writes_outside_the_window() -> None:
    events: list[Event] = [
        op(1, 0.5),
        note("window_start", 1.0),
        op(2, 1.5, outcome="fail"),
        note("window_end", 2.0),
        op(3, 2.5),
    ]
    r = availability(events, 0.1)
    assert r.value == pytest.approx(0.0)  # no ack inside it: down from the first attempt to beyond its end


def test_availability_unknown_without_writes() -> None:
    r = availability([note("window_start", 0.0), note("window_end", 10.0)], 1.0)
    assert r.value is None
    assert r.status == "unknown"
    with pytest.raises(ValueError):
        availability([], 0.0)


# --- targets ---------------------------------------------------------------------------


def measurements(**changes: object) -> Measurements:
    base = Measurements(
        rto_write_s=5.0,
        rto_read_s=2.0,
        rpo_lost_writes=0,
        rpo_window_s=0.0,
        rpo_s=0.0,
        downtime_s=0.0,
        error_budget_used=0.0,
        availability=1.0,
        probe_interval_s=0.5,
        writes_acknowledged=100,
        writes_indeterminate=0,
        reads_ok=10,
        reads_failed=0,
        fault_at_wall=BASE_WALL,
        status="valid",
        problems=[],
    )
    return base.model_copy(update=changes)


def test_targets_pass_when_under() -> None:
    assert evaluate(measurements(), Targets(max_rto_write_s=10)) == []


def test_rto_bound_is_strict() -> None:
    t = Targets(max_rto_write_s=10)
    assert evaluate(measurements(rto_write_s=9.99), t) == []
    (v,) = evaluate(measurements(rto_write_s=10.0), t)
    assert v.name == "rto_write_s" and v.measured == 10.0 and v.target == "< 10 s"
    (v,) = evaluate(measurements(rto_write_s=12.4), t)
    assert v.message == "write RTO 12.40 s is not under 10 s"


def test_rpo_window_bound_is_strict() -> None:
    t = Targets(max_rpo_s=5)
    assert evaluate(measurements(rpo_s=4.9), t) == []
    assert [v.name for v in evaluate(measurements(rpo_s=5.0), t)] == ["rpo_s"]


def test_availability_is_at_least() -> None:
    t = Targets(min_availability=0.99)
    assert evaluate(measurements(availability=0.99), t) == []
    (v,) = evaluate(measurements(availability=0.98), t)
    assert v.name == "availability" and v.target == ">= 99 %"


def test_a_missed_downtime_or_availability_says_what_the_downtime_is_made_of() -> None:
    # A CI run that misses "downtime under 5 s" must tell one long outage from many short stalls.
    def outage(start: float, length: float) -> Outage:
        return Outage(probe="write", start=Stamp(t=start, wall=BASE_WALL + start),
                      end=Stamp(t=start + length, wall=BASE_WALL + start + length), length_s=length)
    m = measurements(downtime_s=5.98, availability=0.88,
                     outages=[outage(3.0, 0.4), outage(9.0, 2.13), outage(20.0, 3.45)])
    (v,) = evaluate(m, Targets(max_downtime_s=5))
    assert v.message == "downtime 5.98 s is not under 5 s (3 outages, the longest 3.45 s, 5.98 s in all)"
    (v,) = evaluate(m, Targets(min_availability=0.95))
    assert v.message.endswith("is not at least 95 % (3 outages, the longest 3.45 s, 5.98 s in all)")
    one = measurements(downtime_s=0.4, outages=[outage(1.0, 0.4)])
    (v,) = evaluate(one, Targets(max_downtime_s=0.3))
    assert v.message.endswith("(1 outage, the longest 0.40 s, 0.40 s in all)")


def test_lost_writes_bound_is_at_most_and_optional() -> None:
    assert (
        evaluate(measurements(rpo_lost_writes=7), Targets()) == []
    )  # no count bound by default
    t = Targets(max_lost_writes=2)
    assert evaluate(measurements(rpo_lost_writes=2), t) == []
    (v,) = evaluate(measurements(rpo_lost_writes=3), t)
    assert v.name == "rpo_lost_writes" and v.measured == 3


def test_missing_measurement_is_a_violation() -> None:
    (v,) = evaluate(measurements(rto_write_s=None), Targets())
    assert v.name == "rto_write_s" and v.measured is None
    assert "no recovery measured" in v.message
    names = {
        v.name
        for v in evaluate(
            measurements(rpo_lost_writes=None, rpo_s=None, availability=None, error_budget_used=None),
            Targets(max_lost_writes=0, min_availability=0.5),
        )
    }
    assert names == {"rpo_s", "rpo_lost_writes", "availability", "error_budget_used"}


def test_read_rto_bound_applies_only_when_reads_ran() -> None:
    assert (
        evaluate(measurements(rto_read_s=None, reads_ok=0, reads_failed=0), Targets())
        == []
    )
    (v,) = evaluate(
        measurements(rto_read_s=None, reads_ok=0, reads_failed=3), Targets()
    )
    assert v.name == "rto_read_s"


def test_mttr_bound() -> None:
    assert evaluate_mttr(100.0, Targets(max_mttr_s=120)) == []
    assert [v.name for v in evaluate_mttr(120.0, Targets(max_mttr_s=120))] == ["mttr_s"]
    assert evaluate_mttr(None, Targets())[0].measured is None


def test_targets_with_returns_a_validated_copy() -> None:
    t = Targets()
    t2 = t.with_(max_rto_write_s=10, max_lost_writes=0)
    assert (t2.max_rto_write_s, t2.max_lost_writes) == (10, 0)
    assert t.max_rto_write_s == 3600  # the original is untouched
    with pytest.raises(ValidationError):
        t.with_(max_rto_wrte_s=10)
    with pytest.raises(ValidationError):
        t.with_(min_availability=1.5)


# --- measure ---------------------------------------------------------------------------


def drill() -> list[Event]:
    """Writes every 0.5 s; a fault at 5.0; writes fail until 8.0; seqs 9 and 10 lost."""
    events: list[Event] = [note("window_start", 0.0)]
    for i in range(20):
        t = i * 0.5
        events.append(op(i, t, outcome="timeout" if 5.0 <= t < 8.0 else "ok"))
        events.append(
            op(
                i,
                t + 0.2,
                end=t + 0.3,
                probe="read",
                outcome="fail" if 5.0 <= t < 6.5 else "ok",
            )
        )
    events.insert(11, fault(5.0))
    events += [note("window_end", 10.0), final((0, 8), (11, 19))]
    return events


def test_measure_a_drill() -> None:
    m = measure(drill(), 0.5)
    # No surviving ack from 4.1 (seq 8; seq 9 acked at 4.6 is lost) to 8.1: a 4 s outage.
    assert m.rto_write_s == pytest.approx(8.1 - 5.0)
    assert m.rto_read_s == pytest.approx(6.8 - 5.0)  # read started 6.7, acked 6.8
    assert (
        m.rpo_lost_writes == 1
    )  # seq 9 acked at 4.6; seq 10 (at 5.0) timed out: indeterminate
    assert m.rpo_s == m.rpo_window_s == pytest.approx(4.6 - 4.1)
    assert m.downtime_s == pytest.approx(4.0)
    assert m.availability == pytest.approx(1 - 4.0 / 9.9)  # the window runs from the first ack (0.1)
    assert m.writes_acknowledged == 14
    assert m.writes_indeterminate == 6
    assert (m.reads_ok, m.reads_failed) == (17, 3)
    assert m.fault_at_wall == pytest.approx(BASE_WALL + 5.0)
    assert m.status == "invalid"  # an acknowledged write was lost
    assert any(p.startswith("RPO:") for p in m.problems)


def test_measure_without_reads_is_not_unknown() -> None:
    m = measure(
        [*writes(range(1, 6)), fault(5.5), *writes(range(6, 9)), final((1, 8))], 1.0
    )
    assert m.rto_read_s is None
    assert m.rto_write_s == 0.0
    assert m.status == "valid"
    assert any("read" in p for p in m.problems)


def test_measure_without_final_read_is_unknown() -> None:
    m = measure(writes(range(1, 6)), 1.0)
    assert m.rpo_lost_writes is None
    assert m.status == "unknown"


def test_a_crashing_checker_gives_unknown_never_a_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(_: object) -> None:
        raise RuntimeError("boom: bad range")

    # The package re-exports `rpo` over its module's name; reach the module itself.
    monkeypatch.setattr(
        importlib.import_module("harness.checkers.measure"), "rpo", boom
    )
    m = measure([*writes(range(1, 6)), final((1, 5))], 1.0)
    assert m.rpo_lost_writes is None and m.rpo_window_s is None
    assert m.status == "unknown"
    assert any(
        "RPO checker crashed" in p and "boom: bad range" in p for p in m.problems
    )
    assert m.rto_write_s == 0.0  # the other checkers still ran
    assert {v.name for v in evaluate(m, Targets())} == {"rpo_s"}


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = tmp_path / "history.jsonl"
    h = History(journal=journal)
    for e in drill():
        h.add(e)
    h.close()
    loaded = History.load(journal)
    assert len(loaded) == len(h)
    assert measure(loaded, 0.5) == measure(h, 0.5)
    assert measure(loaded, 0.5).rpo_lost_writes == 1
