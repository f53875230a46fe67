"""The run's headline, for the first page of the Allure report and the trend.

One line from the run's summary.json: how many scenarios (and how many passed), the worst
write RTO, the acknowledged writes lost, the error budget used (downtime over the SLO
period's budget, when the run measured it), the maturity level the scorecard gives, and the
regressions ``harness trend``'s rule finds for this run against the runs before it, and
what the run cost (CPU seconds and bytes written by its containers, summary.json's ``cost``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.checkers.trend import judge
from harness.cost import run_cost
from harness.report.runs import load_points
from harness.report.summary import scorecard

__all__ = ["headline", "run_headline"]


def _max(values: Sequence[Any]) -> float | None:
    known = [float(v) for v in values if isinstance(v, int | float)]
    return max(known) if known else None


def headline(scenarios: Sequence[Mapping[str, Any]], regressions: int | None) -> str:
    ms = [s.get("measurements") or {} for s in scenarios]
    passed = sum(1 for s in scenarios if s.get("status") == "passed")
    rto = _max([m.get("rto_write_s") for m in ms])
    lost = [int(m["rpo_lost_writes"]) for m in ms if isinstance(m.get("rpo_lost_writes"), int)]
    budget = [float(m["error_budget_used"]) for m in ms if isinstance(m.get("error_budget_used"), int | float)]
    level, _ = scorecard(scenarios)
    parts = [
        f"{len(scenarios)} scenarios, {passed} passed",
        "worst write RTO " + ("n/a" if rto is None else f"{rto:.2f} s"),
        ("lost writes n/a" if not lost else f"{sum(lost)} acknowledged writes lost"),
        "error budget " + ("n/a" if not budget else f"{sum(budget) * 100:.2f} % used"),
        f"maturity level {level}",
        "regressions n/a" if regressions is None else
        ("no regression" if regressions == 0 else f"{regressions} regression{'s' * (regressions > 1)}"),
    ]
    cost = run_cost(scenarios)
    if cost is not None:
        parts.append("cost " + ("n/a" if cost.cpu_s is None else f"{cost.cpu_s:.1f} CPU s") + ", "
                     + ("n/a" if cost.written_mb is None else f"{cost.written_mb:.0f} MB written"))
    return " · ".join(parts)


def run_headline(run_dir: Path) -> str | None:
    """The headline of ``run_dir`` (None without a summary.json); regressions against the runs beside it."""
    try:
        data = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    points = load_points(run_dir.parent)
    verdicts = [v for v in judge(points) if v.newest_run == str(data.get("run_id") or run_dir.name)]
    judged = [v for v in verdicts if v.state != "not enough runs"]
    regressions = sum(1 for v in judged if v.state == "regressed") if judged else None
    return headline(list(data.get("scenarios") or []), regressions)
