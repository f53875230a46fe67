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
    fault = drill.apply(PauseNode(drill.cluster, drill.target("the primary")))
    drill.faults.heal_after(fault, 3.0)
    time.sleep(4.5)
    m = drill.measurements()
    faults = drill.history.of(FaultEvent)
    inject = next(f for f in faults if f.phase == "inject")
    heal = next(f for f in faults if f.phase == "heal")
    assert inject.began is not None and heal.began is not None
    # The outage really lasted between these bounds: the freeze took effect between the
    # injector's call and return, and ended between the thaw's call and return.
    shortest = heal.began.t - inject.at.t
    longest = heal.at.t - inject.began.t
    assert 2.9 < shortest <= longest < 3.5
    assert m.rto_write_s is not None
    # No failover: service returns when the node thaws, at most one probe interval later.
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
