"""Availability in time: 1 − downtime / window length, and the share of the error budget used.

Downtime is the total length of the write outages in the drill window
(:mod:`harness.checkers.outages`), so 120 ms of latency on every write is full availability
and a 0.8 s freeze in a 10 s window is 92 %, not a count of probe intervals.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.outages import outage_threshold, outages
from harness.checkers.verdict import Status
from harness.checkers.window import WINDOW_END, WINDOW_START
from harness.history import Event, History

__all__ = ["DEFAULT_SLO", "DEFAULT_SLO_PERIOD_S", "WINDOW_END", "WINDOW_START", "AvailabilityResult",
           "availability", "error_budget_s"]

DEFAULT_SLO = 0.999
DEFAULT_SLO_PERIOD_S = 30 * 86400.0


def error_budget_s(slo: float, period_s: float) -> float:
    """The downtime an SLO allows over its period: 99.9 % of 30 days is 2592 s."""
    return (1 - slo) * period_s


class AvailabilityResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    value: float | None  # 1 - downtime / window
    downtime_s: float | None
    window_s: float | None
    threshold_s: float
    status: Status
    reason: str


def availability(history: History | Iterable[Event], interval_s: float, *,
                 threshold_s: float | None = None) -> AvailabilityResult:
    threshold = outage_threshold(threshold_s, interval_s)
    found = outages(history, "write", threshold_s=threshold)
    if found.downtime_s is None or not found.window_s:
        return AvailabilityResult(value=None, downtime_s=None, window_s=found.window_s, threshold_s=threshold,
                                  status="unknown", reason=found.reason)
    value = max(0.0, 1 - found.downtime_s / found.window_s)
    return AvailabilityResult(value=value, downtime_s=found.downtime_s, window_s=found.window_s,
                              threshold_s=threshold, status="valid",
                              reason=f"{found.downtime_s:.3f} s of outage in a {found.window_s:.3f} s window "
                                     f"({found.reason})")
