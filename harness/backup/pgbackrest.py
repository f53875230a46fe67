"""pgBackRest commands on a node, each recorded in the history with its outcome and timing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from harness.errors import CommandFailed
from harness.history import ActionEvent, AlertEvent, BackupTaken, History, now
from harness.runtime.base import Node
from harness.backup.repo import STANZA, pgbackrest_options

__all__ = ["Backup", "BackupType", "VerifyReport", "backup_info", "expire", "parse_verify", "pgbackrest",
           "stanza_create", "take_backup", "verify_repository"]

BackupType = Literal["full", "diff", "incr"]


@dataclass(frozen=True)
class Backup:
    label: str
    type: str
    size: int  # bytes of the database it holds
    delta: int  # bytes copied by this backup
    repo_size: int  # bytes stored in the repository (compressed)
    repo_delta: int
    start: int  # Unix seconds, as pgBackRest recorded them
    stop: int
    lsn_start: str
    lsn_stop: str


def pgbackrest(node: Node, command: str, *args: str, timeout: float = 300) -> tuple[int, str]:
    res = node.exec(["pgbackrest", *pgbackrest_options(), *args, command], timeout=timeout)
    return res.exit_code, res.output


def _run(history: History, node: Node, action: str, command: str, *args: str,
         timeout: float = 300, raise_on_failure: bool = True) -> tuple[int, str]:
    t0 = now()
    code, out = pgbackrest(node, command, *args, timeout=timeout)
    history.add(ActionEvent(at=t0, end=now(), action=action, target=node.name,
                            outcome="ok" if code == 0 else "failed", detail=out.strip()[-800:]))
    if code != 0 and raise_on_failure:
        raise CommandFailed(node.name, f"pgbackrest {command}", code, out)
    return code, out


def stanza_create(history: History, node: Node, *, archive_timeout: float = 60) -> None:
    """Create the stanza on the primary and check that archiving reaches the repository.

    Until the stanza exists every archive-push fails and PostgreSQL backs off (a minute after
    three failures), so WAL written before it (a big data load) queues up: ``check`` waits
    ``archive_timeout`` for the backlog to reach its own segment.
    """
    _run(history, node, "backup.stanza_create", "stanza-create", timeout=60)
    # check switches WAL and waits for it to be archived: proves archive_command works.
    _run(history, node, "backup.check", "check", f"--archive-timeout={archive_timeout:g}",
         timeout=archive_timeout + 30)


def backup_info(node: Node) -> list[Backup]:
    code, out = pgbackrest(node, "info", "--output=json", timeout=30)
    if code != 0:
        raise CommandFailed(node.name, "pgbackrest info", code, out)
    return parse_info(out)


def parse_info(text: str, stanza: str = STANZA) -> list[Backup]:
    """The backups of a stanza from ``pgbackrest info --output=json`` (oldest first)."""
    data = json.loads(text)
    out: list[Backup] = []
    for st in data:
        if st.get("name") != stanza:
            continue
        for b in st.get("backup", []):
            info = b.get("info", {})
            repo = info.get("repository", {})
            lsn = b.get("lsn", {})
            out.append(Backup(label=b["label"], type=b["type"], size=int(info.get("size", 0)),
                              delta=int(info.get("delta", 0)), repo_size=int(repo.get("size", 0)),
                              repo_delta=int(repo.get("delta", 0)), start=int(b["timestamp"]["start"]),
                              stop=int(b["timestamp"]["stop"]), lsn_start=str(lsn.get("start", "")),
                              lsn_stop=str(lsn.get("stop", ""))))
    return out


def take_backup(history: History, node: Node, kind: BackupType, *, timeout: float = 600,
                archive_timeout: float = 60) -> Backup | None:
    """One backup on ``node`` (the primary), timed; its size goes into the event. None if it failed.

    ``archive_timeout``: how long pgBackRest waits for a WAL segment to reach the archive (at
    the start it checks archiving works, at the end it waits for the backup's last segment);
    a backup with a broken archive fails after that long.
    """
    t0 = now()
    # start-fast: an immediate checkpoint instead of waiting for the next one (minutes by default).
    code, out = pgbackrest(node, "backup", f"--type={kind}", f"--archive-timeout={archive_timeout:g}",
                           timeout=timeout)
    end = now()
    backup: Backup | None = None
    if code == 0:
        try:
            backups = backup_info(node)
            backup = backups[-1] if backups else None
        except Exception as exc:  # noqa: BLE001 - the backup succeeded; only its size is unknown
            out += f"\n(info failed: {exc})"
    ok = code == 0 and backup is not None
    label = backup.label if backup is not None else "(no set)"
    history.add(ActionEvent(at=t0, end=end, action=f"backup.{kind}", target=node.name,
                            outcome="ok" if ok else "failed",
                            detail=f"pgbackrest {kind} backup {label}: exit {code}; {out.strip()[-600:]}"))
    if ok and backup is not None:
        history.add(BackupTaken(at=now(), type=kind, label=backup.label, size=backup.size,
                                repo_size=backup.repo_size, stop_wall=float(backup.stop)))
        # An info alert (docs/targets-and-alerts.md): raised by the event itself, not inferred from a sample.
        history.add(AlertEvent(at=now(), alert="backup completed", severity="info", node=node.name,
                               phase="firing", detail=f"{kind} backup {backup.label}"))
    return backup


def expire(history: History, node: Node, keep_full: int) -> None:
    """Apply a retention policy now: keep the newest ``keep_full`` full backups (and what depends on them)."""
    _run(history, node, "backup.expire", "expire", f"--repo1-retention-full={keep_full}", timeout=120)


def verify_repository(history: History, node: Node) -> tuple[bool, str]:
    """``pgbackrest verify``: every backup file and archived WAL checked against its checksum.

    Clean only when the command succeeds AND its report says so: pgBackRest 2.45 exits 0 with
    ``status: error`` when a backup set holds a file whose checksum does not match.
    """
    t0 = now()
    code, out = pgbackrest(node, "verify", "--output=text", "--verbose", timeout=300)
    report = parse_verify(out)
    ok = code == 0 and report.ok
    history.add(ActionEvent(at=t0, end=now(), action="backup.verify", target=node.name,
                            outcome="ok" if ok else "failed", detail=out.strip()[-800:]))
    return ok, out


@dataclass(frozen=True)
class VerifyReport:
    ok: bool  # the stanza's status line says ok
    backups: dict[str, str]  # label -> "valid" / "invalid" / ...

    def valid(self, label: str) -> bool:
        return self.backups.get(label) == "valid"


_STATUS = re.compile(r"^status:\s*(\S+)", re.M)
_BACKUP = re.compile(r"^\s*backup:\s*(\S+),\s*status:\s*([a-z]+)", re.M)


def parse_verify(text: str) -> VerifyReport:
    """The text output of ``pgbackrest verify --output=text --verbose``."""
    status = _STATUS.search(text)
    return VerifyReport(ok=status is not None and status.group(1) == "ok",
                        backups={m.group(1): m.group(2) for m in _BACKUP.finditer(text)})
