"""The backup side of one drill: its repository, backups and restore drills.

A drill part: steps reach it with ``drill.part(BackupSession)`` (or :meth:`BackupSession.of`),
one per drill. The repository and the
archiving settings are in place before the topology first starts, so no restart is needed.
"""

from __future__ import annotations

from typing import Literal
from dataclasses import replace

from harness.backup import basebackup
from harness.backup.checks import restore_rpo
from harness.backup.faults import BreakArchivePush, CorruptBackup, FillRepository
from harness.backup.pgbackrest import (
    Backup,
    BackupType,
    VerifyReport,
    backup_info,
    expire,
    parse_verify,
    stanza_create,
    take_backup,
    verify_repository,
)
from harness.backup.s3part import S3Part
from harness.backup.repo import BackupRuntime, Repository, archive_settings, pgbackrest_config
from harness.backup.restore import (
    RecoveryTarget,
    RestoreResult,
    TargetKind,
    flush_wal,
    mark_target,
    pgbackrest_restore_once,
    restore_to_new_node,
    row_checksums,
)
from harness.checkers.rpo import RpoResult
from harness.drill import Drill
from harness.errors import CommandFailed, SetupError
from harness.faults.postgres import recovery_targets
from harness.parts import PartBase
from harness.history import ActionEvent, BackupFallback, BackupStop, RecoveryTargetMarked, now
from harness.images.choose import image_for
from harness.ownconfig import merge_pgbackrest, own_config
from harness.runtime.base import Node
from harness.runtime.docker import docker_runtime
from harness.topology.pg import sql_one

__all__ = ["BackupSession"]

