"""The drill "accidental DROP, recover it from the delayed replica", phase by phase.

A delayed replica (``recovery_min_apply_delay``) has received the DROP but not applied it:
its replay is held back. Recovering the table never waits out the delay:

1. ``delayed.pause``: ``pg_wal_replay_pause()`` at once, and check the drop has not been
   replayed there (else the delay was too short: a target missed, said with the numbers);
2. ``delayed.roll_forward``: restart it with ``recovery_target_lsn`` = the drop transaction's
   first WAL record, exclusive (found with ``pg_waldump`` in the standby's own pg_wal),
   ``recovery_target_action = pause`` and no apply delay: it replays everything before the drop,
   at full speed, and pauses there. Not ``recovery_target_xid``: replay would stop before the
   DROP's commit but after its AccessExclusiveLock record, and the standby would hold that lock
   for the paused transaction, so nothing could read the table;
3. ``delayed.dump``: ``pg_dump -Fc -t TABLE`` on the standby (as postgres);
4. ``delayed.restore``: ``pg_restore --single-transaction`` into the primary from there: the
   table appears whole, at once (the probe's writes into it resume at that moment);
5. ``delayed.verify``: every row of the standby's copy is on the primary (md5 of each row);
6. ``delayed.resume``: the recovery settings removed, a restart: it is a delayed replica again
   (it will replay the DROP and the re-creation, each that late). PostgreSQL 15 starts the WAL
   receiver of a restarted standby only once replay has used up the WAL in its own pg_wal, so
   a delayed one streams again only after its delay: until then it receives nothing new (the
   monitor's "replication broken" fires for it), which the phase's detail says.

Each phase is an ``ActionEvent`` (target: the delayed replica), after a ``delayed.decision``
instant; :mod:`harness.replicas.measure` reads them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import CommandFailed, SetupError, TargetMissed, WaitTimeout
from harness.faults.postgres import recovery_targets, table_exists
from harness.history import ActionEvent, Stamp, TableDropped, now
from harness.replicas.tree import ReplicaKinds
from harness.topology.base import ManagedPostgres, Topology, need
from harness.topology.pg import lsn_int, sql, sql_one
from harness.wait import wait_until

__all__ = ["RECOVERY_CONF", "TableRecovery", "delayed_replica", "first_record_of", "recover_table"]

RECOVERY_CONF = "conf.d/zz-delayed-recovery.conf"
DUMP = "/tmp/harness-delayed-{table}.dump"


@dataclass(frozen=True)
class TableRecovery:
    node: str
    table: str
    rows: int  # rows of the standby's copy, all found on the primary
    drop: TableDropped


def delayed_replica(cluster: Topology) -> str:
    """The replica that applies WAL late (the first by name when several do)."""
    kinds = need(cluster, ReplicaKinds, "a delayed replica (recovery_min_apply_delay)")
    late = [n for n in cluster.names if n != cluster.primary and kinds.apply_delay_s(n) > 0]
    if not late:
        raise SetupError("there is no delayed replica: say 'Given replica 2 applies WAL 5 minutes late' "
                         "(or topology.replica_settings.N.apply_delay in the environment)")
    up = [n for n in late if n not in cluster.roles.down]
    if not up:
        raise SetupError(f"the delayed replica {', '.join(late)} is down")
    return up[0]


def _phase(cluster: Topology, action: str, node: str, t0: Stamp, ok: bool, detail: str) -> None:
    cluster.history.add(ActionEvent(at=t0, end=now(), action=action, target=node, outcome="ok" if ok else "failed",
                                    detail=detail[-800:]))


def _run(cluster: Topology, node: str, cmd: list[str], timeout: float = 120) -> str:
    res = cluster.node(node).exec(cmd, user="postgres", timeout=timeout)
    if res.exit_code != 0:
        raise CommandFailed(node, " ".join(cmd)[:200], res.exit_code, res.output[-1500:])
    return res.output


_WALDUMP_LSN = re.compile(r"\blsn: ([0-9A-F]+/[0-9A-F]+)")


def first_record_of(xid: int, waldump: str) -> str | None:
    """The LSN of the first WAL record of transaction ``xid`` in ``pg_waldump`` output: its own
    record (``tx: xid``) or a lock taken for it (``desc: LOCK xid xid ...``, logged with tx 0)."""
    mine = re.compile(rf"\btx:\s+{xid},|\bLOCK xid {xid}\b")
    for line in waldump.splitlines():
        m = _WALDUMP_LSN.search(line)
        if m and mine.search(line):
            return m.group(1)
    return None


def _drop_start(cluster: Topology, node: str, drop: TableDropped) -> str:
    """Where the drop's WAL begins, read from the standby's pg_wal (its timeline: the primary's file name)."""
    walfile = str(sql_one(cluster.address(cluster.primary), "SELECT pg_walfile_name(%s::pg_lsn)", (drop.lsn_before,)))
    tli = int(walfile[:8], 16)
    res = cluster.node(node).exec(["pg_waldump", "-t", str(tli), "-p", f"{cluster.data_directory}/pg_wal",
                                   "-s", drop.lsn_before, "-e", drop.lsn_after], user="postgres", timeout=60)
    lsn = first_record_of(drop.xid, res.output)
    if lsn is None:
        raise SetupError(f"no WAL record of the drop's transaction {drop.xid} between {drop.lsn_before} and "
                         f"{drop.lsn_after} on {node}: {res.output.strip()[-400:]}")
    return lsn


def _row_hashes(address: str, table: str) -> set[str]:
    return {str(r[0]) for r in sql(address, f"SELECT md5(t::text) FROM {table} t", timeout=60)}


def recover_table(cluster: Topology, table: str) -> TableRecovery:
    """Take ``table`` back from the delayed replica as it was just before its last drop."""
    pg = need(cluster, ManagedPostgres, "recovering a table from a delayed replica (pg_ctl on the standby)")
    drops = [d for d in recovery_targets(cluster.history) if d.table == table]
    if not drops:
        raise SetupError(f'table {table!r} was not dropped in this drill: say When I drop table "{table}" by accident')
    drop = drops[-1]
    node = delayed_replica(cluster)
    assert isinstance(cluster, ReplicaKinds)
    delay = cluster.apply_delay_s(node)
    addr = cluster.address(node)
    t = now()
    cluster.history.add(ActionEvent(at=t, end=t, action="delayed.decision", target=node, outcome="ok",
                                    detail=f"{table} dropped in xid {drop.xid}; {node} applies WAL {delay:g} s late"))
    # 1. Hold replay back before anything else: the drop must never be applied there.
    t = now()
    sql(addr, "SELECT pg_wal_replay_pause()")
    try:
        wait_until(lambda: lsn_int(str(sql_one(addr, "SELECT pg_last_wal_receive_lsn()::text"))) >= lsn_int(drop.lsn_after),
                   timeout=30, interval=0.05, what=f"{node} to receive the WAL of the drop")
        start = _drop_start(cluster, node, drop)  # the drop's first record, in the standby's own WAL
    except (WaitTimeout, SetupError) as exc:
        _phase(cluster, "delayed.pause", node, t, False, str(exc))
        sql(addr, "SELECT pg_wal_replay_resume()")
        raise
    replayed = str(sql_one(addr, "SELECT pg_last_wal_replay_lsn()::text"))
    if lsn_int(replayed) > lsn_int(start):
        _phase(cluster, "delayed.pause", node, t, False, f"replay at {replayed}, past the drop's start ({start})")
        sql(addr, "SELECT pg_wal_replay_resume()")
        raise TargetMissed(f"the delayed replica {node}",
                           f"had replayed the DROP of {table} (replay at {replayed}, the drop begins at "
                           f"{start}) before replay was paused", f"replay held {delay:g} s behind")
    _phase(cluster, "delayed.pause", node, t, True, f"replay paused at {replayed}, before the drop ({start})")
    # 2. Roll forward to just before the drop, at full speed.
    t = now()
    try:
        conf = (f"recovery_target_lsn = '{start}'\nrecovery_target_inclusive = off\n"
                "recovery_target_action = 'pause'\nrecovery_min_apply_delay = 0\n")
        _run(cluster, node, ["sh", "-c", f'printf %s "$0" > "$PGDATA/{RECOVERY_CONF}"', conf])
        pg.pg_ctl(node, "-m", "fast", "-w", "stop")
        pg.pg_ctl(node, "-w", "-t", "60", "start")
        addr = cluster.address(node)
        wait_until(lambda: sql_one(addr, "SELECT pg_get_wal_replay_pause_state()", timeout=1) == "paused",
                   timeout=60, interval=0.05, what=f"{node} to replay up to the drop and pause",
                   describe=lambda: cluster.node_logs(node, 15))
        at = str(sql_one(addr, "SELECT pg_last_wal_replay_lsn()::text"))
        if not table_exists(cluster, node, table):
            raise SetupError(f"{node} paused at {at} without table {table}: it was not there before the drop")
    except (CommandFailed, WaitTimeout, SetupError) as exc:
        _phase(cluster, "delayed.roll_forward", node, t, False, str(exc))
        raise
    _phase(cluster, "delayed.roll_forward", node, t, True,
           f"replayed to {at}, paused before {start}, the first record of the drop (xid {drop.xid})")
    # 3-4. Take the table back: dump it on the standby, restore it into the primary in one transaction.
    dump = DUMP.format(table=table)
    t = now()
    try:
        _run(cluster, node, ["pg_dump", "-U", "postgres", "-d", "postgres", "--lock-wait-timeout=10s", "-Fc",
                             "-t", table, "-f", dump])
    except CommandFailed as exc:
        _phase(cluster, "delayed.dump", node, t, False, str(exc))
        raise
    _phase(cluster, "delayed.dump", node, t, True, f"pg_dump -t {table} on {node}")
    primary = cluster.primary
    t = now()
    try:
        _run(cluster, node, ["pg_restore", "--single-transaction", "-h", primary, "-U", "postgres", "-d", "postgres",
                             dump])
    except CommandFailed as exc:
        _phase(cluster, "delayed.restore", node, t, False, str(exc))
        raise
    _phase(cluster, "delayed.restore", node, t, True, f"pg_restore --single-transaction into {primary}")
    # 5. The copy on the primary holds every row the standby had.
    t = now()
    mine = _row_hashes(addr, table)
    missing = mine - _row_hashes(cluster.address(primary), table)
    _phase(cluster, "delayed.verify", node, t, not missing,
           f"{len(mine)} rows on {node}, {len(missing)} of them missing on {primary}")
    # 6. A delayed replica again.
    t = now()
    try:
        _run(cluster, node, ["rm", "-f", f"{cluster.data_directory}/{RECOVERY_CONF}", dump])
        pg.pg_ctl(node, "-m", "fast", "-w", "stop")
        pg.pg_ctl(node, "-w", "-t", "60", "start")
        cluster.wait_ready(node, timeout=60)
        receiving = sql(cluster.address(node), "SELECT status FROM pg_stat_wal_receiver")
    except (CommandFailed, WaitTimeout) as exc:
        _phase(cluster, "delayed.resume", node, t, False, str(exc))
        raise
    how = (f"streaming ({receiving[0][0]})" if receiving else
           "replaying its own pg_wal first: its WAL receiver starts once that is used up, after the delay")
    _phase(cluster, "delayed.resume", node, t, True, f"{node} a standby again, {delay:g} s late; {how}")
    if missing:
        raise TargetMissed(f"table {table} recovered from {node}", f"{len(missing)} of {len(mine)} rows missing "
                           f"on {primary}", "every row of the copy")
    return TableRecovery(node=node, table=table, rows=len(mine), drop=drop)
