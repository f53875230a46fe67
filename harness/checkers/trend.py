"""Each scenario's numbers across runs, and whether the newest run regressed.

The series come from the runs' ``summary.json`` files (read by :mod:`harness.report.runs`), one
point per run and scenario, in the order the runs started. The tolerance rule, per scenario
and number (all of them are "higher is worse"):

    baseline = the up to ``last`` values before the newest (at least ``min_baseline`` of them)
    band     = median(baseline) + max(3 × MAD(baseline), 20 % of the median, floor)
    regressed when the newest value is above the band, or is unknown (None: the service never
    came back, nothing detected it) where the baseline had values

MAD is the median absolute deviation; ``floor`` is 0.25 s for times (the outage threshold:
less is no outage) and 1 for counts of lost writes, so a quiet baseline (MAD 0) does not turn
noise into a regression. Pure over the points; fewer baseline values than ``min_baseline``
give "not enough runs", never a verdict.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["METRICS", "TrendPoint", "TrendVerdict", "judge"]

# number -> (label, unit, floor)
METRICS: dict[str, tuple[str, str, float]] = {
    "rto_write_s": ("write RTO", "s", 0.25),
    "downtime_s": ("downtime", "s", 0.25),
    "rpo_lost_writes": ("lost writes", "", 1.0),
    "detection_s": ("detection", "s", 0.25),
    "restore_s": ("restore time", "s", 0.25),
}


class TrendPoint(BaseModel):
    model_config = ConfigDict(frozen=True)
    run_id: str
    started: str
    scenario: str
    status: str
    values: dict[str, float | None]  # METRICS keys present in that run's result


class TrendVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)
    scenario: str
    metric: str
    newest: float | None
    newest_run: str
    baseline: list[float]
    median: float | None
    upper: float | None
    state: Literal["ok", "regressed", "not enough runs"]
    reason: str


def _band(baseline: Sequence[float], floor: float) -> tuple[float, float]:
    med = statistics.median(baseline)
    mad = statistics.median(abs(x - med) for x in baseline)
    return med, med + max(3 * mad, 0.2 * abs(med), floor)


def judge(points: Iterable[TrendPoint], *, last: int = 10, min_baseline: int = 3) -> list[TrendVerdict]:
    """A verdict per scenario and number on its newest run against the ``last`` runs before it."""
    by_scenario: dict[str, list[TrendPoint]] = {}
    for p in points:
        by_scenario.setdefault(p.scenario, []).append(p)
    out: list[TrendVerdict] = []
    for scenario, pts in by_scenario.items():
        for metric, (label, unit, floor) in METRICS.items():
            series = [p for p in pts if metric in p.values]
            if not series:
                continue
            newest = series[-1]
            value = newest.values[metric]
            baseline = [v for p in series[:-1][-last:] if (v := p.values[metric]) is not None]
            u = f" {unit}" if unit else ""
            if len(baseline) < min_baseline:
                out.append(TrendVerdict(scenario=scenario, metric=metric, newest=value, newest_run=newest.run_id,
                                        baseline=baseline, median=None, upper=None, state="not enough runs",
                                        reason=f"{len(baseline)} earlier runs with a {label}, {min_baseline} needed"))
                continue
            med, upper = _band(baseline, floor)
            state: Literal["ok", "regressed"]
            if value is None:
                state, reason = "regressed", f"{label} unknown in the newest run (median {med:.3g}{u} before)"
            elif value > upper:
                state, reason = "regressed", (f"{label} {value:.3g}{u} is above the band {upper:.3g}{u} "
                                              f"(median {med:.3g}{u} of {len(baseline)} runs)")
            else:
                state, reason = "ok", f"{label} {value:.3g}{u} within the band {upper:.3g}{u}"
            out.append(TrendVerdict(scenario=scenario, metric=metric, newest=value, newest_run=newest.run_id,
                                    baseline=baseline, median=med, upper=upper, state=state, reason=reason))
    return out
