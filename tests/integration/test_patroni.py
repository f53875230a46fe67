"""Real Docker: a Patroni + etcd topology bootstraps healthy, fails over, and leaves nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import labels
from harness.checkers.splitbrain import split_brain
from harness.drill import Drill
from harness.history import FaultEvent, now
from harness.runtime.docker_client import docker_client
from harness.topology.patroni import PatroniCluster, patroni_of, use_patroni


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "pat", tmp_path / "drill")
    use_patroni(d, nodes=3, etcd_members=1, ttl=10, loop_wait=1, retry_timeout=3)
    d.closed = False  # type: ignore[attr-defined]
    try:
        yield d
    finally:
        if not d.closed:  # type: ignore[attr-defined]
            d.close()


def test_bootstrap_failover_and_teardown(drill: Drill, run_id: str) -> None:
    c = patroni_of(drill)
    assert isinstance(c, PatroniCluster)
    assert c.bootstrap_s is not None and c.bootstrap_s < 60
    leader = c.resolve("the leader")
    assert c.writable_nodes() == [leader]
    assert sorted(c.streaming_replicas()) == sorted(c.replicas())
    assert c.resolve("the etcd leader") == "etcd1"
    assert c.resolve("a replica") in c.replicas()

    drill.start_probes()
    drill.start_fanout()
    drill.wait(1)
    drill.inject("kill", "the leader")
    t_f = drill.history.of(FaultEvent)[-1].at.t
    new = c.wait_new_leader(leader, timeout=30)
    assert new != leader
    elected_s = now().t - t_f
    drill.wait(2)
    m = drill.measurements()
    assert m.rto_write_s is not None and 10 / 2 <= m.rto_write_s < 10 + 10, m
    assert split_brain(drill.history.events()).ok
    # The watched REST view gives the phases: key expiry about ttl after the kill (the last
    # renewal was up to loop_wait before it), then the new leader, then writes on it.
    assert m.ha_detection_s is not None and 10 - 1 - 0.5 <= m.ha_detection_s < 10 + 5, m.ha_failover
    assert m.ha_new_leader_s is not None and m.ha_detection_s <= m.ha_new_leader_s, m.ha_failover
    assert m.ha_first_write_s is not None and m.ha_ttl_s == 10
    # The killed leader boots again (the generic restart step's path) and Patroni rejoins it
    # as a replica (pg_rewind).
    assert drill.restart("the old leader") == "booted, Patroni started (it rejoins by itself)"
    assert leader not in c.roles.down
    c.wait_streaming(timeout=60, expect=[leader])
    assert c.in_recovery(leader) is True
    # The rejoin is seen in the view: the old leader a replica on the new leader's timeline.
    from harness.checkers.failover import failover_phases
    from harness.wait import wait_until

    phases = wait_until(lambda: (p := failover_phases(drill.history.events())).rejoin_s is not None and p,
                        timeout=10, interval=0.2, what="the rejoin in Patroni's view")
    assert phases.timelines_after[leader] == phases.timelines_after[new] > phases.timelines_before[leader], phases
    print(f"bootstrap {c.bootstrap_s:.2f} s; new leader {new}; write RTO {m.rto_write_s:.2f} s at ttl 10 "
          f"(elected seen {elected_s:.2f} s after)")

    drill.close()
    drill.closed = True  # type: ignore[attr-defined]
    left = docker_client().containers.list(all=True, filters={"label": f"{labels.RUN}={run_id}"})
    assert left == []


@pytest.mark.slow  # over 20 s: the slow suite
def test_harness_up_runs_patroni_and_heals_a_killed_leader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           node_image: str) -> None:
    """`harness up patroni`: Patroni names the roles, a killed leader is replaced by Patroni
    itself, `heal` boots it and Patroni rejoins it, `down` removes everything."""
    from harness.gameday.session import Session
    from harness.wait import wait_until

    monkeypatch.setenv("HARNESS_REPORTS_DIR", str(tmp_path))
    session = Session.up("patroni", None, None)
    run_id = session.state.run_id
    try:
        c = session.cluster
        leader = c.primary
        session.inject("kill", "the leader")
        # Another process (a new `harness status`) sees Patroni's new leader.
        new = wait_until(lambda: (p := Session.open().cluster.leader_or_none()) not in (None, leader) and p,  # type: ignore[attr-defined]
                         timeout=40, interval=0.5, what="Patroni's new leader")
        again = Session.open()
        assert again.heal() == [f"{leader}: booted, Patroni started (it rejoins by itself)"]
        again.cluster.wait_streaming(timeout=60, expect=[leader])
        assert again.cluster.primary == new and again.cluster.in_recovery(leader) is True
    finally:
        Session.open().down()
    left = docker_client().containers.list(all=True, filters={"label": f"{labels.RUN}={run_id}"})
    assert left == []
