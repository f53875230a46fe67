"""RPO exposure: what a region loss would cost at each moment, sampled all along.

The exposure sampler (:mod:`harness.monitor.exposure`) records, for each standby of the DR
region, the highest probe sequence number it has replayed (``dr_replayed_seq``) and the WAL
bytes it has not received (``dr_lag_bytes``), stamped *before* it asks. At a sample taken at
``t``, the writes at risk are the acknowledged writes (acknowledged before ``t``) above the
best DR standby's replayed sequence: had the primary's region been lost at ``t``, those are
what promoting the DR standby would lose. The exposure in seconds is ``t`` minus the
acknowledgement of the oldest of them (0 when none). Pure over the history.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.rpo import acknowledged_writes
from harness.checkers.verdict import Status
from harness.history import Event, History, Sample

__all__ = ["REPLAYED_SEQ", "LAG_BYTES", "ExposurePoint", "ExposureResult", "rpo_exposure"]

REPLAYED_SEQ = "dr_replayed_seq"
LAG_BYTES = "dr_lag_bytes"


class ExposurePoint(BaseModel):
    model_config = ConfigDict(frozen=True)
    t: float  # monotonic
    wall: float
    nodes: tuple[str, ...]  # the DR standbys that answered
    writes_at_risk: int
    exposure_s: float
    lag_bytes: float | None  # the best standby's unreceived WAL


class ExposureResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    points: list[ExposurePoint]
    max_s: float | None
    mean_s: float | None
    max_writes: int | None
    max_lag_bytes: float | None
    status: Status
    reason: str


def rpo_exposure(history: History | Iterable[Event], *, start: float | None = None,
                 end: float | None = None) -> ExposureResult:
    """The exposure at every sampling round (optionally only those in ``[start, end]``)."""
    events = list(history)
    acks = acknowledged_writes(events)
    by_seq = sorted((seq, stamp.t) for (_, seq), stamp in acks.items())
    seqs = [s for s, _ in by_seq]
    rounds: dict[float, list[Sample]] = {}
    for e in events:
        if isinstance(e, Sample) and REPLAYED_SEQ in e.metrics:
            if (start is None or e.at.t >= start) and (end is None or e.at.t <= end):
                rounds.setdefault(e.at.t, []).append(e)
    points: list[ExposurePoint] = []
    for t, samples in sorted(rounds.items()):
        mark = max(int(s.metrics[REPLAYED_SEQ]) for s in samples)
        at_risk = [ack for _, ack in by_seq[bisect.bisect_right(seqs, mark):] if ack < t]
        lags = [s.metrics[LAG_BYTES] for s in samples if LAG_BYTES in s.metrics]
        points.append(ExposurePoint(t=t, wall=samples[0].at.wall, nodes=tuple(sorted(s.node for s in samples)),
                                    writes_at_risk=len(at_risk), exposure_s=t - min(at_risk) if at_risk else 0.0,
                                    lag_bytes=min(lags) if lags else None))
    if not points:
        return ExposureResult(points=[], max_s=None, mean_s=None, max_writes=None, max_lag_bytes=None,
                              status="unknown", reason="no DR standby was sampled: exposure not measured")
    worst = max(points, key=lambda p: p.exposure_s)
    lags = [p.lag_bytes for p in points if p.lag_bytes is not None]
    mean = statistics.fmean(p.exposure_s for p in points)
    return ExposureResult(
        points=points, max_s=worst.exposure_s, mean_s=mean, max_writes=max(p.writes_at_risk for p in points),
        max_lag_bytes=max(lags) if lags else None, status="valid",
        reason=(f"{len(points)} samples: max {worst.exposure_s:.2f} s ({worst.writes_at_risk} acknowledged writes "
                f"not yet in the DR region), mean {mean:.2f} s"
                + (f", max WAL lag {max(lags):.0f} bytes" if lags else "")))
