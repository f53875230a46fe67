"""Known answers: numbers the harness must get right because the truth is known independently.

(The lost-write count against the data itself is in test_cluster.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.checkers import measure
from harness.drill import Drill
from harness.faults.freeze import PauseNode
from harness.history import FaultEvent, ProbeOp
from harness.topology.pg import first_answer
from tests.integration.independent import INTERVAL as KA_INTERVAL
from tests.integration.independent import Agreement, IndependentClient, compare, run_drill

INTERVAL = 0.05


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "ka", tmp_path / "drill")
    try:
        yield d
    finally:
        d.close()


def test_a_freeze_of_known_length_gives_that_rto_within_one_probe_interval(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async")
    drill.start_probes(INTERVAL)
    time.sleep(1)
    primary = drill.target("the primary")
    address = drill.cluster.address(primary)
    fault = drill.apply(PauseNode(drill.cluster, primary))
    time.sleep(3.0)
    drill.faults.heal(fault)
    # Independent truth for the end of the outage: when a fresh client, outside the probe,
    # first gets an answer (a thawed server takes some ms to serve its queued connections).
    served = first_answer(address)
    time.sleep(1.5)
    m = drill.measurements()
    faults = drill.history.of(FaultEvent)
    inject = next(f for f in faults if f.phase == "inject")
    heal = next(f for f in faults if f.phase == "heal")
    assert inject.began is not None and heal.began is not None
    # The freeze really lasted between these bounds: it took effect between the injector's
    # call and return, and ended between the thaw's call and return.
    shortest = heal.began.t - inject.at.t
    longest = served - inject.began.t
    assert 2.9 < shortest <= heal.at.t - inject.began.t < 3.5
    assert m.rto_write_s is not None
    # No failover: service returns when the node thaws and answers, at most one probe interval
    # later (the probe keeps an attempt waiting with time to spare: it is served on the thaw).
    assert shortest - INTERVAL <= m.rto_write_s <= longest + INTERVAL, (m.rto_write_s, shortest, longest)
    assert m.rpo_lost_writes == 0


def test_a_run_without_faults_reports_no_loss_and_full_availability(drill: Drill) -> None:
    drill.configure(replicas=2, replication="sync")
    c = drill.cluster
    client = IndependentClient(lambda: c.address(c.primary))
    drill.start_probes(INTERVAL)
    client.start()
    time.sleep(3)
    a = compare("no fault", drill, client, KA_TOLERANCE)
    m = a.measurements
    assert m.rpo_lost_writes == 0 and m.rpo_window_s == 0
    # A commit stalled longer than 250 ms on this shared machine is an outage for any client:
    # the harness may report one only where the independent client saw it too.
    _agrees(a)
    if not a.client:
        assert m.availability == 1.0
    assert m.rto_write_s == 0.0 and m.writes_acknowledged >= 40
    # Recomputed from the journal alone, the same numbers.
    again = measure(drill.history.events(), INTERVAL)
    assert again.availability == m.availability and again.rpo_lost_writes == 0


def test_a_failover_away_from_a_frozen_primary_is_seen_when_it_happens(drill: Drill) -> None:
    """The probe must not stay stuck on the frozen old primary (psycopg's cancel request to a
    server that cannot answer blocked it for up to 10 s): the write RTO ends with the failover,
    not with the thaw."""
    from harness.history import ActionEvent

    drill.configure(replicas=1, replication="async")
    drill.start_probes(INTERVAL)
    time.sleep(1)
    fault = drill.apply(PauseNode(drill.cluster, drill.target("the primary")))
    drill.faults.heal_after(fault, 8.0)
    time.sleep(1.0)
    drill.failover()
    time.sleep(2.0)
    m = measure(drill.history, INTERVAL)
    inject = next(f for f in drill.history.of(FaultEvent) if f.phase == "inject")
    failover = next(a for a in drill.history.of(ActionEvent) if a.action == "failover")
    promoted_after = failover.end.t - inject.at.t
    assert m.rto_write_s is not None
    # Service is back once the new primary is promoted and the probe follows: within the
    # time of one stale attempt's abandonment and a new connection, far before the thaw at 8 s.
    assert promoted_after <= m.rto_write_s < promoted_after + 0.5, (m.rto_write_s, promoted_after)


# -- numbers v2 against an independent client -------------------------------------------------
# Each drill runs the harness's probes and a client of the tests' own (tests/integration/
# independent.py) side by side; the harness's write outages must be the client's, and each
# fault's RTO the known one. Agreement: every outage's start, end and length within one probe
# interval (each side sees an edge only at its next write) plus 50 ms (after a thaw the
# commits queue behind one WAL flush: measured, the harness's first commit was served 53 ms
# after the client's), or 250 ms where the service moves to another node or the server starts
# again (each side opens connections of its own there). bench/known_answers.py prints the measured disagreements.


KA_TOLERANCE = KA_INTERVAL + 0.05  # a probe interval, plus the time a thawed server takes to answer


def _agrees(a: Agreement) -> None:
    worst = a.worst_s()
    assert worst is not None, f"{a.drill}: harness outages {a.harness}, the client's {a.client}"
    assert worst <= a.tolerance_s, (a.drill, worst, a.harness, a.client)


def _freeze_bounds(drill: Drill) -> list[tuple[float, float]]:
    """Each freeze's shortest and longest possible length, from the fault events' stamps."""
    ev = drill.history.of(FaultEvent)
    injects = [f for f in ev if f.phase == "inject"]
    heals = [f for f in ev if f.phase == "heal"]
    out = []
    for i, h in zip(injects, heals, strict=True):
        assert i.began is not None and h.began is not None
        out.append((h.began.t - i.at.t, h.at.t - i.began.t))
    return out


@pytest.mark.parametrize("seconds", [0.5, 0.8, 2.0])
def test_a_freeze_is_one_outage_and_its_rto_is_the_freeze(drill: Drill, seconds: float) -> None:
    a = run_drill({0.5: "freeze 0.5 s", 0.8: "freeze 0.8 s", 2.0: "freeze 2 s"}[seconds], drill)
    m = a.measurements
    ((shortest, longest),) = _freeze_bounds(drill)
    (f,) = m.faults
    assert f.rto_write_s is not None and shortest - KA_TOLERANCE <= f.rto_write_s <= longest + KA_TOLERANCE, \
        (f.rto_write_s, shortest, longest)
    assert m.rto_write_s == f.rto_write_s and m.rpo_lost_writes == 0
    # The freeze's outage; others, if any, are stalls of this shared machine, and the client saw them too.
    assert f.downtime_s is not None and f.downtime_s >= shortest - KA_TOLERANCE
    _agrees(a)


def test_two_freezes_are_two_outages_with_an_rto_each(drill: Drill) -> None:
    a = run_drill("freezes 1 s, then 0.5 s", drill)
    m = a.measurements
    bounds = _freeze_bounds(drill)
    assert len(m.faults) == 2
    for f, (shortest, longest) in zip(m.faults, bounds, strict=True):
        assert f.rto_write_s is not None and shortest - KA_TOLERANCE <= f.rto_write_s <= longest + KA_TOLERANCE
    assert m.rto_write_s == max(f.rto_write_s or 0 for f in m.faults)
    _agrees(a)


def test_latency_without_failure_is_no_outage(drill: Drill) -> None:
    a = run_drill("120 ms latency, nothing fails", drill)
    m = a.measurements
    slow = [o for o in drill.history.of(ProbeOp) if o.outcome == "ok" and o.end.t - o.at.t > 0.1]
    assert len(slow) >= 5, "the delay must have slowed the writes down"
    _agrees(a)  # the latency itself is no outage: any stall the harness saw, the client saw as well
    if not a.client:  # nothing stalled the independent client: then nothing is an outage
        assert m.availability == 1.0 and m.downtime_s == 0 and m.rto_write_s == 0


def test_a_clean_stop_and_start_is_one_outage_to_the_first_write_after_the_start(drill: Drill) -> None:
    from harness.history import ActionEvent

    a = run_drill("clean stop and start", drill)
    m = a.measurements
    restarted = next(x for x in drill.history.of(ActionEvent) if x.action == "restart")
    stop = m.faults[0]
    assert stop.name == "stop" and stop.rto_write_s is not None
    inject = next(x for x in drill.history.of(FaultEvent) if x.phase == "inject")
    assert inject.began is not None
    back = inject.began.t + stop.rto_write_s  # the first write after the start
    assert restarted.at.t < back < restarted.end.t + a.tolerance_s  # new connections to a server starting up
    _agrees(a)


def test_writes_a_deposed_primary_acknowledged_and_lost_are_outage_until_the_first_surviving_write(
        drill: Drill) -> None:
    a = run_drill("deposed primary, writes rewound", drill)
    m = a.measurements
    assert m.rpo_lost_writes is not None and m.rpo_lost_writes >= 20 and a.client_lost >= 20
    new = drill.cluster.primary
    first_on_new = min(o.end.t for o in drill.history.of(ProbeOp)
                       if o.probe == "write" and o.outcome == "ok" and o.node == new)
    (f,) = m.faults
    inject = next(x for x in drill.history.of(FaultEvent) if x.phase == "inject")
    assert inject.began is not None
    assert f.rto_write_s == pytest.approx(first_on_new - inject.began.t)  # not 0: the lost writes were no service
    assert f.rto_write_s > 1.5 and m.availability is not None and m.availability < 1
    _agrees(a)