class BackupSession(PartBase):
    """A drill part (``drill.part(BackupSession)`` makes it on first use)."""

    def __init__(self, drill: Drill) -> None:
        self.drill = drill
        self.repo: Repository | None = None
        self._stanza = False
        self.backups: list[Backup] = []
        self.restores: list[RestoreResult] = []
        self.tool = drill.env.backup.tool  # "pgbackrest" or "basebackup" (pg_basebackup + a cp archive)

    @classmethod
    def for_drill(cls, drill: Drill) -> BackupSession:
        return cls(drill)

    @classmethod
    def of(cls, drill: Drill) -> BackupSession:
        return drill.part(cls)

    # -- setup -------------------------------------------------------------------------------

    def enable(self, size_mb: int | None = None, tool: Literal["pgbackrest", "basebackup"] | None = None,
               repository: Literal["posix", "s3"] | None = None) -> Repository:
        """A repository for this drill and archiving into it from the topology's first start.

        With ``size_mb`` the repository is on its own filesystem of that size (to fill it);
        ``tool`` overrides the environment's ``backup.tool``, ``repository`` its
        ``backup.repository`` (s3: pgBackRest's repo1 in a bucket, :mod:`harness.backup.s3part`).
        """
        d = self.drill
        cfg = d.env.backup
        self.tool = tool or cfg.tool
        kind = repository or cfg.repository
        if kind == "s3" and self.tool != "pgbackrest":
            raise SetupError(f"an S3 repository needs pgBackRest (backup.tool is {self.tool})")
        settings = (basebackup.archive_settings(archive_timeout_s=cfg.archive_timeout_s) if self.tool == "basebackup"
                    else archive_settings(archive_timeout_s=cfg.archive_timeout_s))
        # First remove a previous runtime (its teardown removes the repository at this path).
        d.enable_backups(settings)
        repo = Repository.create(d.run_id, d.scope, size_mb=size_mb or cfg.repo_size_mb)
        self.repo, self._stanza = repo, False
        s3 = S3Part.of(d) if kind == "s3" else None
        repo_lines = s3.prepare(repo) if s3 is not None else None
        conf = pgbackrest_config(compress_type=cfg.compress_type, repo_lines=repo_lines)
        own = own_config(d.env, image_for(d.env), d.history).pgbackrest  # stacks: the team's fragment
        runtime = BackupRuntime(d.run_id, d.scope, repo, merge_pgbackrest(conf, own) if own else conf)
        d.use_runtime(runtime)
        if s3 is not None:
            s3.start(runtime)
            return repo
        d.history.note("backup.repository", f"{self.tool} repository {repo.host_path} mounted in every node")
        return repo

    def prepare(self) -> str:
        """Start the topology and create the stanza now (before a big load); returns the primary."""
        return self._primary()

    def _primary(self) -> str:
        if self.repo is None:
            raise SetupError("no backup repository: say 'Given WAL archiving to a pgBackRest repository' first")
        cluster = self.drill.cluster
        if not self._stanza and self.tool == "pgbackrest":
            s3 = self.drill.maybe_part(S3Part)
            try:
                stanza_create(self.drill.history, cluster.node(cluster.primary),
                              archive_timeout=max(60.0, self.drill.env.backup.archive_timeout_s))
            except CommandFailed as exc:
                if s3 is None:
                    raise
                raise s3.unusable(exc) from exc
            self._stanza = True
        return cluster.primary

    # -- backups -----------------------------------------------------------------------------

    def backup(self, kind: BackupType, *, must_succeed: bool = True, archive_timeout: float | None = None) -> Backup | None:
        primary = self._primary()
        wait = archive_timeout if archive_timeout is not None else self.drill.env.backup.archive_timeout_s
        node = self.drill.cluster.node(primary)
        if self.tool == "basebackup":
            if kind != "full":
                raise SetupError(f"pg_basebackup takes full backups only (PostgreSQL 15), not {kind}")
            b = basebackup.take_basebackup(self.drill.history, node)
        else:
            b = take_backup(self.drill.history, node, kind, archive_timeout=wait)
        if b is not None:
            self.backups.append(b)
        elif must_succeed:
            last = self.drill.history.of(ActionEvent)[-1]
            raise SetupError(f"the {kind} backup on {primary} failed: {last.detail}")
        return b

    def latest_label(self) -> str:
        self._pgbackrest_only("finding the latest backup set")
        primary = self.drill.cluster.node(self._primary())
        backups = backup_info(primary)
        if not backups:
            raise SetupError("the repository holds no backup: take one first (Given a full backup was taken)")
        return backups[-1].label

    # -- backup-side faults ------------------------------------------------------------------

    def _repo(self) -> Repository:
        if self.repo is None:
            raise SetupError("no backup repository: say 'Given WAL archiving to a pgBackRest repository' first")
        return self.repo

    def _folder_only(self, what: str) -> None:
        """The faults that act on the repository's files on the host have none to act on in S3."""
        if self.drill.maybe_part(S3Part) is not None:
            raise SetupError(f"{what}: not available on an S3 repository (its files are in the bucket); "
                             "the endpoint's faults are 'When the S3 endpoint goes down', '... answers 503 to N % "
                             "of requests', '... answers 200 ms late'")

    def corrupt_latest(self) -> CorruptBackup:
        """Damage a data file of the newest backup set in the repository (healed at the end)."""
        self._folder_only("corrupting a backup")
        label = self.latest_label()
        fault = CorruptBackup(self._repo(), label)
        self.drill.apply(fault)
        return fault

    def break_archive(self) -> BreakArchivePush:
        """The WAL archive of the repository made read-only: archive_command fails on the primary."""
        self._pgbackrest_only("breaking archive-push")
        self._folder_only("a read-only WAL archive")
        self._primary()  # the stanza (and with it the archive folder) exists
        c = self.drill.cluster

        def switch() -> object:
            return sql_one(c.address(c.primary), "SELECT pg_switch_wal()::text", timeout=5)

        fault = BreakArchivePush(self._repo(), c.primary, switch)
        self.drill.apply(fault)
        return fault

    def fill_repository(self) -> FillRepository:
        self._folder_only("filling the repository")
        self._primary()
        fault = FillRepository(self._repo())
        self.drill.apply(fault)
        return fault

    def _tool_node(self) -> Node:
        """A running node that sees the repository, to run the backup tool's commands on.

        The primary if it runs, else any other node, else (the primary lost and no replica) a
        helper container ``backup-tools`` on the drill's runtime (labelled, removed with it).
        """
        self._repo()
        c = self.drill.cluster
        if not self._stanza and self.tool == "pgbackrest":
            self._primary()
        for name in [c.primary, *(n for n in c.names if n != c.primary)]:
            node = c.node(name)
            if node.is_running():
                return node
        runtime = docker_runtime(c.runtime, "a helper container for the backup tools")
        if "backup-tools" not in {n.name for n in runtime.nodes()}:
            image = image_for(self.drill.env)
            # sleep, not node-init: no PostgreSQL in it. Docker may give it the lost primary's
            # address, and a server answering there would pass for the primary.
            runtime.create_node("backup-tools", image=image, env={"HARNESS_NODE": "backup-tools"},
                                command=["sleep", "infinity"])
            self.drill.history.note("backup.tools", "no node of the cluster runs: a helper container for the tools")
        return runtime.node("backup-tools")

    def verify_ok(self) -> tuple[bool, str]:
        """The backup tool's own verification of every backup: (clean, its output)."""
        node = self._tool_node()
        if self.tool == "basebackup":
            return basebackup.verify_basebackups(self.drill.history, node, self._repo())
        return verify_repository(self.drill.history, node)

    def _pgbackrest_only(self, what: str) -> None:
        if self.tool != "pgbackrest":
            raise SetupError(f"{what} needs the pgBackRest repository (this drill uses {self.tool})")

    def verify(self) -> VerifyReport:
        """``pgbackrest verify`` on the primary, recorded; its per-set report."""
        self._pgbackrest_only("pgbackrest verify")
        _, out = verify_repository(self.drill.history, self._tool_node())
        return parse_verify(out)

    def restore_verified(self, *, with_archive: bool = False) -> RestoreResult:
        """Restore the newest backup set that ``pgbackrest verify`` calls valid.

        Without ``with_archive`` the restore stops at that set's own end (``--type=immediate``):
        the fallback of an operator who trusts only what verified (the WAL after an invalid
        set is unverified too, or the archive is lost with it), so every write since that
        backup is lost. With it, pgBackRest replays the archive to its end, as a "latest" does.
        """
        report = self.verify()
        backups = backup_info(self._tool_node())
        good = [b for b in backups if report.valid(b.label)]
        if not good:
            raise SetupError(f"no backup set verifies: {report.backups}")
        chosen = good[-1]
        skipped = [b for b in backups if b.stop > chosen.stop]
        self.drill.history.add(BackupFallback(
            at=now(), restored=chosen.label, restored_stop=float(chosen.stop), with_archive=with_archive,
            skipped=[BackupStop(label=b.label, stop=float(b.stop)) for b in skipped]))
        self.drill.history.note("backup.fallback", "passed over " + (", ".join(
            f"{b.label} ({report.backups.get(b.label, '?')})" for b in skipped) or "nothing") + f"; restoring {chosen.label}")
        if with_archive:
            target = RecoveryTarget("latest", backup_set=chosen.label)
        else:
            target = RecoveryTarget("immediate", wall_before=chosen.start - 1.0, wall_after=chosen.stop + 1.0,
                                    backup_set=chosen.label)
        return self.restore(target)

    def apply_retention(self, keep_full: int | None = None) -> list[Backup]:
        """Expire backups beyond ``keep_full`` full ones (the environment's ``backup.retention_full``
        by default); returns what the repository still holds."""
        keep_full = keep_full if keep_full is not None else self.drill.env.backup.retention_full
        node = self.drill.cluster.node(self._primary())
        expire(self.drill.history, node, keep_full)
        kept = backup_info(node)
        self.drill.history.note("backup.retention", f"keep {keep_full} full: {[b.label for b in kept]}")
        return kept

    def restore_each(self, backups: list[Backup]) -> list[RestoreResult]:
        """Every given backup restored to its own consistent point in a fresh node."""
        return [self.restore(RecoveryTarget("immediate", wall_before=b.start - 1.0, wall_after=b.stop + 1.0,
                                            backup_set=b.label)) for b in backups]

    # -- recovery targets --------------------------------------------------------------------

    def mark(self, kind: TargetKind, name: str = "") -> RecoveryTarget:
        """A target made on the primary now; the note lets a later step find it by kind."""
        c = self.drill.cluster
        target = mark_target(c.address(c.primary), kind, name)
        self.drill.history.add(RecoveryTargetMarked(
            at=now(), target_kind=target.kind, value=target.value, exclusive=target.exclusive,
            wall_before=target.wall_before, wall_after=target.wall_after, backup_set=target.backup_set))
        return target

    def marked(self, kind: TargetKind, name: str = "") -> RecoveryTarget:
        for n in reversed(self.drill.history.of(RecoveryTargetMarked)):
            if n.target_kind == kind and (not name or n.value == name):
                return RecoveryTarget(kind, n.value, n.exclusive, n.wall_before, n.wall_after, n.backup_set)
        return self.mark(kind, name)

    def before_drop(self) -> RecoveryTarget:
        """The moment before the last accidental DROP TABLE: its xid, exclusive."""
        drops = recovery_targets(self.drill.history)
        if not drops:
            raise SetupError("no table was dropped (When I drop table \"...\" by accident)")
        drop = drops[-1]
        return RecoveryTarget("xid", str(drop.xid), exclusive=True, wall_before=drop.wall_before,
                              wall_after=drop.at.wall)

    # -- restore -----------------------------------------------------------------------------

    def restore(self, target: RecoveryTarget, name: str | None = None, *, retries: bool = True) -> RestoreResult:
        """Restore ``target`` into a fresh node; ``retries=False``: pgBackRest gives up on the first
        failed file (a restore expected to fail need not wait for its retries)."""
        d = self.drill
        if self.repo is None or not self.backups:
            raise SetupError("nothing to restore: take a backup first (Given a full backup was taken)")
        name = name or f"restore{len(self.restores) + 1}"
        t = now()
        decision = d.history.add(ActionEvent(at=t, end=t, action="restore.decision", target=name, outcome="ok",
                                             detail=target.describe()))
        c = d.cluster
        flushed = False
        try:
            flushed = flush_wal(d.history, c.address(c.primary), c.primary)
        except Exception:  # noqa: BLE001 - no address: the source is gone
            pass
        if target.kind == "latest" and flushed:
            # Latest (of any set: the archive is replayed to its end) after a WAL switch:
            # every write acknowledged before the decision must survive.
            target = replace(target, wall_before=decision.at.wall)
        runtime = docker_runtime(c.runtime, "a restore into a new node")
        table = d.env.probe.table

        def source_rows() -> dict[int, str]:
            if not flushed:
                raise SetupError("the source did not answer at the decision")
            return row_checksums(c.address(c.primary), table)

        repo = self._repo()
        base = self.tool == "basebackup"
        result = restore_to_new_node(
            runtime, d.history, name=name, image=image_for(d.env),
            target=target, table=table, source_rows=source_rows, fetch=basebackup.fetch(repo) if base else (None if retries else pgbackrest_restore_once),
            verify_backup=(lambda h, n: basebackup.verify_basebackups(h, n, repo)) if base else None)
        self.restores.append(result)
        return result

    def last_restore(self) -> RestoreResult:
        if not self.restores:
            raise SetupError("no restore was made (When I restore ... to a new node)")
        return self.restores[-1]

    def restore_rpo(self) -> RpoResult:
        return restore_rpo(self.drill.history.events(), self.last_restore().node)
