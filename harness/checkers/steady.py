"""Steady state (write success rate and latency over a stretch of time), pure over the history.

The hypothesis of a drill, Chaos Toolkit style: declared once, checked before the fault and
again after recovery. Also the rolling availability that abort conditions watch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.history import Event, ProbeOp

__all__ = ["SteadyState", "SteadyReading", "reading", "rolling_availability"]


class SteadyState(BaseModel):
    """What "healthy" means for this drill."""

    model_config = ConfigDict(frozen=True)
    min_write_success: float = 0.99  # share of write attempts acknowledged
    max_p95_ms: float | None = None  # write latency bound, when given
    window_s: float = 5.0  # how much recent history one reading looks at


class SteadyReading(BaseModel):
    model_config = ConfigDict(frozen=True)
    attempts: int
    success: float | None
    p95_ms: float | None
    holds: bool
    reason: str


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]


def reading(events: Iterable[Event], state: SteadyState, *, start: float, end: float) -> SteadyReading:
    """Does the steady state hold over write attempts that started in [start, end]?"""
    ops = [e for e in events if isinstance(e, ProbeOp) and e.probe == "write" and start <= e.at.t <= end]
    if not ops:
        return SteadyReading(attempts=0, success=None, p95_ms=None, holds=False, reason="no write attempts")
    ok = [o for o in ops if o.outcome == "ok"]
    success = len(ok) / len(ops)
    p95 = _p95([(o.end.t - o.at.t) * 1000 for o in ok])
    problems = []
    if success < state.min_write_success:
        problems.append(f"write success {success * 100:.1f} % < {state.min_write_success * 100:g} %")
    if state.max_p95_ms is not None and (p95 is None or p95 >= state.max_p95_ms):
        problems.append(f"p95 {'n/a' if p95 is None else f'{p95:.1f}'} ms not under {state.max_p95_ms:g} ms")
    reason = "; ".join(problems) or (f"write success {success * 100:.1f} %, p95 "
                                     f"{'n/a' if p95 is None else f'{p95:.1f}'} ms over {len(ops)} attempts")
    return SteadyReading(attempts=len(ops), success=success, p95_ms=p95, holds=not problems, reason=reason)


def rolling_availability(events: Iterable[Event], *, start: float, end: float, interval_s: float) -> float | None:
    """Share of probe intervals in [start, end] with an acknowledged write (None: no time yet)."""
    if end - start < interval_s:
        return None
    total = max(1, math.floor((end - start) / interval_s))
    up: set[int] = set()
    for e in events:
        if isinstance(e, ProbeOp) and e.probe == "write" and e.outcome == "ok":
            for t in (e.at.t, e.end.t):
                if start <= t < end:
                    up.add(min(total - 1, math.floor((t - start) / interval_s)))
    return len(up) / total
