"""Backup and restore drill steps: pgBackRest backups, restores into a new node, PITR."""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.backup.checks import BACKUP_ACTIONS, BACKUP_SIDE_FAULTS, backup_stats, fallback_loss, restore_stats
from harness.backup.pgbackrest import BackupType, backup_info
from harness.backup.restore import RecoveryTarget, TargetKind
from harness.backup.session import BackupSession
from harness.drill import Drill
from harness.errors import SetupError, TargetMissed
from harness.faults.postgres import DropTable
from harness.history import ActionEvent
from harness.steps.types import parse
from harness.topology.pg import sql_one

_KINDS: dict[str, BackupType] = {"full": "full", "differential": "diff", "diff": "diff",
                                 "incremental": "incr", "incr": "incr"}
_TARGETS: dict[str, TargetKind] = {"time": "time", "timestamp": "time", "transaction id": "xid", "xid": "xid",
                                   "lsn": "lsn", "wal position": "lsn"}


def _kind(text: str) -> BackupType:
    try:
        return _KINDS[text.lower()]
    except KeyError:
        raise SetupError(f"unknown backup type {text!r}: say full, differential or incremental") from None


def _target(text: str) -> TargetKind:
    try:
        return _TARGETS[text.lower()]
    except KeyError:
        raise SetupError(f"unknown recovery target {text!r}: say time, transaction id or LSN") from None


def _restored(drill: Drill, result_ok: bool, problems: list[str]) -> None:
    if not result_ok:
        raise TargetMissed("restore verification", "; ".join(problems), "every acknowledged write up to the target")


# -- repository and backups --------------------------------------------------------------------


@given(parse("WAL archiving to a pgBackRest repository"))
@given(parse("a pgBackRest repository"))
def _(drill: Drill) -> None:
    """A pgBackRest repository with WAL archiving from the primary."""
    BackupSession.of(drill).enable(tool="pgbackrest")


@given(parse("WAL archiving to the environment's backup repository"))
@given(parse("backups as the environment configures them"))
def _(drill: Drill) -> None:
    """The environment file's ``backup:`` section decides the tool (pgbackrest or basebackup)."""
    BackupSession.of(drill).enable()


@given(parse("WAL archiving to a plain archive with pg_basebackup"))
@given(parse("pg_basebackup backups and a plain WAL archive"))
def _(drill: Drill) -> None:
    """pg_basebackup backups and a plain cp WAL archive."""
    BackupSession.of(drill).enable(tool="basebackup")


@given(parse("WAL archiving to a pgBackRest repository of {size_mb:d} MB"))
@given(parse("a pgBackRest repository of {size_mb:d} MB"))
def _(drill: Drill, size_mb: int) -> None:
    """A pgBackRest repository on its own volume of that size."""
    BackupSession.of(drill).enable(size_mb=size_mb, tool="pgbackrest")


@given(parse("a {kind} backup was taken"))
@given(parse("an {kind} backup was taken"))
@when(parse("I take a {kind} backup"))
@when(parse("I take an {kind} backup"))
def _(drill: Drill, kind: str) -> None:
    """Take a full, differential or incremental backup; it must succeed."""
    BackupSession.of(drill).backup(_kind(kind))


@when(parse("I try to take a {kind} backup"))
@when(parse("I try to take an {kind} backup"))
def _(drill: Drill, kind: str) -> None:
    """A backup whose failure is a result (recorded, counted in the success rate), not an error."""
    BackupSession.of(drill).backup(_kind(kind), must_succeed=False)


@when(parse("I try to take a {kind} backup within {limit:Duration}"))
@when(parse("I try to take an {kind} backup within {limit:Duration}"))
def _(drill: Drill, kind: str, limit: float) -> None:
    """A backup allowed to fail; pgBackRest waits for the WAL archive at most ``limit`` (else 60 s)."""
    BackupSession.of(drill).backup(_kind(kind), must_succeed=False, archive_timeout=max(1.0, limit))


