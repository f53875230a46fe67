"""Real containers: logical replication from the drill's primary to a second cluster.

The known answers are checked by a client of the test's own (plain psycopg, its own
connections and queries), never by the harness's view: the rows each cluster holds, and the
keys that differ after the partition drill.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from harness import labels
from harness.drill import Drill
from harness.environment import load_environment
from harness.labels import new_run_id
from harness.logical.replica import CONFLICT_TABLE, FORWARD, LogicalReplica
from harness.logical.use import cut_clusters, expect_conflicts_reported, heal_cut, use_logical
from harness.runtime.docker_client import docker_client
from harness.topology.base import NotAvailable


def rows(address: str, query: str) -> list[tuple[object, ...]]:
    """The test's own client: one connection, one query, nothing of the harness."""
    with psycopg.connect(host=address, port=5432, user="postgres", dbname="postgres", connect_timeout=5,
                         autocommit=True) as conn:
        cur = conn.execute(query)
        return list(cur.fetchall()) if cur.description else []


def _drill(tmp_path: Path, stack: str) -> Drill:
    env = load_environment("streaming").with_topology(replicas=1).model_copy(update={"stack": stack})
    return Drill("t" + new_run_id(), "logical", tmp_path / "drill", env)


def test_one_way_replica_gets_the_probe_rows_and_its_lag_is_read(tmp_path: Path, node_image: str) -> None:
    d = _drill(tmp_path, "bookworm")
    try:
        replica = use_logical(d, "one-way")
        primary = d.cluster.address(d.cluster.primary)
        d.start_probes(0.05)
        time.sleep(1.5)
        lag = replica.expect_lag(1 << 20, 30)
        assert lag.slot_lag_bytes is not None and lag.slot_lag_bytes <= 1 << 20
        top = rows(primary, "SELECT max(seq) FROM probe")[0][0]
        assert top is not None and top > 5

        def arrived() -> bool:
            return bool(rows(replica.address(), f"SELECT count(*) FROM probe WHERE seq <= {top}")[0][0] ==
                        rows(primary, f"SELECT count(*) FROM probe WHERE seq <= {top}")[0][0])

        deadline = time.monotonic() + 30
        while not arrived():
            assert time.monotonic() < deadline, "the probe's rows did not reach the logical replica"
            time.sleep(0.2)
        # The workload's tables came along: the accounts copied at subscription time.
        assert rows(replica.address(), "SELECT count(*) FROM pgbench_accounts")[0][0] == 10000
        slot = rows(primary, f"SELECT slot_type, active FROM pg_replication_slots WHERE slot_name = '{FORWARD}'")
        assert slot == [("logical", True)]
        section = replica.result_section()
        assert section.lag_samples >= 1 and section.last_lag_bytes is not None and section.pg_major == 15
    finally:
        d.close()


def test_bidirectional_on_postgresql_15_fails_fast_and_leaves_nothing(tmp_path: Path, node_image: str) -> None:
    d = _drill(tmp_path, "bookworm")
    t0 = time.monotonic()
    try:
        with pytest.raises(NotAvailable, match="not available on PostgreSQL 15"):
            use_logical(d, "bidirectional")
        assert time.monotonic() - t0 < 5
    finally:
        d.close()
    left = docker_client().containers.list(all=True, filters={"label": f"{labels.RUN}={d.run_id}"})
    assert left == []


@pytest.mark.slow
def test_bidirectional_partition_conflicts_match_an_independent_comparison(tmp_path: Path) -> None:
    from harness.images import build_images

    build_images(stack="trixie")
    d = _drill(tmp_path, "trixie")
    keys = 4
    try:
        replica = use_logical(d, "bidirectional")
        assert isinstance(d.maybe_part(LogicalReplica), LogicalReplica)
        first = d.cluster.address(d.cluster.primary)
        d.start_probes(0.05)
        cut_clusters(d)
        replica.write_same_keys(keys)
        heal_cut(d)
        report = expect_conflicts_reported(d, timeout=120)

        # The test's own comparison of both clusters' rows.
        a = dict(rows(first, f"SELECT k::text, side FROM {CONFLICT_TABLE}"))
        b = dict(rows(replica.address(), f"SELECT k::text, side FROM {CONFLICT_TABLE}"))
        differ = sorted((k for k in set(a) | set(b) if a.get(k) != b.get(k)), key=int)
        assert differ == [str(k) for k in range(1, keys + 1)]
        assert report.reported_keys == differ and report.unreported == []
        assert all(len(v) == keys for v in report.by_subscription.values())  # each key stopped both directions
        # Each side kept its own row for a conflicting key, and took the other's own keys.
        assert a["1"] == "first" and b["1"] == "second"
        assert {"1001", "2001"} <= set(a) and {"1001", "2001"} <= set(b)
        # The servers' own count: every failed attempt, so at least one per conflict per direction.
        counts = dict(rows(replica.address(), "SELECT subname, apply_error_count FROM pg_stat_subscription_stats"))
        assert counts[FORWARD] >= keys
    finally:
        d.close()


@pytest.mark.slow
@pytest.mark.parametrize(("stack", "slots"), [("bookworm", False), ("trixie", True)])
def test_after_a_publisher_failover_a_row_arrives_only_with_failover_slots(tmp_path: Path, stack: str,
                                                                            slots: bool) -> None:
    """The test's own marker row, written on the promoted standby, reaches the subscriber only
    when the slot followed (PostgreSQL 17, failover = true); on 15 it arrives after re-creation."""
    from harness.images import build_images

    build_images(stack=stack)
    d = _drill(tmp_path, stack)
    try:
        replica = use_logical(d, "one-way", failover_slots=slots)
        d.cluster  # noqa: B018
        old = d.cluster.primary
        d.cluster.node(old).kill()
        d.took_down(old)
        d.failover()
        new = d.cluster.address(d.cluster.primary)
        replica.follow_primary()
        rows(new, "INSERT INTO logical_conflicts (k, side) VALUES (424242, 'marker')")

        def marker() -> bool:
            return rows(replica.address(), "SELECT count(*) FROM logical_conflicts WHERE k = 424242")[0][0] == 1

        deadline = time.monotonic() + (30 if slots else 5)
        while not marker() and time.monotonic() < deadline:
            time.sleep(0.2)
        query = "SELECT slot_name, synced, active, invalidation_reason FROM pg_replication_slots" if slots else \
            "SELECT slot_name FROM pg_replication_slots"
        sub_logs = replica.node.logs(20) if replica.node is not None else ""
        why = (f"slots on the new primary: {rows(new, query)}\n--- sub1:\n{sub_logs}"
               f"\n--- new primary:\n{d.cluster.node(d.cluster.primary).logs(20)}")
        assert marker() is slots, why
        slot = rows(new, f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{FORWARD}'")[0][0]
        assert slot == (1 if slots else 0)
        if not slots:
            replica.recreate()
            assert marker()
    finally:
        d.close()
