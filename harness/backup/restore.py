"""Restore drills: a backup restored into a fresh node, timed phase by phase, then verified.

Phases in the history (``ActionEvent``s, target = the restored node):
``restore.decision`` (instant: the clock of the restore RTO starts), ``restore.wal_flush``
(the source, if it still answers, switches WAL so the target is in the archive),
``restore.provision`` (the new container), ``restore.fetch`` (``pgbackrest restore``),
``restore.replay`` (start, WAL replay, promotion, until a write succeeds) and
``restore.verify`` (rows against the probe's history, ``pg_amcheck``, ``pgbackrest verify``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from harness.backup.pgbackrest import parse_verify, pgbackrest, verify_repository
from harness.backup.repo import PGDATA
from harness.errors import CommandFailed, WaitTimeout
from harness.history import ActionEvent, Event, FinalRead, History, NodeJoined, ProbeOp, Stamp, now, seq_ranges
from harness.runtime.base import Node
from harness.runtime.docker import DockerRuntime
from harness.topology.pg import port_open, sql, sql_one
from harness.wait import wait_until

__all__ = ["RecoveryTarget", "RestoreResult", "expected_rows", "flush_wal", "mark_target", "restore_to_new_node",
           "row_checksums", "verify_restored"]

TargetKind = Literal["latest", "time", "xid", "lsn", "name", "immediate"]
LOGFILE = "/var/log/postgresql/postgresql.log"


@dataclass(frozen=True)
class RecoveryTarget:
    """Where replay stops, and which probe writes must and must not survive it.

    Acknowledged writes answered before ``wall_before`` must be present; writes that started
    after ``wall_after`` must be absent. Writes in between raced the target: either is right.
    """

    kind: TargetKind
    value: str = ""
    exclusive: bool = False
    wall_before: float | None = None
    wall_after: float | None = None
    backup_set: str = ""  # restore this backup (a label) instead of the newest one

    def options(self) -> list[str]:
        chosen = [f"--set={self.backup_set}"] if self.backup_set else []
        if self.kind == "latest":
            return chosen
        if self.kind == "immediate":  # the backup's own consistent point, no archived WAL after it
            return [*chosen, "--type=immediate", "--target-action=promote"]
        opts = [*chosen, f"--type={self.kind}", f"--target={self.value}", "--target-action=promote"]
        return opts + (["--target-exclusive"] if self.exclusive else [])

    def describe(self) -> str:
        what = "latest" if self.kind in ("latest", "immediate") else f"{self.kind} {self.value}"
        if self.kind == "immediate":
            what = "end of backup"
        return what + (" (exclusive)" if self.exclusive else "") + (f" of {self.backup_set}" if self.backup_set else "")


def mark_target(address: str, kind: TargetKind, name: str = "") -> RecoveryTarget:
    """Make or read a recovery target on the source now (time, xid, LSN, named restore point)."""
    query = {
        "time": "SELECT clock_timestamp()::text",
        "xid": "SELECT txid_current()::text",  # commits (an xid is assigned): replay can stop after it
        "lsn": "SELECT pg_current_wal_lsn()::text",
        "name": "SELECT pg_create_restore_point(%s)::text",
    }[kind] if kind != "latest" else None
    w0 = time.time()
    value = str(sql_one(address, query, (name,) if kind == "name" else (), timeout=10)) if query else ""
    w1 = time.time()
    return RecoveryTarget(kind, name if kind == "name" else value, wall_before=w0, wall_after=w1)


def expected_rows(events: Iterable[Event], target: RecoveryTarget) -> tuple[set[int], set[int]]:
    """(acknowledged seqs that must be present, seqs of writes that must be absent)."""
    must: set[int] = set()
    must_not: set[int] = set()
    for e in events:
        if not isinstance(e, ProbeOp) or e.probe != "write":
            continue
        if e.outcome == "ok" and target.wall_before is not None and e.end.wall <= target.wall_before:
            must.add(e.seq)
        if target.wall_after is not None and e.at.wall >= target.wall_after:
            must_not.add(e.seq)
    return must, must_not


@dataclass
class RestoreResult:
    node: str
    target: RecoveryTarget
    present: list[tuple[int, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def flush_wal(history: History, address: str, node: str, timeout: float = 60) -> bool:
    """Commit, switch WAL and wait until that segment is archived: the target is then restorable."""
    t0 = now()
    if not port_open(address, timeout=0.5):
        # A lost source: do not spend the RTO on connection timeouts.
        history.add(ActionEvent(at=t0, end=now(), action="restore.wal_flush", target=node, outcome="failed",
                                detail="the source does not answer: restoring what the archive holds"))
        return False
    try:
        sql(address, "SELECT txid_current()", timeout=5)  # a commit record after any time target
        seg = str(sql_one(address, "SELECT pg_walfile_name(pg_switch_wal())", timeout=5))
        wait_until(lambda: str(sql_one(address, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= seg,
                   timeout=timeout, interval=0.1, what=f"WAL {seg} archived on {node}")
    except Exception as exc:  # noqa: BLE001 - a dead source: restore what the archive holds
        history.add(ActionEvent(at=t0, end=now(), action="restore.wal_flush", target=node, outcome="failed",
                                detail=str(exc)[-400:]))
        return False
    history.add(ActionEvent(at=t0, end=now(), action="restore.wal_flush", target=node, outcome="ok",
                            detail=f"switched and archived {seg}"))
    return True


def _exec(node: Node, cmd: list[str], *, user: str = "postgres", timeout: float = 60) -> str:
    res = node.exec(cmd, user=user, timeout=timeout)
    if res.exit_code != 0:
        raise CommandFailed(node.name, " ".join(cmd)[:200], res.exit_code, res.output[-2000:])
    return res.output


def _phase(history: History, action: str, node: str, t0: Stamp, detail: str, ok: bool) -> None:
    history.add(ActionEvent(at=t0, end=now(), action=action, target=node, outcome="ok" if ok else "failed",
                            detail=detail[-800:]))


Fetch = Callable[[Node, "RecoveryTarget", float], tuple[int, str]]
VerifyBackup = Callable[[History, Node], tuple[bool, str]]


def pgbackrest_restore(node: Node, target: RecoveryTarget, timeout: float) -> tuple[int, str]:
    # archive-mode=off: the restored node must not push a new timeline into the source's archive.
    return pgbackrest(node, "restore", "--archive-mode=off", *target.options(), timeout=timeout)


def pgbackrest_restore_once(node: Node, target: RecoveryTarget, timeout: float) -> tuple[int, str]:
    """As :func:`pgbackrest_restore` without pgBackRest's retries of a failed file (job-retry=0):
    a damaged backup fails at once (with its retries it took 38 s here)."""
    return pgbackrest(node, "restore", "--archive-mode=off", "--job-retry=0", *target.options(), timeout=timeout)


def row_checksums(address: str, table: str = "probe", timeout: float = 30) -> dict[int, str]:
    """md5 of every probe row's text (seq and its commit-time ``at``), by seq.

    Probe rows are only ever inserted, so a row's checksum on the source at any time after its
    write is the checksum it had when written: taken at the restore decision, it is the
    reference the restored rows must match byte for byte.
    """
    rows = sql(address, f"SELECT seq, md5(t::text) FROM {table} t", timeout=timeout)
    return {int(r[0]): str(r[1]) for r in rows}


def restore_to_new_node(runtime: DockerRuntime, history: History, *, name: str, image: str,
                        target: RecoveryTarget, table: str = "probe", timeout: float = 120,
                        source_rows: Callable[[], dict[int, str]] | None = None,
                        fetch: Fetch | None = None, verify_backup: VerifyBackup | None = None) -> RestoreResult:
    """Restore into a fresh container ``name`` and verify it; raises only when the harness broke.

    A restore that comes up but misses rows is a result (``problems``), not an exception.
    ``fetch`` fills the empty data directory and sets the recovery target (pgBackRest's
    restore by default; :mod:`.basebackup` copies a base backup); ``verify_backup`` checks
    the backup the node came from (``pgbackrest verify`` by default).
    """
    result = RestoreResult(name, target)
    t = now()
    node = runtime.create_node(name, image=image, env={"HARNESS_NODE": name, "HARNESS_ROLE": "primary"})
    # node-init boots PostgreSQL from the image's template: wait for it, then throw it away.
    wait_until(lambda: node.exec(["pg_ctl", "-D", PGDATA, "status"], timeout=5).exit_code == 0,
               timeout=30, interval=0.05, what=f"{name} to boot")
    _exec(node, ["pg_ctl", "-D", PGDATA, "-m", "immediate", "-w", "stop"])
    _exec(node, ["find", PGDATA, "-mindepth", "1", "-delete"])
    _phase(history, "restore.provision", name, t, "fresh container, empty data directory", True)

    t = now()
    code, out = (fetch or pgbackrest_restore)(node, target, timeout)
    _phase(history, "restore.fetch", name, t, out, code == 0)
    if code != 0:
        # The backup could not be restored (a damaged file, a missing set): a finding about the
        # backups, not a harness failure.
        result.problems.append(f"the restore itself failed ({code}): {out.strip()[-800:]}")
        return result
    conf = f"cluster_name = '{name}'\nsynchronous_standby_names = ''\n"
    _exec(node, ["sh", "-c", f'printf %s "$0" > {PGDATA}/conf.d/zz-restore.conf', conf])

    t = now()
    address = node.address()
    writable = False
    try:
        _exec(node, ["pg_ctl", "-D", PGDATA, "-l", LOGFILE, "-w", "-t", str(int(timeout)), "start"],
              timeout=timeout + 5)

        def promoted() -> bool:
            try:
                return sql_one(address, "SELECT NOT pg_is_in_recovery()", timeout=2) is True
            except Exception:  # noqa: BLE001 - still starting
                return False

        wait_until(promoted, timeout=timeout, interval=0.05, what=f"{name} to finish recovery and promote",
                   describe=lambda: node.logs(20))
        sql(address, "CREATE TEMP TABLE restore_writable_check (x int)", timeout=5)  # writable, not just open
        writable = True
        # A node of the deployment from now on: watchers (the Prometheus monitor) start on it.
        history.add(NodeJoined(at=now(), node=name, role="restored", detail=f"restored from a backup ({target.kind})"))
    except (CommandFailed, WaitTimeout) as exc:
        result.problems.append(f"the restored node did not become writable: {exc}"[:1500])
    finally:
        _phase(history, "restore.replay", name, t, node.logs(10), writable)
    if not writable:
        return result

    t = now()
    result.problems += verify_restored(history, node, target, table, result, source_rows=source_rows,
                                       verify_backup=verify_backup)
    summary = "; ".join(result.problems) or "rows match the probe's history up to the target; amcheck and verify clean"
    _phase(history, "restore.verify", name, t, summary, result.ok)
    return result


def verify_restored(history: History, node: Node, target: RecoveryTarget, table: str = "probe",
                    result: RestoreResult | None = None, *,
                    source_rows: Callable[[], dict[int, str]] | None = None,
                    verify_backup: VerifyBackup | None = None) -> list[str]:
    """What is wrong with a restored node: rows against the probe's history, amcheck, the repository.

    Records the node's ``FinalRead`` of the probe table (so the RPO checker can measure it).
    """
    problems: list[str] = []
    t = now()
    try:
        restored_rows = row_checksums(node.address(), table)
        present = set(restored_rows)
    except Exception as exc:  # noqa: BLE001 - a missing probe table is a finding, not a crash
        restored_rows, present = {}, set()
        problems.append(f"cannot read {table} on {node.name}: {exc}")
    if result is not None:
        result.present = seq_ranges(present)
    history.add(FinalRead(at=t, node=node.name, present=seq_ranges(present)))
    must, must_not = expected_rows(history.events(), target)
    missing, extra = sorted(must - present), sorted(must_not & present)
    if missing:
        problems.append(f"{len(missing)} acknowledged writes before the target are missing: {seq_ranges(missing)}")
    if extra:
        problems.append(f"{len(extra)} writes after the target are present: {seq_ranges(extra)}")
    reference: dict[int, str] | None = None
    if source_rows is not None and present:
        try:  # read at verification time, so the RTO does not include it
            reference = source_rows()
        except Exception as exc:  # noqa: BLE001 - a lost source: rows are checked by seq only
            history.note("restore.row_checksums", f"the source's rows cannot be read ({exc}): compared by seq only")
    if reference is not None:
        both = present & set(reference)
        differ = sorted(s for s in both if restored_rows[s] != reference[s])
        if differ:
            problems.append(f"{len(differ)} restored rows differ from the source's: {seq_ranges(differ)}")
        history.note("restore.row_checksums", f"{node.name}: {len(both)} rows compared with the source by md5, "
                     f"{len(differ)} differ; {len(present - both)} rows the source no longer answered for")
    amcheck = node.exec(["pg_amcheck", "--install-missing", "--heapallindexed", "-d", "postgres"], timeout=120)
    if amcheck.exit_code != 0:
        problems.append(f"pg_amcheck failed ({amcheck.exit_code}): {amcheck.output[-800:]}")
    ok, out = (verify_backup or verify_repository)(history, node)
    if not ok and target.backup_set and parse_verify(out).valid(target.backup_set):
        # A fallback restore: other sets failed verification, the one restored did not.
        history.note("restore.verify_set", f"{target.backup_set} verified; the repository holds invalid sets")
        ok = True
    if not ok:
        problems.append(f"pgbackrest verify failed: {out[-800:]}")
    history.note("restore.verified", f"{node.name}: {len(must)} writes must be present, {len(must_not)} absent; "
                 + ("; ".join(problems) or "all good"))
    return problems