@then(parse("the last backup failed"))
def _(drill: Drill) -> None:
    """The last backup attempt of the drill failed."""
    s = backup_stats(drill.history.events())
    last = [e for e in drill.history.of(ActionEvent) if e.action in BACKUP_ACTIONS]
    if not last or last[-1].outcome == "ok":
        raise TargetMissed("the last backup", "succeeded" if last else "none was taken", "failed")
    drill.history.note("backup.failed", f"{last[-1].action}: {s.succeeded}/{s.attempts} succeeded so far")


# -- backup-side faults ------------------------------------------------------------------------


@when(parse("I corrupt the latest backup"))
@when(parse("the latest backup is corrupted"))
def _(drill: Drill) -> None:
    """Damage a file of the newest backup in the repository."""
    BackupSession.of(drill).corrupt_latest()


@when(parse("I break WAL archiving to the repository"))
@when(parse("the repository's WAL archive becomes read-only"))
def _(drill: Drill) -> None:
    """Make the repository's WAL archive read-only: archive_command fails on the primary."""
    BackupSession.of(drill).break_archive()


@when(parse("the backup repository fills up"))
@when(parse("I fill the backup repository"))
def _(drill: Drill) -> None:
    """Fill the repository's volume."""
    BackupSession.of(drill).fill_repository()


@when(parse("I repair the backup repository"))
def _(drill: Drill) -> None:
    """Heal the repository's faults (a broken archive, a full volume)."""
    for fault in [f for f in drill.faults.active if f.name in BACKUP_SIDE_FAULTS]:
        drill.faults.heal(fault)


# -- recovery targets --------------------------------------------------------------------------


@when(parse('I drop table "{table}" by accident'))
def _(drill: Drill, table: str) -> None:
    """Drop a table on the primary, journaling the moment before it as a recovery target."""
    drill.apply(DropTable(drill.cluster, drill.cluster.primary, table))


@when(parse('I create restore point "{name}"'))
@given(parse('a restore point "{name}" was created'))
def _(drill: Drill, name: str) -> None:
    """pg_create_restore_point on the primary."""
    BackupSession.of(drill).mark("name", name)


@when(parse("I note the current {what}"))
def _(drill: Drill, what: str) -> None:
    """Remember the current time, transaction id or LSN as a recovery target."""
    BackupSession.of(drill).mark(_target(what))


# -- restores ----------------------------------------------------------------------------------


@when(parse("I restore the newest backup that verifies to a new node"))
@when(parse("I restore the newest verified backup to a new node"))
def _(drill: Drill) -> None:
    """Restore the newest backup set that pgbackrest verify calls valid, to its own end (later writes lost)."""
    r = BackupSession.of(drill).restore_verified()
    _restored(drill, r.ok, r.problems)


@when(parse("I restore the newest backup that verifies with the archived WAL to a new node"))
def _(drill: Drill) -> None:
    """Restore the newest backup set that verifies, replaying the archived WAL to its end."""
    r = BackupSession.of(drill).restore_verified(with_archive=True)
    _restored(drill, r.ok, r.problems)


@when(parse("I try to restore the latest backup to a new node"))
def _(drill: Drill) -> None:
    """A restore whose failure is a result (checked by 'Then the restore failed'), not an error;
    pgBackRest does not retry a failed file here."""
    BackupSession.of(drill).restore(RecoveryTarget("latest"), retries=False)


@then(parse("the restore failed"))
def _(drill: Drill) -> None:
    """The last restore failed (a result, not an error)."""
    r = BackupSession.of(drill).last_restore()
    if r.ok:
        raise TargetMissed(f"restore to {r.node}", "it succeeded and verified", "a failure")
    drill.history.note("restore.failed", "; ".join(r.problems)[-800:])


@when(parse("I restore the latest backup to a new node"))
def _(drill: Drill) -> None:
    """Restore the newest backup, with the archived WAL, to a new node."""
    r = BackupSession.of(drill).restore(RecoveryTarget("latest"))
    _restored(drill, r.ok, r.problems)


