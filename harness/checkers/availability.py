"""Availability: the share of probe intervals in the drill window with an acknowledged write."""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.verdict import Status
from harness.history import Event, History, Note, ProbeOp

__all__ = ["WINDOW_END", "WINDOW_START", "AvailabilityResult", "availability"]

# Note names that bound the drill window; without them the window spans the write probes.
WINDOW_START = "window_start"
WINDOW_END = "window_end"

# Absorbs float error so an op starting exactly on an interval boundary lands in that interval.
_EPS = 1e-9


class AvailabilityResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    value: float | None  # intervals_up / intervals_total
    intervals_total: int
    intervals_up: int
    interval_s: float
    window_s: float | None
    status: Status
    reason: str


def availability(
    history: History | Iterable[Event], interval_s: float
) -> AvailabilityResult:
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    events = list(history)
    writes = [e for e in events if isinstance(e, ProbeOp) and e.probe == "write"]

    def unknown(reason: str, window_s: float | None = None) -> AvailabilityResult:
        return AvailabilityResult(
            value=None,
            intervals_total=0,
            intervals_up=0,
            interval_s=interval_s,
            window_s=window_s,
            status="unknown",
            reason=reason,
        )

    if not writes:
        return unknown("no write probes ran")

    notes = [e for e in events if isinstance(e, Note)]
    start = next((n for n in notes if n.name == WINDOW_START), None)
    w0 = start.at.t if start is not None else min(op.at.t for op in writes)
    end = next((n for n in notes if n.name == WINDOW_END and n.at.t >= w0), None)
    w1 = end.at.t if end is not None else max(op.end.t for op in writes)
    window_s = w1 - w0
    if window_s <= 0:
        return unknown(f"empty drill window ({window_s:.3f} s)", window_s)

    total = max(1, math.floor(window_s / interval_s + _EPS))
    up: set[int] = set()
    # An interval is up when an acknowledged write started or was acknowledged in it: a
    # write sent a hair before an interval boundary and answered after it is service in both,
    # and scheduling jitter of the probe must not read as an outage.
    for op in writes:
        if op.outcome != "ok" or op.at.t > w1 or op.end.t < w0:
            continue
        for t in (op.at.t, op.end.t):
            if w0 <= t <= w1:
                k = math.floor((t - w0) / interval_s + _EPS)
                if k < total:
                    up.add(k)
    return AvailabilityResult(
        value=len(up) / total,
        intervals_total=total,
        intervals_up=len(up),
        interval_s=interval_s,
        window_s=window_s,
        status="valid",
        reason=f"{len(up)} of {total} intervals of {interval_s:g} s had an acknowledged write in them",
    )
