"""Pure numbers over the history: backups (duration, size, success rate) and restores (RTO, phases, RPO)."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.rpo import RpoResult, rpo
from harness.checkers.verdict import Status
from harness.history import ActionEvent, BackupFallback, BackupTaken, Event, FaultEvent, FinalRead, ProbeOp

__all__ = ["BACKUP_ACTIONS", "BACKUP_SIDE_FAULTS", "BackupMeasures", "BackupStats", "FallbackLoss", "RestoreMeasure",
           "RestoreStats", "backup_measures", "backup_stats", "fallback_loss", "restore_rpo", "restore_stats"]

BACKUP_ACTIONS = ("backup.full", "backup.diff", "backup.incr")
BACKUP_SIDE_FAULTS = ("backup-corruption", "archive-push-failure", "repository-full",
                      # on an S3 repository (harness.backup.s3)
                      "s3-endpoint-down", "s3-endpoint-frozen", "s3-endpoint-slow", "s3-endpoint-errors")


class BackupStats(BaseModel):
    model_config = ConfigDict(frozen=True)
    attempts: int
    succeeded: int
    success_rate: float | None  # None: no backup was attempted
    durations_s: list[float]  # of every attempt, in order
    sizes: list[int]  # database bytes of each successful backup
    repo_sizes: list[int]


def backup_stats(events: Iterable[Event]) -> BackupStats:
    evs = list(events)
    backups = [e for e in evs if isinstance(e, ActionEvent) and e.action in BACKUP_ACTIONS]
    ok = [b for b in backups if b.outcome == "ok"]
    taken = [e for e in evs if isinstance(e, BackupTaken)]
    sizes, repo = [t.size for t in taken], [t.repo_size for t in taken]
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

        def phase(name: str, mine: list[ActionEvent] = mine) -> ActionEvent | None:
            return next((a for a in mine if a.action == name), None)

        fetch, replay, verify = phase("restore.fetch"), phase("restore.replay"), phase("restore.verify")
        writable = replay is not None and replay.outcome == "ok"
        # By definition (docs/numbers.md), restore RTO runs from the fault (the primary lost, the table dropped) when
        # there is one, else from the decision to restore.
        # Faults on the backup side (a corrupted set, a broken archive) are no outage: the
        # restore clock does not start at them.
        before = [f for f in faults if f.at.t <= start.at.t and f.fault not in BACKUP_SIDE_FAULTS]
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


class FallbackLoss(BaseModel):
    """What a restore that fell back to an older backup set lost, against what it had to lose."""

    model_config = ConfigDict(frozen=True)
    restored: str  # the set restored
    skipped: list[str]  # newer sets passed over (invalid)
    must_lose: int  # acknowledged writes after the restored set's end, up to the newest skipped set's end
    lost: int | None  # acknowledged writes the restored node lacks (the RPO checker's count)
    window_s: float | None
    status: Status
    reason: str


def fallback_loss(events: Iterable[Event], node: str) -> FallbackLoss:
    """The growth of the RPO when a restore fell back (the ``backup.fallback`` note before it).

    Writes acknowledged between the restored set's end and the end of the newest set passed
    over would have been in a restore of that set; a fallback to the end of an older set must
    lose every one of them. pgBackRest stamps a backup's stop in whole seconds, so the window
    starts one second after the restored set's stop.
    """
    evs = list(events)
    notes = [e for e in evs if isinstance(e, BackupFallback)]
    if not notes:
        return FallbackLoss(restored="", skipped=[], must_lose=0, lost=None, window_s=None, status="unknown",
                            reason="no restore fell back to an older backup")
    info = notes[-1]
    skipped = info.skipped
    lo = info.restored_stop + 1.0
    hi = max((b.stop for b in skipped), default=lo)
    acked = {e.seq for e in evs if isinstance(e, ProbeOp) and e.probe == "write" and e.outcome == "ok"
             and lo < e.end.wall <= hi}
    r = restore_rpo(evs, node)

    def result(status: Status, reason: str) -> FallbackLoss:
        return FallbackLoss(restored=info.restored, skipped=[b.label for b in skipped],
                            must_lose=len(acked), lost=r.lost, window_s=r.window_s, status=status, reason=reason)

    if r.lost is None:
        return result("unknown", f"no final read of {node}: {r.reason}")
    if info.with_archive:
        return result("valid", f"the archive was replayed: {r.reason}")
    lost_seqs = {s for a, b in r.lost_seqs for s in range(a, b + 1)}
    kept = sorted(acked - lost_seqs)
    if not acked or kept:
        why = ("no write was acknowledged between the backups" if not acked
               else f"{len(kept)} of them survived: the restore did not stop at the older set's end")
        return result("invalid", f"{len(acked)} writes had to be lost; {why}")
    return result("valid", f"lost {r.lost} acknowledged writes (window {r.window_s:.2f} s), including all "
                  f"{len(acked)} acknowledged after {info.restored} ended and before "
                  f"{skipped[-1].label if skipped else '?'} ended")


class RestoreMeasure(BaseModel):
    model_config = ConfigDict(frozen=True)
    node: str
    target: str
    rto_s: float | None
    rto_from: str
    fetch_s: float | None
    replay_s: float | None
    verify_s: float | None
    verified: bool | None
    lost_writes: int | None
    rpo_window_s: float | None


class BackupMeasures(BaseModel):
    """The backup side of a run, for measurements.json and summary.json."""

    model_config = ConfigDict(frozen=True)
    attempts: int
    succeeded: int
    success_rate: float | None
    durations_s: dict[str, list[float]]  # per type (full, diff, incr), every attempt
    sizes: dict[str, list[int]]  # per type, database bytes of each successful backup
    repo_sizes: dict[str, list[int]]
    restores: list[RestoreMeasure]


def backup_measures(events: Iterable[Event]) -> BackupMeasures | None:
    """None when the run took no backup and made no restore."""
    evs = list(events)
    stats = backup_stats(evs)
    restores = restore_stats(evs)
    if stats.attempts == 0 and not restores:
        return None
    durations: dict[str, list[float]] = {}
    sizes: dict[str, list[int]] = {}
    repo: dict[str, list[int]] = {}
    for b in (e for e in evs if isinstance(e, ActionEvent) and e.action in BACKUP_ACTIONS):
        durations.setdefault(b.action.removeprefix("backup."), []).append(round(b.end.t - b.at.t, 3))
    for t in (e for e in evs if isinstance(e, BackupTaken)):
        sizes.setdefault(t.type, []).append(t.size)
        repo.setdefault(t.type, []).append(t.repo_size)
    out: list[RestoreMeasure] = []
    for r in restores:
        loss = restore_rpo(evs, r.node)
        out.append(RestoreMeasure(**r.model_dump(), lost_writes=loss.lost, rpo_window_s=loss.window_s))
    return BackupMeasures(attempts=stats.attempts, succeeded=stats.succeeded, success_rate=stats.success_rate,
                          durations_s=durations, sizes=sizes, repo_sizes=repo, restores=out)