@when(parse("I restore to the moment before the drop to a new node"))
def _(drill: Drill) -> None:
    """Point-in-time restore to just before the dropped table."""
    s = BackupSession.of(drill)
    r = s.restore(s.before_drop())
    _restored(drill, r.ok, r.problems)


@when(parse('I restore to restore point "{name}" to a new node'))
def _(drill: Drill, name: str) -> None:
    """Point-in-time restore to a named restore point."""
    s = BackupSession.of(drill)
    r = s.restore(s.marked("name", name))
    _restored(drill, r.ok, r.problems)


@when(parse("I restore to the noted {what} to a new node"))
def _(drill: Drill, what: str) -> None:
    """Point-in-time restore to the noted time, transaction id or LSN."""
    s = BackupSession.of(drill)
    r = s.restore(s.marked(_target(what)))
    _restored(drill, r.ok, r.problems)


# -- measurements ------------------------------------------------------------------------------


@then(parse("the restored node has every acknowledged write up to the recovery target"))
def _(drill: Drill) -> None:
    """The restored node holds every probe write acknowledged before the recovery target."""
    r = BackupSession.of(drill).last_restore()
    _restored(drill, r.ok, r.problems)


@then(parse("the restore RTO is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """From the start of the restore to the restored node taking writes is under the limit."""
    node = BackupSession.of(drill).last_restore().node
    stats = [s for s in restore_stats(drill.history.events()) if s.node == node][-1]
    drill.history.note("restore.rto", stats.model_dump_json())
    if stats.rto_s is None or stats.rto_s >= limit:
        got = "never writable" if stats.rto_s is None else f"{stats.rto_s:.2f} s"
        raise TargetMissed("restore RTO", f"{got} (fetch {stats.fetch_s}, replay {stats.replay_s})", f"< {limit:g} s")


@then(parse("the restore lost at most {count:d} acknowledged writes"))
def _(drill: Drill, count: int) -> None:
    """At most that many writes acknowledged before the target are missing."""
    r = BackupSession.of(drill).restore_rpo()
    drill.history.note("restore.rpo", r.reason)
    if r.lost is None or r.lost > count:
        raise TargetMissed("lost writes of the restore", r.reason, f"at most {count}")


@then(parse("the restore lost at least {count:d} acknowledged writes"))
def _(drill: Drill, count: int) -> None:
    """At least that many acknowledged writes are missing from the restore."""
    r = BackupSession.of(drill).restore_rpo()
    drill.history.note("restore.rpo", r.reason)
    if r.lost is None or r.lost < count:
        raise TargetMissed("lost writes of the restore", r.reason, f"at least {count}")


@then(parse("the restore lost every write acknowledged since the backup it fell back to"))
@then(parse("the RPO grew by the writes since the backup it fell back to"))
def _(drill: Drill) -> None:
    """A fall-back restore misses exactly the writes acknowledged after the older backup."""
    node = BackupSession.of(drill).last_restore().node
    r = fallback_loss(drill.history.events(), node)
    drill.history.note("restore.fallback_rpo", r.model_dump_json())
    if r.status != "valid":
        raise TargetMissed("RPO of the fallback restore", r.reason,
                           f"all {r.must_lose} writes acknowledged between the backups lost")


@then(parse("the RPO of the restore is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """The window of acknowledged writes the restore lost is under the limit."""
    r = BackupSession.of(drill).restore_rpo()
    drill.history.note("restore.rpo", r.reason)
    if r.window_s is None or r.window_s >= limit:
        raise TargetMissed("RPO window of the restore", r.reason, f"< {limit:g} s")


@given(parse("the service is not expected back in this drill"))
@given(parse("the drill restores to a new node and not the service"))
def _(drill: Drill) -> None:
    """The restore is checked on a side node; the probe's primary stays dead, so write/read RTO
    and availability are reported but not judged against the environment's defaults."""
    drill.waive({"rto_write_s", "rto_read_s", "availability"},
                "the restore goes to a new node; the service itself is not brought back in this drill")


@then(parse("the backup success rate is {percent:Number} %"))
@then(parse("the backup success rate is at least {percent:Number} %"))
def _(drill: Drill, percent: float) -> None:
    """The share of backup attempts that succeeded is at least that."""
    s = backup_stats(drill.history.events())
    if s.success_rate is None or s.success_rate * 100 < percent:
        got = "no backups" if s.success_rate is None else f"{s.success_rate * 100:.1f} % of {s.attempts}"
        raise TargetMissed("backup success rate", got, f">= {percent:g} %")


@then(parse("the backup success rate is under {percent:Number} %"))
@then(parse("the backup success rate is below {percent:Number} %"))
def _(drill: Drill, percent: float) -> None:
    """The share of backup attempts that succeeded is under that."""
    s = backup_stats(drill.history.events())
    if s.success_rate is None or s.success_rate * 100 >= percent:
        got = "no backups" if s.success_rate is None else f"{s.success_rate * 100:.1f} % of {s.attempts}"
        raise TargetMissed("backup success rate", got, f"< {percent:g} %")


@then(parse("every backup took under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """Each backup of the drill took less than the limit."""
    s = backup_stats(drill.history.events())
    if not s.durations_s or max(s.durations_s) >= limit:
        raise TargetMissed("backup duration", f"{[round(d, 2) for d in s.durations_s]} s", f"< {limit:g} s each")


@then(parse("backup verification fails"))
@then(parse("pgBackRest verify catches the corruption"))
def _(drill: Drill) -> None:
    """pgbackrest verify finds a problem in the repository."""
    report = BackupSession.of(drill).verify()
    if report.ok:
        raise TargetMissed("pgbackrest verify", f"clean ({report.backups})", "a failure")
    drill.history.note("backup.verify_failed", f"invalid sets: {[k for k, v in report.backups.items() if v != 'valid']}")


@then(parse("backup verification succeeds"))
def _(drill: Drill) -> None:
    """pgbackrest verify finds the repository clean."""
    ok, out = BackupSession.of(drill).verify_ok()
    if not ok:
        raise TargetMissed("pgbackrest verify", out[-800:], "clean")


@then(parse('table "{table}" is present on the restored node'))
@then(parse('table "{table}" is back on the restored node'))
def _(drill: Drill, table: str) -> None:
    """The table exists on the node of the last restore."""
    node = BackupSession.of(drill).last_restore().node
    address = drill.cluster.runtime.node(node).address()
    if sql_one(address, "SELECT to_regclass(%s) IS NOT NULL", (table,)) is not True:
        raise TargetMissed(f"table {table!r} on {node}", "absent", "present")


# -- retention ---------------------------------------------------------------------------------


@when(parse("I apply a retention policy of {count:d} full backups"))
@when(parse("the retention policy keeps {count:d} full backups"))
def _(drill: Drill, count: int) -> None:
    """Expire backups, keeping that many full backups."""
    BackupSession.of(drill).apply_retention(count)


@when(parse("I apply the retention policy"))
def _(drill: Drill) -> None:
    """The environment's policy (backup.retention_full, 2 unless the environment file says otherwise)."""
    BackupSession.of(drill).apply_retention()


@then(parse("the repository holds {count:d} full backups"))
def _(drill: Drill, count: int) -> None:
    """The repository lists exactly that many full backups."""
    c = drill.cluster
    fulls = [b for b in backup_info(c.node(c.primary)) if b.type == "full"]
    if len(fulls) != count:
        raise TargetMissed("full backups kept", f"{len(fulls)} ({[b.label for b in fulls]})", f"{count}")


@then(parse("every kept backup is restorable"))
def _(drill: Drill) -> None:
    """Restore each backup in the repository to a new node and verify it."""
    c = drill.cluster
    s = BackupSession.of(drill)
    for r in s.restore_each(backup_info(c.node(c.primary))):
        _restored(drill, r.ok, [f"{r.target.describe()}: {p}" for p in r.problems])
