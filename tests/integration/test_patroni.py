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
from harness.topology.patroni import PatroniCluster


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "pat", tmp_path / "drill")
    d.use_patroni(nodes=3, etcd_members=1, ttl=10, loop_wait=1, retry_timeout=3)
    d.closed = False  # type: ignore[attr-defined]
    try:
        yield d
    finally:
        if not d.closed:  # type: ignore[attr-defined]
            d.close()


def test_bootstrap_failover_and_teardown(drill: Drill, run_id: str) -> None:
    c = drill.patroni
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
    # The killed leader boots again and Patroni rejoins it as a replica (pg_rewind).
    c.restart_patroni(leader)
    c.wait_streaming(timeout=60, expect=[leader])
    assert c.in_recovery(leader) is True
    print(f"bootstrap {c.bootstrap_s:.2f} s; new leader {new}; write RTO {m.rto_write_s:.2f} s at ttl 10 "
          f"(elected seen {elected_s:.2f} s after)")

    drill.close()
    drill.closed = True  # type: ignore[attr-defined]
    left = docker_client().containers.list(all=True, filters={"label": f"{labels.RUN}={run_id}"})
    assert left == []
