"""The background load's expectations: its error rate and latency after recovery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checkers.load import LoadPhase, load_phases
from harness.errors import SetupError, TargetMissed

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["require_load_after"]


def require_load_after(drill: Drill, *, max_error_rate: float | None = None, percentile: int = 99,
                       max_latency_s: float | None = None) -> LoadPhase:
    load = drill.load
    if load is None:
        raise SetupError('no background load is running (Given a "mixed" load of N users ...)')
    drill.end_window()
    load.stop()
    phases = {p.phase: p for p in load_phases(drill.history.events())}
    after = phases.get("after") or phases.get("before")
    if after is None or not after.requests:
        raise TargetMissed("load after recovery", "no requests were made after recovery", "some")
    if max_error_rate is not None and (after.error_rate or 0) >= max_error_rate:
        raise TargetMissed("load error rate after recovery", f"{(after.error_rate or 0) * 100:.2f} %",
                           f"< {max_error_rate * 100:g} %")
    if max_latency_s is not None:
        value = {50: after.p50_ms, 95: after.p95_ms, 99: after.p99_ms}.get(percentile)
        if value is None:
            raise SetupError(f"p{percentile} is not reported: use p50, p95 or p99")
        if value / 1000 >= max_latency_s:
            raise TargetMissed(f"p{percentile} load latency after recovery", f"{value:.1f} ms",
                               f"< {max_latency_s * 1000:g} ms")
    return after
