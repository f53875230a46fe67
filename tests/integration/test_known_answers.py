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
from harness.history import FaultEvent
from harness.topology.pg import first_answer

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
    drill.start_probes(INTERVAL)
    time.sleep(3)
    m = drill.measurements()
    assert m.rpo_lost_writes == 0 and m.rpo_window_s == 0
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
