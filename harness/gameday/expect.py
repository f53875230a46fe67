"""Game-day expectations: the steady-state hypothesis, and latency while a fault is active."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checkers.steady import SteadyReading, reading
from harness.errors import SetupError, TargetMissed, WaitTimeout
from harness.history import FaultEvent, ProbeOp, now
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["check_steady_state", "expect_steady_again", "require_fault_latency"]


def check_steady_state(drill: Drill, when: str) -> SteadyReading:
    """The hypothesis over the last ``window_s`` of writes; raises when it does not hold."""
    if drill.steady is None:
        raise SetupError("no steady state was declared (Given the steady state is ...)")
    t = now().t
    r = reading(drill.history.events(), drill.steady, start=t - drill.steady.window_s, end=t)
    drill.history.note(f"steady_state.{when}", r.reason)
    if not r.holds:
        raise TargetMissed(f"steady state {when}", r.reason, "holds")
    return r


def expect_steady_again(drill: Drill, timeout: float) -> SteadyReading:
    if drill.steady is None:
        raise SetupError("no steady state was declared (Given the steady state is ...)")
    state = drill.steady
    since = now().t

    def holds() -> SteadyReading | None:
        t = now().t
        # Only attempts made since we started waiting count: "again" means after the fault.
        r = reading(drill.history.events(), state, start=max(since, t - state.window_s), end=t)
        return r if r.holds and r.attempts >= 5 else None

    try:
        r = wait_until(holds, timeout=timeout, interval=0.2, what="the steady state to hold again")
    except WaitTimeout as exc:
        t = now().t
        last = reading(drill.history.events(), state, start=max(since, t - state.window_s), end=t)
        raise TargetMissed("steady state after recovery", f"{last.reason} after {timeout:g} s",
                           "holds again") from exc
    drill.history.note("steady_state.again", r.reason)
    return r


def require_fault_latency(drill: Drill, percentile: int, limit_s: float) -> float:
    """The write latency percentile over attempts made while a fault was active."""
    faults = drill.history.of(FaultEvent)
    injected = [f for f in faults if f.phase == "inject"]
    if not injected:
        raise SetupError("no fault was injected: there is no 'during the fault'")
    start = (injected[0].began or injected[0].at).t
    heals = [f for f in faults if f.phase == "heal" and f.at.t >= start]
    end = heals[-1].at.t if heals and not drill.faults.active else now().t
    ops = [o for o in drill.history.of(ProbeOp) if o.probe == "write" and start <= o.at.t <= end]
    if not ops:
        raise TargetMissed(f"p{percentile} write latency during the fault", "no write attempts", f"< {limit_s:g} s")
    # A failed or timed-out write counts with the time it took: the user waited that long.
    lat = sorted(o.end.t - o.at.t for o in ops)
    value = lat[min(len(lat) - 1, max(0, int(round(percentile / 100 * len(lat))) - 1))]
    drill.history.note("latency_during_fault", f"p{percentile} {value * 1000:.1f} ms over {len(ops)} writes")
    if value >= limit_s:
        raise TargetMissed(f"p{percentile} write latency during the fault", f"{value:.3f} s over {len(ops)} writes",
                           f"< {limit_s:g} s")
    return value
