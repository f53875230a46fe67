"""``harness trend``: each scenario's numbers over the recorded runs, and regressions.

Reads ``reports/runs/*/summary.json``, prints a table (the last N values of every number of
every scenario, the band and the verdict of the newest run), writes ``trend.png``/``.svg``
and ``trend.json`` into the newest run's folder and a "Trend across runs" result into its
allure-results. ``--fail-on-regression`` exits 1 when the newest run regressed (nightly CI).
The rule is :mod:`harness.checkers.trend`'s.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.checkers.trend import METRICS, TrendPoint, TrendVerdict, judge
from harness.report.runs import load_points

__all__ = ["register", "trend_table"]


def _v(v: float | None, unit: str) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3g}" + (f" {unit}" if unit else "")


def trend_table(points: list[TrendPoint], verdicts: list[TrendVerdict], last: int) -> Table:
    t = Table(title=f"trend over the recorded runs (last {last} values; newest last)")
    for col in ("scenario", "number", f"values (last {last})", "median", "band up to", "newest", "verdict"):
        t.add_column(col)
    for v in verdicts:
        label, unit, _ = METRICS[v.metric]
        series = [p.values[v.metric] for p in points if p.scenario == v.scenario and v.metric in p.values]
        shown = ", ".join("n/a" if x is None else f"{x:.3g}" for x in series[-last - 1:])
        style = {"regressed": "bold red", "ok": "green"}.get(v.state, "yellow")
        t.add_row(v.scenario[:48], label, shown, _v(v.median, unit), _v(v.upper, unit), _v(v.newest, unit),
                  Text(v.state, style=style))
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def trend(
        scenario: Annotated[str | None, typer.Option(help="only scenarios whose name contains this")] = None,
        last: Annotated[int, typer.Option(min=1, help="judge the newest run against this many runs before it")] = 10,
        fail_on_regression: Annotated[bool, typer.Option(help="exit 1 when the newest run regressed")] = False,
        runs_dir: Annotated[Path | None, typer.Option(help="folder of runs (default: the project's reports/runs)")] = None,
    ) -> None:
        """Each scenario's RTO, downtime, lost writes, detection and restore time across runs; regressions."""
        console = Console()
        from harness.project import reports_dir

        folder = runs_dir or reports_dir() / "runs"
        points = load_points(folder, scenario)
        if not points:
            Console(stderr=True).print(f"[bold red]error:[/] no run's summary.json under {folder}"
                                       + (f" has a scenario matching {scenario!r}" if scenario else ""))
            raise typer.Exit(2)
        verdicts = judge(points, last=last)
        table = trend_table(points, verdicts, last)
        console.print(table)
        newest = folder / max(points, key=lambda p: (p.started, p.run_id)).run_id
        from harness.report.trend import attach_to_allure, plot_trend

        charts = plot_trend(points, verdicts, newest)
        (newest / "trend.json").write_text(json.dumps([v.model_dump() for v in verdicts], indent=2) + "\n")
        text_console = Console(record=True, width=160, file=io.StringIO())
        text_console.print(table)
        attach_to_allure(newest / "allure-results", charts[0], text_console.export_text(), verdicts)
        console.print(f"chart: {charts[0]} (and .svg)")
        regressed = [v for v in verdicts if v.state == "regressed"]
        for v in regressed:
            console.print(f"[bold red]regression[/] {v.scenario}: {v.reason}")
        if not regressed:
            console.print("no regression against the recent runs")
        if fail_on_regression and regressed:
            raise typer.Exit(1)
