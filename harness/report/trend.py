"""The trend's chart (PNG and SVG) and its Allure attachment.

One panel per number, one line per scenario over the runs (oldest left), the band of the
newest verdict shaded, a regressed newest value marked. ``attach_to_allure`` adds a result
named "Trend across runs" to a run's allure-results (failed when something regressed), with
the chart and the table attached, so the morning-after report shows it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from harness.checkers.trend import METRICS, TrendPoint, TrendVerdict  # noqa: E402

__all__ = ["attach_to_allure", "plot_trend"]


def plot_trend(points: Sequence[TrendPoint], verdicts: Sequence[TrendVerdict], out_dir: Path) -> list[Path]:
    """trend.png and trend.svg in ``out_dir``; the numbers no run measured get no panel."""
    metrics = [m for m in METRICS if any(m in p.values for p in points)]
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(max(1, len(metrics)), 1, figsize=(10, 2.4 * max(1, len(metrics))), squeeze=False,
                             sharex=True)
    runs = sorted({(p.started, p.run_id) for p in points})
    index = {r[1]: i for i, r in enumerate(runs)}
    scenarios = sorted({p.scenario for p in points})
    for ax, metric in zip(axes[:, 0], metrics, strict=False):
        label, unit, _ = METRICS[metric]
        for scenario in scenarios:
            pts = [(index[p.run_id], p.values[metric]) for p in points if p.scenario == scenario and metric in p.values]
            xs = [x for x, v in pts if v is not None]
            ys = [v for _, v in pts if v is not None]
            if not xs:
                continue
            (line,) = ax.plot(xs, ys, "o-", ms=3, lw=1, label=scenario[:50])
            v = next((v for v in verdicts if v.scenario == scenario and v.metric == metric), None)
            if v is not None and v.upper is not None and v.median is not None:
                ax.axhspan(0, v.upper, color=line.get_color(), alpha=0.07)
                if v.state == "regressed" and v.newest is not None:
                    ax.plot([index[v.newest_run]], [v.newest], "x", color="#d62828", ms=10, mew=2)
        ax.set_ylabel(f"{label}" + (f" ({unit})" if unit else ""))
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("run (oldest left)")
    axes[-1, 0].set_xticks(range(len(runs)), [r[1][-13:] for r in runs], rotation=30, fontsize=7)
    if scenarios:
        axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("trend across runs: shaded = the band the newest run is judged against, x = regression")
    fig.tight_layout()
    paths = [out_dir / "trend.png", out_dir / "trend.svg"]
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths


def attach_to_allure(results_dir: Path, chart: Path, table_text: str, verdicts: Sequence[TrendVerdict]) -> Path:
    """A "Trend across runs" result in ``results_dir`` with the chart and the table attached."""
    results_dir.mkdir(parents=True, exist_ok=True)
    regressed = [v for v in verdicts if v.state == "regressed"]
    chart_src = f"{uuid.uuid4()}-attachment{chart.suffix}"
    (results_dir / chart_src).write_bytes(chart.read_bytes())
    table_src = f"{uuid.uuid4()}-attachment.txt"
    (results_dir / table_src).write_text(table_text)
    now_ms = int(time.time() * 1000)
    rid = str(uuid.uuid4())
    result = {
        "uuid": rid, "historyId": "pgharness-trend", "testCaseId": "pgharness-trend",
        "name": "Trend across runs", "fullName": "harness trend",
        "status": "failed" if regressed else "passed", "stage": "finished", "start": now_ms, "stop": now_ms,
        "statusDetails": {"message": "; ".join(f"{v.scenario}: {v.reason}" for v in regressed) or
                          "no regression against the recent runs"},
        "labels": [{"name": "suite", "value": "Trend"}, {"name": "feature", "value": "Trend across runs"}],
        "attachments": [{"name": "trend chart", "source": chart_src, "type": "image/png"},
                        {"name": "trend table", "source": table_src, "type": "text/plain"}],
    }
    path = results_dir / f"{rid}-result.json"
    path.write_text(json.dumps(result, indent=2))
    return path
