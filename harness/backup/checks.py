"""Pure numbers over the history: backups (duration, size, success rate) and restores (RTO, phases)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.rpo import RpoResult, rpo
from harness.history import ActionEvent, Event, FaultEvent, FinalRead, ProbeOp

__all__ = ["BACKUP_ACTIONS", "BackupStats", "RestoreStats", "backup_stats", "restore_rpo", "restore_stats"]

BACKUP_ACTIONS = ("backup.full", "backup.diff", "backup.incr")


class BackupStats(BaseModel):
    model_config = ConfigDict(frozen=True)
    attempts: int
    succeeded: int
    success_rate: float | None  # None: no backup was attempted
    durations_s: list[float]  # of every attempt, in order
    sizes: list[int]  # database bytes of each successful backup
    repo_sizes: list[int]


def backup_stats(events: Iterable[Event]) -> BackupStats:
    backups = [e for e in events if isinstance(e, ActionEvent) and e.action in BACKUP_ACTIONS]
    ok = [b for b in backups if b.outcome == "ok"]
    sizes, repo = [], []
    for b in ok:
        try:
            d = json.loads(b.detail)
        except ValueError:
            continue
        sizes.append(int(d.get("size", 0)))
        repo.append(int(d.get("repo_size", 0)))
    return BackupStats(attempts=len(backups), succeeded=len(ok),
                       success_rate=len(ok) / len(backups) if backups else None,
                       durations_s=[b.end.t - b.at.t for b in backups], sizes=sizes, repo_sizes=repo)


class RestoreStats(BaseModel):
    model_config = ConfigDict(frozen=True)
    node: str
    target: str
    rto_s: float | None  # fault (or decision) to a writable restored node; None: it never became writable
    rto_from: str  # "fault" (the last fault injected before the decision) or "decision"
    fetch_s: float | None
    replay_s: float | None  # WAL replay and promotion until writable
    verify_s: float | None
    verified: bool | None  # None: not verified yet


def restore_stats(events: Iterable[Event]) -> list[RestoreStats]:
    """One entry per restore drill (``restore.*`` actions grouped by the restored node)."""
    evs = list(events)
    acts = [e for e in evs if isinstance(e, ActionEvent) and e.action.startswith("restore.")]
    faults = [e for e in evs if isinstance(e, FaultEvent) and e.phase == "inject"]
    out: list[RestoreStats] = []
    for start in (a for a in acts if a.action == "restore.decision"):
        mine = [a for a in acts if a.target == start.target and a.at.t >= start.at.t]

        def phase(name: str) -> ActionEvent | None:
            return next((a for a in mine if a.action == name), None)

        fetch, replay, verify = phase("restore.fetch"), phase("restore.replay"), phase("restore.verify")
        writable = replay is not None and replay.outcome == "ok"
        # DESIGN: restore RTO runs from the fault (the primary lost, the table dropped) when
        # there is one, else from the decision to restore.
        before = [f for f in faults if f.at.t <= start.at.t]
        t0 = (before[-1].began or before[-1].at).t if before else start.at.t
        out.append(RestoreStats(
            node=start.target, target=start.detail, rto_from="fault" if before else "decision",
            rto_s=replay.end.t - t0 if writable and replay is not None else None,
            fetch_s=fetch.end.t - fetch.at.t if fetch else None,
            replay_s=replay.end.t - replay.at.t if replay else None,
            verify_s=verify.end.t - verify.at.t if verify else None,
            verified=None if verify is None else verify.outcome == "ok"))
    return out


def restore_rpo(events: Iterable[Event], node: str) -> RpoResult:
    """The RPO checker over the probe's writes against what the restored ``node`` holds.

    Only writes answered before the restore was decided count (later ones cannot be in any
    backup), and only that node's final read: the drill's own final read of the source comes
    later and would otherwise be the one the checker uses.
    """
    evs = list(events)
    decisions = [e for e in evs if isinstance(e, ActionEvent) and e.action == "restore.decision" and e.target == node]
    cut = decisions[-1].at.t if decisions else float("inf")
    finals = [e for e in evs if isinstance(e, FinalRead) and e.node == node]
    kept: list[Event] = [e for e in evs if not isinstance(e, FinalRead) and not (isinstance(e, ProbeOp) and e.end.t > cut)]
    kept.extend(finals[-1:])
    return rpo(kept)
