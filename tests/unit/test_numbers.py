"""The number definitions (DESIGN, numbers v2) on hand-made histories whose answer is known.

Each history is what a probe writing every 50 ms would record; ``simulate`` plays the probe's
rules (an attempt to a frozen server hangs until the thaw or its timeout, and while attempts
hang a new one starts every timeout / 3; a refused connection fails at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.checkers import Targets, evaluate, measure
from harness.checkers.detection import detect
from harness.checkers.outages import outage_threshold, outages
from harness.history import AlertEvent, Event, FaultEvent, FinalRead, History, Note, ProbeOp, Stamp

WALL = 1_700_000_000.0
INTERVAL = 0.05


def st(t: float) -> Stamp:
    return Stamp(t=t, wall=WALL + t)


def simulate(start: float, stop: float, *, frozen: Sequence[tuple[float, float]] = (),
             down: Sequence[tuple[float, float]] = (), latency: float = 0.005, timeout: float = 1.0,
             node: str = "node1", instance: str = "a", seq0: int = 0, probe: str = "write") -> list[ProbeOp]:
    ops: list[ProbeOp] = []
    t, seq = start, seq0

    def grid_after(x: float) -> float:
        return start + (int((x - start) / INTERVAL + 1e-9) + 1) * INTERVAL

    while t < stop:
        seq += 1
        thaw = next((b for a, b in frozen if a <= t < b), None)
        if thaw is not None:
            answered = thaw + latency
            end, outcome = (answered, "ok") if answered - t < timeout else (t + timeout, "timeout")
            nxt = min(t + timeout / 3, max(grid_after(t), end))  # another attempt while this one hangs
        elif any(a <= t < b for a, b in down):
            end, outcome, nxt = t + 0.002, "fail", grid_after(t)
        else:
            end, outcome = t + latency, "ok"
            nxt = max(grid_after(t), end)  # the next tick, or at once when it is overdue
        ops.append(ProbeOp(at=st(t), end=st(end), probe=probe, seq=seq, node=node,  # type: ignore[arg-type]
                           outcome=outcome, instance=instance))  # type: ignore[arg-type]
        t = nxt
    return ops


def fault(t: float, name: str = "pause", target: str = "node1", lag: float = 0.01) -> FaultEvent:
    return FaultEvent(at=st(t + lag), began=st(t), fault=name, target=target, phase="inject")


def window(events: list[Event], start: float, end: float) -> list[Event]:
    return [Note(at=st(start), name="window_start"), *sorted(events, key=lambda e: e.at.t),
            Note(at=st(end), name="window_end")]


def survivor(ops: Sequence[ProbeOp], *, node: str = "node1", lost: Sequence[int] = ()) -> FinalRead:
    keep = sorted({o.seq for o in ops if o.probe == "write"} - set(lost))
    ranges: list[tuple[int, int]] = []
    for s in keep:
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], s)
        else:
            ranges.append((s, s))
    return FinalRead(at=st(1e4), node=node, present=ranges)


# -- the table, as histories -------------------------------------------------------


def test_a_freeze_of_800_ms_is_one_outage_and_its_rto() -> None:
    ops = simulate(0, 6, frozen=[(2.02, 2.82)])
    m = measure(window([*ops, fault(2.02)], 0, 6) + [survivor(ops)], INTERVAL)
    # No attempt failed (each hung and was served at the thaw): v1 said RTO 0.
    assert all(o.outcome == "ok" for o in ops)
    assert len(m.outages) == 1
    assert m.rto_write_s == pytest.approx(0.805)
    assert m.outages[0].length_s == pytest.approx(0.82)  # from the last ack before it, as a client sees it
    assert m.downtime_s == pytest.approx(m.outages[0].length_s)
    assert m.availability == pytest.approx(1 - m.outages[0].length_s / (6 - 0.005))  # from the first ack
    (f,) = m.faults
    assert (f.name, f.target, f.rto_write_s) == ("pause", "node1", m.rto_write_s)
    assert f.began_wall == pytest.approx(WALL + 2.02)


def test_two_freezes_are_two_outages_each_with_its_own_rto() -> None:
    ops = simulate(0, 12, frozen=[(2.02, 4.02), (8.02, 9.02)])
    m = measure(window([*ops, fault(2.02), fault(8.02)], 0, 12) + [survivor(ops)], INTERVAL)
    assert [o.length_s for o in m.outages] == [pytest.approx(2.02), pytest.approx(1.02)]
    assert [f.rto_write_s for f in m.faults] == [pytest.approx(2.005), pytest.approx(1.005)]
    assert m.rto_write_s == pytest.approx(2.005)  # the largest, not the span from the first to the last (v1: 6 s)
    assert [f.downtime_s for f in m.faults] == [pytest.approx(2.02), pytest.approx(1.02)]
    assert m.downtime_s == pytest.approx(3.04)


def test_latency_under_the_threshold_is_no_outage() -> None:
    ops = simulate(0, 10, latency=0.120)  # each write takes 120 ms; none fails
    m = measure(window([*ops, fault(1.0, "delay")], 0, 10) + [survivor(ops)], INTERVAL)
    assert m.outages == [] and m.downtime_s == 0
    assert m.availability == 1.0  # v1: 52.8 %
    assert m.rto_write_s == 0.0 and m.faults[0].rto_write_s == 0.0
    assert m.error_budget_used == 0.0


def test_a_clean_stop_and_start_is_one_outage_to_the_first_write_after_the_start() -> None:
    ops = simulate(0, 7, down=[(2.02, 4.22)])  # refused while stopped
    stop = fault(2.02, "stop", lag=0.1)
    m = measure(window([*ops, stop], 0, 7) + [survivor(ops)], INTERVAL)
    (o,) = m.outages
    assert o.end is not None and o.end.t == pytest.approx(4.255)
    assert m.rto_write_s == pytest.approx(4.255 - 2.02)  # from the stop's began, not its return
    assert o.length_s == pytest.approx(4.255 - 2.005)


def test_writes_a_deposed_primary_acknowledged_and_lost_are_outage() -> None:
    old = simulate(0, 7.0, node="node1")  # node1 keeps acknowledging after it was deposed at 2.0
    new = simulate(7.0, 10, node="node2", seq0=old[-1].seq)
    rewound = [o.seq for o in old if o.at.t >= 1.99]
    events = window([*old, *new, fault(1.98, "partition")], 0, 10) + [survivor([*old, *new], node="node2",
                                                                               lost=rewound)]
    m = measure(events, INTERVAL)
    assert m.rpo_lost_writes == len(rewound) == 100
    (o,) = m.outages
    assert o.start.t == pytest.approx(1.955) and o.end is not None and o.end.t == pytest.approx(7.005)
    assert m.rto_write_s == pytest.approx(7.005 - 1.98)  # v1: 0, the lost writes counted as service
    assert m.availability == pytest.approx(1 - (7.005 - 1.955) / (10 - 0.005))
    assert m.rpo_s == pytest.approx(6.955 - 1.955)
    assert m.status == "invalid"


def test_one_lost_write_spans_one_probe_interval() -> None:
    ops = simulate(0, 5)
    m = measure(window(list(ops), 0, 5) + [survivor(ops, lost=[40])], INTERVAL)
    assert m.rpo_lost_writes == 1
    assert m.rpo_s == pytest.approx(INTERVAL)  # v1: 0


def test_two_lost_writes_15_s_apart_span_from_the_last_safe_write_before_the_first() -> None:
    ops = simulate(0, 20)
    first, last = ops[60], ops[360]  # acknowledged 15 s apart, survivors between them
    assert last.end.t - first.end.t == pytest.approx(15.0)
    m = measure(window(list(ops), 0, 20) + [survivor(ops, lost=[first.seq, last.seq])], INTERVAL)
    assert m.rpo_lost_writes == 2
    # A restore point must precede the first loss: survivors between do not shorten the span.
    assert m.rpo_s == pytest.approx(last.end.t - ops[59].end.t)
    assert m.outages == []  # one missing write is not 250 ms without service


def test_an_unrelated_warning_on_another_node_is_not_the_detection() -> None:
    ops = simulate(0, 6, down=[(2.02, 3.02)])
    warn = AlertEvent(at=st(2.3), alert="high query latency", severity="warning", node="node2", phase="firing")
    down = AlertEvent(at=st(3.5), alert="database down", severity="critical", node="node1", phase="firing")
    kill = fault(2.02, "kill")
    m = measure(window([*ops, kill, warn, down], 0, 6) + [survivor(ops)], INTERVAL)
    assert m.detection_s == pytest.approx(1.48) and m.detected_by == "database down on node1"
    assert m.faults[0].detection_s == pytest.approx(1.48)
    only_warn = window([*ops, kill, warn], 0, 6)
    assert detect(only_warn, kill).value_s is None
    # A cluster-wide fault (its target names no node) is detected by any alert.
    assert detect(only_warn, fault(2.02, "dcs-outage", target="etcd")).value_s == pytest.approx(0.28)


def test_a_restarted_probe_is_a_new_instance_and_does_not_collide() -> None:
    a = simulate(0, 2, instance="a")
    b = simulate(2, 4, instance="b")  # numbered from 1 again
    a[10] = a[10].model_copy(update={"outcome": "timeout"})  # a's seq 11 is indeterminate; b's seq 11 is acked
    assert {o.seq for o in a} & {o.seq for o in b}
    m = measure(window([*a, *b], 0, 4) + [survivor([*a, *b])], INTERVAL)
    assert m.writes_acknowledged == len(a) + len(b) - 1
    assert m.writes_indeterminate == 1
    assert m.outages == []


def test_a_probe_started_again_on_the_same_history_numbers_on_under_a_new_instance() -> None:
    from harness.workload.probe import WriteProbe

    h = History()
    for o in simulate(0, 1, instance="old"):
        h.add(o)
    p = WriteProbe(h, lambda: None)
    q = WriteProbe(h, lambda: None)
    assert p.instance != q.instance and "old" not in (p.instance, q.instance)
    assert p.seq == max(o.seq for o in h.of(ProbeOp))  # its first write is the next seq: no row collides


# -- and the cases around them ----------------------------------------------------------------


def test_a_fault_that_causes_nothing() -> None:
    ops = simulate(0, 6)
    m = measure(window([*ops, fault(2.02, "cpu")], 0, 6) + [survivor(ops)], INTERVAL)
    assert m.rto_write_s == 0.0 and m.downtime_s == 0.0 and m.availability == 1.0
    assert m.faults[0].rto_write_s == 0.0 and m.faults[0].downtime_s == 0.0
    assert m.status == "valid"


def test_overlapping_faults_each_run_to_the_end_of_the_outage_in_force() -> None:
    ops = simulate(0, 8, frozen=[(2.02, 4.02)])
    m = measure(window([*ops, fault(2.02), fault(2.52, "partition")], 0, 8) + [survivor(ops)], INTERVAL)
    assert [f.rto_write_s for f in m.faults] == [pytest.approx(2.005), pytest.approx(1.505)]
    # The one outage is charged once, to the fault in force when it began.
    assert [f.downtime_s for f in m.faults] == [pytest.approx(2.02), 0.0]
    assert m.rto_write_s == pytest.approx(2.005)


def test_a_fault_that_causes_nothing_is_not_charged_for_the_next_faults_outage() -> None:
    # The next fault's outage starts at the last ack before it, a hair inside this fault's span.
    ops = simulate(0, 10, frozen=[(6.02, 7.02)])
    m = measure(window([*ops, fault(2.02, "cpu"), fault(6.02)], 0, 10) + [survivor(ops)], INTERVAL)
    assert m.outages[0].start.t < 6.02  # it begins at the last ack, inside the first fault's span
    assert [f.rto_write_s for f in m.faults] == [0.0, pytest.approx(1.005)]
    assert [f.downtime_s for f in m.faults] == [0.0, pytest.approx(1.02)]


def test_a_stall_that_ends_while_a_slow_injector_runs_is_not_the_faults_outage() -> None:
    # The machine stalls from 1.705 to 2.005; the kill is called at 2.0, returns at 2.38 (seen
    # under load), and its own outage follows.
    ops = simulate(0, 10, down=[(1.72, 1.98), (2.03, 5.02)])
    kill = fault(2.0, "kill", lag=0.38)
    m = measure(window([*ops, kill], 0, 10) + [survivor(ops)], INTERVAL)
    assert len(m.outages) == 2 and m.outages[0].end is not None and m.outages[0].end.t > 2.0
    assert m.rto_write_s == pytest.approx(5.055 - 2.0)  # not the 5 ms left of the stall
    assert m.faults[0].downtime_s == pytest.approx(5.055 - 2.005)


def test_a_flapping_recovery_runs_the_rto_to_the_first_return_and_counts_all_downtime() -> None:
    ops = simulate(0, 10, down=[(2.02, 3.02), (3.22, 5.02)])  # back for 200 ms, then gone again
    m = measure(window([*ops, fault(2.02, "kill")], 0, 10) + [survivor(ops)], INTERVAL)
    assert len(m.outages) == 2
    assert m.rto_write_s == pytest.approx(3.055 - 2.02)  # the end of the outage the fault caused first
    assert m.faults[0].downtime_s == pytest.approx(m.downtime_s)
    assert m.downtime_s == pytest.approx((3.055 - 2.005) + (5.055 - 3.205))


def test_a_thaw_just_before_the_timeout_ends_the_outage_at_the_thaw() -> None:
    ops = simulate(0, 6, frozen=[(2.02, 3.04)], timeout=1.0)  # the attempt sent at 2.05 is served at 3.045
    assert ops[41].at.t == pytest.approx(2.05) and ops[41].outcome == "ok"
    assert ops[41].end.t - ops[41].at.t == pytest.approx(0.995)  # 5 ms before its deadline
    # An attempt that had given up on a dead connection ends after the thaw: it does not extend the outage.
    late = ProbeOp(at=st(2.06), end=st(3.06), probe="write", seq=9999, node="node1", outcome="timeout", instance="a")
    m = measure(window([*ops, late, fault(2.02)], 0, 6) + [survivor(ops)], INTERVAL)
    assert m.rto_write_s == pytest.approx(3.045 - 2.02)
    assert len(m.outages) == 1


def test_service_that_never_comes_back_has_no_rto() -> None:
    ops = simulate(0, 5, down=[(2.02, 5.0)])
    m = measure(window([*ops, fault(2.02, "kill")], 0, 5) + [survivor(ops)], INTERVAL)
    assert m.rto_write_s is None and m.faults[0].rto_write_s is None
    assert m.outages[-1].end is None
    assert m.downtime_s == pytest.approx(5 - 2.005)
    assert m.status == "invalid"


def test_read_rto_per_fault_over_successful_reads() -> None:
    w = simulate(0, 6)
    r = simulate(0.01, 6, down=[(2.02, 3.02)], probe="read")
    m = measure(window([*w, *r, fault(2.02)], 0, 6) + [survivor(w)], INTERVAL)
    assert m.rto_write_s == 0.0
    assert m.rto_read_s == pytest.approx(3.065 - 2.02)
    assert m.faults[0].rto_read_s == m.rto_read_s


def test_a_slow_first_connection_is_the_probe_starting_not_an_outage() -> None:
    late = simulate(1.3, 6)  # the first write acknowledged 1.3 s after the window opened
    first_try = ProbeOp(at=st(0.01), end=st(1.3), probe="write", seq=0, node="node1", outcome="fail", instance="a")
    m = measure(window([first_try, *late, fault(3.02, "cpu")], 0, 6) + [survivor(late)], INTERVAL)
    assert m.outages == [] and m.availability == 1.0
    # ... unless a fault began before it: then the wait is the fault's.
    m = measure(window([first_try, *late, fault(0.5)], 0, 6) + [survivor(late)], INTERVAL)
    assert m.rto_write_s == pytest.approx(1.305 - 0.5)


def test_the_threshold_decides_and_is_never_under_three_intervals() -> None:
    ops = simulate(0, 5, frozen=[(2.02, 2.255)])  # 255 ms without an ack
    events = window([*ops, fault(2.02)], 0, 5) + [survivor(ops)]
    assert measure(events, INTERVAL).downtime_s == pytest.approx(0.255)
    assert measure(events, INTERVAL, outage_threshold_s=0.3).downtime_s == 0.0
    with pytest.raises(ValueError, match="under 3 probe intervals"):
        outage_threshold(0.1, INTERVAL)
    assert outage_threshold(None, 0.1) == pytest.approx(0.3)  # 250 ms unless 3 intervals are longer
    assert outages(events, threshold_s=0.25).threshold_s == 0.25


def test_the_error_budget_and_the_default_targets() -> None:
    ops = simulate(0, 10, frozen=[(2.02, 2.82)])
    m = measure(window([*ops, fault(2.02)], 0, 10) + [survivor(ops)], INTERVAL)
    assert m.error_budget_s == pytest.approx(2592.0)
    assert m.error_budget_used == pytest.approx(m.downtime_s / 2592.0)
    # A 0.82 s outage in a 10 s window is 91.8 % available and no breach of a monthly 99.9 %.
    assert m.availability is not None and m.availability < 0.92
    assert evaluate(m, Targets()) == []
    assert [v.name for v in evaluate(m, Targets(max_error_budget_used=0.0003))] == ["error_budget_used"]
    assert [v.name for v in evaluate(m, Targets(max_downtime_s=0.5))] == ["downtime_s"]
    assert [v.name for v in evaluate(m, Targets(min_availability=0.999))] == ["availability"]
    week = measure(window([*ops, fault(2.02)], 0, 10) + [survivor(ops)], INTERVAL, slo=0.99, slo_period_s=7 * 86400)
    assert week.error_budget_s == pytest.approx(6048.0)
    t = Targets(slo="99.99 %", slo_period="7 days")  # type: ignore[arg-type]
    assert (t.slo, t.slo_period, round(t.error_budget_s, 3)) == (pytest.approx(0.9999), 604800.0, 60.48)


def test_summary_fields_per_fault_in_injection_order() -> None:
    ops = simulate(0, 12, frozen=[(2.02, 4.02), (8.02, 9.02)])
    events = window([*ops, fault(8.02, "pause", "node2"), fault(2.02)], 0, 12) + [survivor(ops)]
    dumped = measure(events, INTERVAL).model_dump(mode="json")
    assert [f["target"] for f in dumped["faults"]] == ["node1", "node2"]
    assert set(dumped["faults"][0]) == {"name", "target", "began_wall", "rto_write_s", "rto_read_s", "downtime_s",
                                        "detection_s"}
    for key in ("downtime_s", "rpo_s", "error_budget_used", "rto_write_s", "availability", "rpo_window_s"):
        assert key in dumped


def test_numbers_read_back_from_the_journal_are_the_same(tmp_path: Path) -> None:
    ops = simulate(0, 6, frozen=[(2.02, 2.82)])
    h = History(journal=tmp_path / "j.jsonl")
    for e in window([*ops, fault(2.02)], 0, 6) + [survivor(ops)]:
        h.add(e)
    h.close()
    assert measure(History.load(tmp_path / "j.jsonl"), INTERVAL) == measure(h, INTERVAL)


def test_the_environment_refuses_a_threshold_under_three_intervals(tmp_path: Path) -> None:
    from harness.environment import load_environment
    from harness.errors import EnvironmentFileError

    f = tmp_path / "bad.yaml"
    f.write_text("name: bad\nprobe:\n  interval_ms: 100\n  outage_threshold_ms: 200\n")
    with pytest.raises(EnvironmentFileError) as err:
        load_environment(f)
    assert f"{f}:2: probe" in str(err.value) and "3 probe intervals" in str(err.value)
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: ok\nprobe:\n  interval_ms: 20\n  outage_threshold_ms: 100\n"
                  "targets:\n  slo: 99.95 %\n  slo_period: 30 days\n")
    env = load_environment(ok)
    assert env.probe.outage_threshold_s == pytest.approx(0.1) and env.targets.error_budget_s == pytest.approx(1296)


# -- how the numbers are shown ----------------------------------------------------------------


def _result(status: str) -> dict[str, object]:
    from harness.result import ScenarioResult

    ops = simulate(0, 6, frozen=[(2.02, 2.82)])
    m = measure(window([*ops, fault(2.02)], 0, 6) + [survivor(ops)], INTERVAL)
    return ScenarioResult(feature="f", scenario=f"a {status} drill", directory=Path("/nowhere"), status=status,  # type: ignore[arg-type]
                          measurements=m, targets=Targets()).to_json()


def test_an_errored_scenario_shows_no_number_anywhere(tmp_path: Path) -> None:
    from harness.report.summary import write_summaries

    broken, passed = _result("error"), _result("passed")
    numbers = {k: v for k, v in broken["measurements"].items()  # type: ignore[attr-defined]
               if k not in ("status", "problems", "probe_interval_s")}
    assert all(v is None for v in numbers.values()), numbers
    assert passed["measurements"]["downtime_s"] == pytest.approx(0.82)  # type: ignore[index]
    md, _ = write_summaries(tmp_path, {"run_id": "r1", "scenarios": [broken, passed]})
    rows = {line.split("|")[1].strip(): line for line in md.read_text().splitlines() if line.startswith("| a ")}
    assert "0.820 s" in rows["a passed drill"] and "pause node1 0.805 s" in rows["a passed drill"]
    cells = [c.strip() for c in rows["a error drill"].split("|")[3:-2]]
    assert cells and all(c.startswith("n/a") for c in cells), cells  # never 0 s or 100 %


def test_the_cli_table_shows_downtime_and_the_rto_of_each_fault(tmp_path: Path) -> None:
    import json

    from rich.console import Console

    from harness import cli

    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"run_id": "r1", "scenarios": [_result("passed"), _result("error")]}))
    console = Console(record=True, width=400)
    old, cli.console = cli.console, console
    try:
        cli._print_summary(path, 1.0)
    finally:
        cli.console = old
    text = console.export_text()
    assert "downtime" in text and "0.820 s" in text and "pause node1 0.805 s" in text
    error_row = next(line for line in text.splitlines() if "a error drill" in line)
    assert "n/a" in error_row and not any(x in error_row for x in ("0.805", "0.820", "0.000 s", "86.", "no fault"))


def test_the_outage_step_refuses_a_threshold_under_three_intervals_in_one_line(tmp_path: Path) -> None:
    from harness.drill import Drill
    from harness.errors import SetupError

    d = Drill("tnumbers", "n", tmp_path)
    try:
        with pytest.raises(SetupError, match="under 3 probe intervals") as err:
            d.set_outage_threshold(0.1)  # the probe writes every 50 ms
        assert "\n" not in str(err.value)
        d.set_outage_threshold(0.5)
        assert d.env.probe.outage_threshold_s == 0.5
    finally:
        d.history.close()
