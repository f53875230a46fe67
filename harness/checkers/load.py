"""Background-load latency and errors before, during and after the fault (pure over the history).

"During" runs from when the first fault began to when service came back: the write RTO's
recovery point when one was measured, else the last heal, else the end of the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.rto import rto
from harness.history import Event, FaultEvent, LoadSample

__all__ = ["LoadPhase", "load_phases"]


class LoadPhase(BaseModel):
    model_config = ConfigDict(frozen=True)
    phase: str  # before | during | after
    requests: int
    failures: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    seconds: float


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(p * len(values)) - 1))]


def load_phases(history: Iterable[Event]) -> list[LoadPhase]:
    events = list(history)
    samples = [e for e in events if isinstance(e, LoadSample)]
    if not samples:
        return []
    start, end = min(s.at.t for s in samples), max(s.at.t for s in samples) + 1
    faults = [e for e in events if isinstance(e, FaultEvent)]
    injected = [f for f in faults if f.phase == "inject"]
    if not injected:
        bounds = [("before", start, end)]
    else:
        f0 = (injected[0].began or injected[0].at).t
        r = rto(events, "write")
        if r.recovered_at is not None:
            back = r.recovered_at.t
        else:
            heals = [f.at.t for f in faults if f.phase == "heal" and f.at.t >= f0]
            back = heals[-1] if heals else end
        bounds = [("before", start, f0), ("during", f0, back), ("after", back, end)]
    # Each request belongs to the phase in which it was sent.
    reqs = [(s.at.t + off, lat, ok) for s in samples for off, lat, ok in s.requests]
    out = []
    for phase, a, b in bounds:
        mine = [(lat, ok) for t, lat, ok in reqs if a <= t < b]
        lat = sorted(x for x, _ in mine)
        n = len(mine)
        fails = sum(1 for _, ok in mine if not ok)
        out.append(LoadPhase(phase=phase, requests=n, failures=fails, error_rate=(fails / n) if n else None,
                             p50_ms=_pct(lat, 0.5), p95_ms=_pct(lat, 0.95), p99_ms=_pct(lat, 0.99),
                             seconds=max(0.0, b - a)))
    return out
