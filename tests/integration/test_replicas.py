"""Real containers: a delayed replica gives a dropped table back, a cascaded leaf streams from the
middle replica and stops when it dies; bad replica settings start nothing.

The known answers are read by a client of the test's own (plain psycopg, its own connection
string), never through the harness's view of the nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest

from harness.drill import Drill
from harness.errors import SetupError
from harness.faults.postgres import DropTable, create_table, generate_wal
from harness.history import StreamingTree
from harness.labels import RUN
from harness.replicas.delayed import recover_table
from harness.replicas.measure import delayed_recovery
from harness.steps.replicas import set_replica
from harness.wait import wait_until


def _q(addr: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(f"host={addr} port=5432 user=postgres dbname=postgres connect_timeout=3",
                         autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []


def _rows(addr: str, table: str) -> list[str]:
    return [str(r[0]) for r in _q(addr, f"SELECT md5(t::text) FROM {table} t ORDER BY 1")]


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "rep", tmp_path / "drill")
    try:
        yield d
    finally:
        d.close()


def test_a_dropped_table_comes_back_from_the_delayed_replica_row_for_row(drill: Drill) -> None:
    drill.configure(replicas=2)
    set_replica(drill, 2, apply_delay="5 minutes")
    c = drill.cluster
    create_table(c, "orders", 5000)
    primary = c.address(c.primary)
    _q(primary, "UPDATE orders SET payload = 'changed' WHERE id % 7 = 0")  # not only the generated rows
    before = _rows(primary, "orders")
    assert len(before) == 5000
    drill.start_probes(0.05)
    drill.apply(DropTable(c, c.primary, "orders"))
    assert _q(primary, "SELECT to_regclass('orders')") == [(None,)]
    got = recover_table(c, "orders")
    assert got.node == "node3" and got.rows == 5000
    assert _rows(primary, "orders") == before  # every row as it was before the drop
    late = c.address("node3")
    assert _q(late, "SELECT pg_is_in_recovery(), current_setting('recovery_min_apply_delay')") == [(True, "5min")]
    assert _q(late, "SELECT to_regclass('orders') IS NOT NULL") == [(True,)]  # the drop is not applied there
    r = delayed_recovery(drill.history)
    assert r is not None and r.ok and r.total_s is not None and r.total_s < 120
    m = drill.measurements()
    assert m.rpo_lost_writes == 0


def test_the_leaf_streams_from_the_middle_and_stops_when_it_dies(drill: Drill) -> None:
    drill.configure(replicas=2)
    set_replica(drill, 2, streams_from=1)
    c = drill.cluster
    assert [r[0] for r in _q(c.address("node3"), "SELECT sender_host FROM pg_stat_wal_receiver")] == ["node2"]
    assert [r[0] for r in _q(c.address("node2"), "SELECT application_name FROM pg_stat_replication")] == ["node3"]
    assert [r[0] for r in _q(c.address("node1"), "SELECT application_name FROM pg_stat_replication")] == ["node2"]
    drill.start_probes(0.05)
    leaf = c.address("node3")
    wait_until(lambda: _q(leaf, "SELECT count(*) FROM probe")[0][0] > 0, timeout=10, what="probe rows on the leaf")
    drill.inject("kill", "replica 1")
    stopped = _q(leaf, "SELECT pg_last_wal_replay_lsn()::text")[0][0]
    generate_wal(c, c.primary, 1 << 20)
    drill.wait(2)
    assert _q(leaf, "SELECT pg_last_wal_replay_lsn()::text")[0][0] == stopped
    behind = _q(leaf, f"SELECT pg_wal_lsn_diff('{_q(c.address(c.primary), 'SELECT pg_current_wal_lsn()')[0][0]}', "
                      "pg_last_wal_replay_lsn())")[0][0]
    assert behind > 1 << 20
    drill.end_window()
    section = drill.result_sections()["replicas"]
    assert section.leaf == "node3" and section.leaf_replay_stalled is True
    assert section.leaf_lag_bytes_max is not None and section.leaf_lag_bytes_max > 1 << 20
    first = drill.history.of(StreamingTree)[0]
    assert [(x.replica, x.receiver_from, x.sender) for x in first.links] == [("node2", "node1", "node1"),
                                                                            ("node3", "node2", "node2")]


def test_a_cycle_of_replicas_starts_nothing(tmp_path: Path, run_id: str) -> None:
    d = Drill(run_id, "repbad", tmp_path / "drill")
    try:
        d.configure(replicas=2)
        set_replica(d, 1, streams_from=2)
        with pytest.raises(SetupError, match=r"cycle \(replica 1 -> replica 2 -> replica 1\)"):
            set_replica(d, 2, streams_from=1)
        with pytest.raises(SetupError, match="replica 3 does not exist"):
            set_replica(d, 3, apply_delay="1 minute")
    finally:
        d.close()
    left = docker.from_env().containers.list(all=True, filters={"label": f"{RUN}={run_id}"})
    assert left == []


def test_a_delay_shorter_than_the_reaction_is_a_missed_target_and_replay_goes_on(drill: Drill) -> None:
    from harness.errors import TargetMissed

    drill.configure(replicas=1)
    set_replica(drill, 1, apply_delay="1 s")
    c = drill.cluster
    create_table(c, "orders", 10)
    late = c.address("node2")
    wait_until(lambda: _q(late, "SELECT to_regclass('orders') IS NOT NULL") == [(True,)], timeout=30,
               what="the table on the 1-second replica")
    drill.apply(DropTable(c, c.primary, "orders"))
    wait_until(lambda: _q(late, "SELECT to_regclass('orders') IS NULL") == [(True,)], timeout=30,
               what="the drop applied on the 1-second replica")
    with pytest.raises(TargetMissed, match=r"had replayed the DROP of orders .* before replay was paused"):
        recover_table(c, "orders")
    assert _q(late, "SELECT pg_get_wal_replay_pause_state()") == [("not paused",)]
