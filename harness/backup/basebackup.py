"""The simple alternative to pgBackRest: ``pg_basebackup`` and a plain WAL archive (``cp``).

Both live in the drill's repository folder (the same bind mount, :mod:`.repo`):
``base/<label>/`` holds each base backup in plain format with its ``backup_manifest`` (so
``pg_verifybackup`` can check it) and ``wal/`` the archived segments. Full backups only
(PostgreSQL 15 has no incremental base backup). A restore copies a base backup into the
fresh node's empty data directory and recovers with ``restore_command = cp`` to the target.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from harness.backup.pgbackrest import Backup
from harness.backup.repo import PGDATA, REPO_PATH, Repository
from harness.backup.restore import Fetch, RecoveryTarget
from harness.errors import SetupError
from harness.history import ActionEvent, AlertEvent, BackupTaken, History, now
from harness.runtime.base import Node

__all__ = ["ARCHIVE", "BASE", "archive_settings", "backups", "fetch", "take_basebackup", "verify_basebackups"]

ARCHIVE = f"{REPO_PATH}/wal"
BASE = f"{REPO_PATH}/base"


def archive_settings(*, archive_timeout_s: float = 60) -> dict[str, str]:
    # test ! -f: never overwrite a segment already archived (PostgreSQL's documented example).
    cmd = f"mkdir -p {ARCHIVE} && test ! -f {ARCHIVE}/%f && cp %p {ARCHIVE}/%f"
    return {"archive_mode": "on", "archive_command": cmd, "archive_timeout": f"{int(archive_timeout_s)}s"}


def _size(node: Node, path: str) -> int:
    res = node.exec(["du", "-sb", path], timeout=60)
    return int(res.output.split()[0]) if res.exit_code == 0 and res.output.split() else 0


def take_basebackup(history: History, node: Node) -> Backup | None:
    """A full base backup of ``node`` (the primary) into the repository, timed; None if it failed."""
    label = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "B"
    t0 = now()
    start = int(time.time())
    # Plain format (pg_verifybackup reads only that in PostgreSQL 15), WAL streamed into it so
    # the backup is consistent on its own; a fast checkpoint instead of waiting for one.
    # Over TCP: the image's pg_hba.conf allows replication connections from the network only.
    res = node.exec(["pg_basebackup", "-h", "127.0.0.1", "-D", f"{BASE}/{label}", "-Fp", "-X", "stream",
                     "-c", "fast", "-l", label, "--no-sync"], timeout=600)
    stop = int(time.time())
    backup: Backup | None = None
    if res.exit_code == 0:
        size = _size(node, f"{BASE}/{label}")
        backup = Backup(label=label, type="full", size=size, delta=size, repo_size=size, repo_delta=size,
                        start=start, stop=stop, lsn_start="", lsn_stop="")
    history.add(ActionEvent(at=t0, end=now(), action="backup.full", target=node.name,
                            outcome="ok" if backup is not None else "failed",
                            detail=f"pg_basebackup {label}: exit {res.exit_code}; {res.output.strip()[-600:]}"))
    if backup is not None:
        history.add(BackupTaken(at=now(), type="full", label=label, size=backup.size, repo_size=backup.repo_size,
                                stop_wall=float(stop)))
        history.add(AlertEvent(at=now(), alert="backup completed", severity="info", node=node.name,
                               phase="firing", detail=f"base backup {label}"))
    return backup


def backups(repo: Repository) -> list[str]:
    """Labels of the base backups in the repository, oldest first."""
    base = repo.host_path / "base"
    return sorted(p.name for p in base.iterdir() if (p / "backup_manifest").is_file()) if base.is_dir() else []


def verify_basebackups(history: History, node: Node, repo: Repository) -> tuple[bool, str]:
    """``pg_verifybackup`` on every base backup (files against the manifest, and its WAL)."""
    t0 = now()
    outs: list[str] = []
    ok = True
    labels = backups(repo)
    for label in labels:
        res = node.exec(["pg_verifybackup", f"{BASE}/{label}"], timeout=300)
        ok = ok and res.exit_code == 0
        outs.append(f"{label}: {res.output.strip()[-400:]}")
    if not labels:
        ok, outs = False, ["no base backup to verify"]
    out = "\n".join(outs)
    history.add(ActionEvent(at=t0, end=now(), action="backup.verify", target=node.name,
                            outcome="ok" if ok else "failed", detail=out[-800:]))
    return ok, out


def _recovery_conf(target: RecoveryTarget) -> str:
    lines = [f"restore_command = 'cp {ARCHIVE}/%f %p'", "archive_mode = off"]
    setting = {"time": "recovery_target_time", "xid": "recovery_target_xid", "lsn": "recovery_target_lsn",
               "name": "recovery_target_name"}.get(target.kind)
    if setting is not None:
        lines.append(f"{setting} = '{target.value}'")
    elif target.kind == "immediate":
        lines.append("recovery_target = 'immediate'")
    if target.kind != "latest":
        lines.append("recovery_target_action = 'promote'")
    if target.exclusive:
        lines.append("recovery_target_inclusive = off")
    return "\n".join(lines) + "\n"


def fetch(repo: Repository) -> Fetch:
    """The restore's fetch phase for :func:`~harness.backup.restore.restore_to_new_node`."""

    def run(node: Node, target: RecoveryTarget, timeout: float) -> tuple[int, str]:
        labels = backups(repo)
        label = target.backup_set or (labels[-1] if labels else "")
        if not label or not (Path(repo.host_path) / "base" / label).is_dir():
            raise SetupError(f"no base backup {label or ''} in {repo.host_path / 'base'}")
        conf = _recovery_conf(target)
        script = (f"cp -a {BASE}/{shlex.quote(label)}/. {PGDATA}/ && rm -f {PGDATA}/backup_manifest "
                  f"&& mkdir -p {PGDATA}/conf.d && printf %s \"$0\" > {PGDATA}/conf.d/zy-recovery.conf "
                  f"&& touch {PGDATA}/recovery.signal")
        res = node.exec(["sh", "-c", script, conf], timeout=timeout)
        return res.exit_code, f"base backup {label} copied; {conf.strip()}; {res.output.strip()[-400:]}"

    return run
