"""The WAL archive's backlog around each backup-side fault, from ``ArchiveBacklog`` samples.

Pure over the history. For every fault on the repository (an S3 endpoint down, slow or
answering errors; a broken archive): the backlog before it (``.ready`` segments), its peak
while the fault lasted, how many archive attempts failed from the injection until the
backlog drained, and the drain time: from the heal to the first sample with no ``.ready``
segment left. ``None`` for a drain that no sample saw; a fault with no sample around it is
left out (nothing was measured), never reported as zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.backup import BACKUP_SIDE_FAULTS
from harness.history import ArchiveBacklog, Event, FaultEvent

__all__ = ["BacklogWindow", "backlog_windows"]


class BacklogWindow(BaseModel):
    model_config = ConfigDict(frozen=True)
    fault: str
    target: str
    injected_wall: float
    healed_wall: float | None  # None: never healed in the drill (the end healed it)
    ready_before: int
    ready_peak: int  # the most .ready segments seen from the injection to the heal
    failed_archives: int  # pg_stat_archiver.failed_count's growth from the injection to the drain
    last_failed_wal: str
    drain_s: float | None  # heal -> first sample with no .ready segment; None: not seen
    samples: int


def backlog_windows(events: Iterable[Event]) -> list[BacklogWindow]:
    evs = list(events)
    samples = [e for e in evs if isinstance(e, ArchiveBacklog)]
    faults = [e for e in evs if isinstance(e, FaultEvent) and e.fault in BACKUP_SIDE_FAULTS]
    out: list[BacklogWindow] = []
    for i, inj in enumerate(faults):
        if inj.phase != "inject":
            continue
        heal = next((f for f in faults[i + 1:] if f.phase == "heal" and f.fault == inj.fault
                     and f.target == inj.target), None)
        t0 = (inj.began or inj.at).t
        before = [s for s in samples if s.at.t <= t0]
        during = [s for s in samples if t0 < s.at.t <= (heal.at.t if heal else float("inf"))]
        after = [s for s in samples if heal is not None and s.at.t > heal.at.t]
        drained = next((s for s in after if s.ready == 0), None)
        base = before[-1] if before else None
        if base is None and not during:
            continue
        upto = [*during, *after[: after.index(drained) + 1]] if drained is not None else [*during, *after]
        failed0 = base.failed_count if base is not None else (during[0].failed_count if during else 0)
        seen = [s for s in upto if s.last_failed_wal]
        out.append(BacklogWindow(
            fault=inj.fault, target=inj.target, injected_wall=inj.at.wall,
            healed_wall=heal.at.wall if heal else None,
            ready_before=base.ready if base is not None else 0,
            ready_peak=max([s.ready for s in during], default=0),
            failed_archives=max([s.failed_count for s in upto], default=failed0) - failed0,
            last_failed_wal=seen[-1].last_failed_wal if seen else "",
            drain_s=(drained.at.t - heal.at.t) if (drained is not None and heal is not None) else None,
            samples=len(during) + len(after)))
    return out
