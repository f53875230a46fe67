"""Real containers: each freeze, PostgreSQL fault and schedule has its effect, and healing
brings the cluster back to one primary with every replica streaming.

Tolerances are generous on purpose: other runs share this 2-core machine, so the tests
assert effects and orders of magnitude, never tight timings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drill import Drill
from harness.faults.freeze import PauseNode, SigstopProcesses
from harness.faults.postgres import (
    ARCHIVE_DIR,
    AbandonedSlot,
    BreakArchiving,
    CorruptPage,
    DropTable,
    PauseReplay,
    archive_settings,
    archiver_stats,
    create_table,
    generate_wal,
    read_table,
    recovery_targets,
    replication_lag_bytes,
    table_exists,
    wal_retention,
)
from harness.faults.schedule import (
    CYCLE_SERIES,
    cycle_recoveries,
    heal_and_converge,
    parse_action,
    plan_cycles,
    recorded_schedules,
    run_schedule,
)
from harness.history import FaultEvent, History, RepetitionMark
from harness.topology.pg import sql, sql_one
from harness.wait import wait_until

MB = 1 << 20


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "pgf", tmp_path / "drill")
    try:
        yield d
    finally:
        d.close()


def _answers(drill: Drill, node: str) -> bool:
    try:
        return sql_one(drill.cluster.address(node), "SELECT 1", timeout=1) == 1
    except Exception:  # noqa: BLE001 - a frozen server does not answer
        return False


def _faults(drill: Drill, name: str) -> list[FaultEvent]:
    return [e for e in drill.history.of(FaultEvent) if e.fault == name]


def _lag(drill: Drill, replica: str) -> int:
    lag = replication_lag_bytes(drill.cluster, replica)
    return 1 << 40 if lag is None else lag  # unknown counts as far behind


def _whole(drill: Drill) -> None:
    c = drill.cluster
    assert c.wait_one_primary(30) == c.primary
    c.wait_streaming(timeout=60, expect=c.replicas())


# -- freezes -----------------------------------------------------------------------------------


def test_a_paused_node_answers_nothing_until_its_timed_heal_resumes_it(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async")
    c = drill.cluster
    fault = drill.apply(PauseNode(c, "node1"))
    drill.faults.heal_after(fault, 3)
    container = c.node("node1").container
    container.reload()
    assert container.attrs["State"]["Paused"] is True
    assert not _answers(drill, "node1")
    assert c.writable_nodes() == []  # frozen: neither primary nor replica as far as anyone can tell
    wait_until(lambda: _answers(drill, "node1"), timeout=30, what="node1 to answer after the timed heal")
    # The heal's event is written once the thaw returned; the node may answer a moment before.
    wait_until(lambda: len(_faults(drill, "pause")) == 2, timeout=5, what="the heal's event")
    inject, heal = _faults(drill, "pause")
    assert inject.phase == "inject" and heal.phase == "heal"
    assert 2.5 <= heal.at.t - inject.at.t <= 10  # heal_after(3): the timer, not the caller, thawed it
    assert fault not in drill.faults.active
    _whole(drill)


def test_sigstop_freezes_postgres_while_the_host_still_runs_commands(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async")
    c = drill.cluster
    fault = SigstopProcesses(c, "node1")
    drill.apply(fault)
    assert len(fault.pids) >= 5  # postmaster, checkpointer, walwriter, walsender, ...
    states = c.node("node1").exec(["ps", "-o", "stat=", "-p", ",".join(map(str, fault.pids))]).output.split()
    assert states and all(s.startswith("T") for s in states), states
    assert not _answers(drill, "node1")
    drill.faults.heal(fault)
    wait_until(lambda: _answers(drill, "node1"), timeout=20, what="node1 to answer after SIGCONT")
    _whole(drill)


def test_a_frozen_wal_receiver_stops_the_stream_and_catches_up_after(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async")
    c = drill.cluster
    fault = SigstopProcesses(c, "node2", "walreceiver")
    drill.apply(fault)
    generate_wal(c, "node1", 8 * MB)
    time.sleep(0.5)
    assert _lag(drill, "node2") > 4 * MB
    assert _answers(drill, "node2")  # only the receiver is stopped: the standby answers queries
    drill.faults.heal(fault)
    wait_until(lambda: _lag(drill, "node2") < MB, timeout=60, what="node2 to catch up")
    _whole(drill)


def test_a_primary_frozen_through_a_failover_rejoins_when_the_final_phase_converges(drill: Drill) -> None:
    drill.configure(replicas=2, replication="sync")
    c = drill.cluster
    drill.apply(PauseNode(c, "node1"))
    new = drill.failover()
    assert new in ("node2", "node3")
    drill.faults.heal_all()
    # Thawed, the old primary is a zombie: it still takes writes, beside the new primary.
    wait_until(lambda: sorted(c.writable_nodes()) == sorted(["node1", new]), timeout=20,
               what="the zombie to be writable")
    detail = heal_and_converge(drill)
    assert "node1 (writable, not the primary)" in detail
    assert c.writable_nodes() == [new]
    assert sql_one(c.address("node1"), "SELECT pg_is_in_recovery()") is True
    _whole(drill)


# -- PostgreSQL faults -------------------------------------------------------------------------


def test_broken_archiving_piles_up_ready_segments_and_repair_archives_them(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async", settings=archive_settings())
    c = drill.cluster
    fault = BreakArchiving(c, "node1")
    detail = drill.faults.inject(fault).detail
    assert "restart" not in detail  # archive_mode was on from the start
    before = archiver_stats(c, "node1")
    generate_wal(c, "node1", 64 * MB)
    wait_until(lambda: archiver_stats(c, "node1").failed_count > before.failed_count, timeout=30,
               what="a failed archive attempt")
    broken = archiver_stats(c, "node1")
    retention = wal_retention(c, "node1")
    assert broken.ready_segments >= 4  # 64 MB of 16 MB segments wait for the archiver
    assert retention.unarchived_bytes >= 64 * MB and retention.pg_wal_bytes >= retention.unarchived_bytes
    assert broken.archived_count == before.archived_count
    drill.faults.heal(fault)
    wait_until(lambda: archiver_stats(c, "node1").ready_segments == 0, timeout=90,
               what="the archiver to catch up after the repair")
    fixed = archiver_stats(c, "node1")
    assert fixed.archived_count >= broken.archived_count + 4
    archived = c.node("node1").exec(["ls", ARCHIVE_DIR]).output.split()
    assert len(archived) >= fixed.archived_count
    _whole(drill)


def test_breaking_archiving_without_archive_mode_turns_it_on_with_a_restart(drill: Drill) -> None:
    drill.configure(replicas=0, replication="async")
    c = drill.cluster
    assert sql_one(c.address("node1"), "SHOW archive_mode") == "off"
    detail = drill.faults.inject(BreakArchiving(c, "node1")).detail
    assert "turned on with a restart" in detail
    assert sql_one(c.address("node1"), "SHOW archive_mode") == "on"
    generate_wal(c, "node1", 16 * MB)
    wait_until(lambda: archiver_stats(c, "node1").failed_count > 0, timeout=30, what="a failed archive attempt")
    assert drill.faults.heal_all() == []
    wait_until(lambda: archiver_stats(c, "node1").ready_segments == 0, timeout=90, what="archiving to resume")


def test_an_abandoned_slot_retains_wal_until_it_is_dropped(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async")
    c = drill.cluster
    fault = AbandonedSlot(c, "node1")
    drill.apply(fault)
    generate_wal(c, "node1", 80 * MB)
    sql(c.address("node1"), "CHECKPOINT", timeout=60)
    held = wal_retention(c, "node1")
    assert held.slot_bytes >= 80 * MB and held.retained_bytes == held.slot_bytes
    assert held.pg_wal_bytes >= held.slot_bytes  # the files really are still there
    row = sql(c.address("node1"), "SELECT active, wal_status FROM pg_replication_slots WHERE slot_name = %s",
              (fault.slot,))
    assert row == [(False, "reserved")]
    drill.faults.heal(fault)
    assert sql(c.address("node1"), "SELECT 1 FROM pg_replication_slots") == []
    assert wal_retention(c, "node1").slot_bytes == 0
    _whole(drill)


def test_paused_replay_makes_lag_grow_while_the_replica_still_streams(drill: Drill) -> None:
    drill.configure(replicas=2, replication="async")
    c = drill.cluster
    fault = PauseReplay(c, "node2")
    drill.apply(fault)
    generate_wal(c, "node1", 8 * MB)
    wait_until(lambda: _lag(drill, "node2") > 4 * MB, timeout=30, what="lag on node2")
    assert _lag(drill, "node3") < 4 * MB
    c.wait_streaming(timeout=30)  # received and flushed, only not applied
    drill.faults.heal(fault)
    wait_until(lambda: _lag(drill, "node2") < MB, timeout=60, what="node2 to replay")
    _whole(drill)


def test_a_corrupted_page_fails_reads_on_the_primary_only_and_restoring_it_heals(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async")
    c = drill.cluster
    create_table(c, "ledger", 20000)
    c.wait_streaming(timeout=30)
    fault = CorruptPage(c, "node1", "ledger")
    detail = drill.faults.inject(fault).detail
    assert "enabled with pg_checksums" in detail
    assert sql_one(c.address("node1"), "SHOW data_checksums") == "on"
    bad = read_table(c, "node1", "ledger")
    assert not bad.ok and bad.sqlstate == "XX001" and bad.checksum_error, bad
    assert "invalid page in block 0" in (bad.error or "")
    assert read_table(c, "node2", "ledger").rows == 20000  # the replica's copy is intact
    failures = sql_one(c.address("node1"), "SELECT checksum_failures FROM pg_stat_database WHERE datname = 'postgres'")
    assert failures >= 1
    assert "page verification failed" in c.node_logs("node1", 200)
    drill.faults.heal(fault)
    assert read_table(c, "node1", "ledger").rows == 20000
    # Writes still work on the primary and replicate.
    sql(c.address("node1"), "INSERT INTO ledger VALUES (20001, 'after')")
    _whole(drill)


def test_a_dropped_table_is_gone_everywhere_and_the_journal_says_where_to_recover_to(drill: Drill) -> None:
    drill.configure(replicas=1, replication="async")
    c = drill.cluster
    create_table(c, "orders", 1000)
    fault = DropTable(c, "node1", "orders")
    drill.apply(fault)
    assert fault not in drill.faults.active  # one-shot: nothing to heal in place
    assert not table_exists(c, "node1", "orders")
    wait_until(lambda: not table_exists(c, "node2", "orders"), timeout=30, what="the drop to replicate")
    (target,) = recovery_targets(drill.history)
    assert target.table == "orders" and target.xid == fault.xid
    assert "/" in target.lsn_before
    assert "restore from a backup" in fault.heal()
    drill.history.close()
    again = History.load(drill.directory / "journal.jsonl")
    assert recovery_targets(again) == [target]
    _whole(drill)


# -- schedules ---------------------------------------------------------------------------------


@pytest.mark.slow  # over 20 s: the slow suite
def test_a_cycle_schedule_runs_as_planned_recovers_each_time_and_is_in_the_journal(drill: Drill) -> None:
    drill.configure(replicas=2, replication="async")
    drill.start_probes(0.1, reads=False)
    plan = plan_cycles(parse_action("kill a replica"), 2, 5)
    lines = run_schedule(drill, plan)
    assert len(lines) == 2
    assert recorded_schedules(drill.history) == [plan]
    starts = [m for m in drill.history.of(RepetitionMark) if m.series == CYCLE_SERIES]
    assert [s.index for s in starts] == [1, 2]
    kills = [e for e in _faults(drill, "kill") if e.phase == "inject"]
    assert len(kills) == 2 and 4 <= kills[1].at.t - kills[0].at.t <= 8  # start to start: the period
    cycles = cycle_recoveries(drill.history)
    assert [c.outcome for c in cycles] == ["ok", "ok"]
    assert all(c.write_rto_s is not None and c.write_rto_s < 5 for c in cycles), cycles  # a replica: writes go on
    heal_and_converge(drill)
    assert drill.cluster.roles.down == set()
    _whole(drill)
