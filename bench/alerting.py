"""Detection time of "database down" after a kill, with real Prometheus and Alertmanager.

    .venv/bin/python bench/alerting.py [--runs 5] [--scrape-s 1] [--eval-s 1] [--group-wait-s 0.1]

Each run: a fresh 1 primary + 2 replica cluster watched by the monitoring container (one
postgres_exporter per node, Prometheus, Alertmanager with the harness's webhook receiver),
the write probe every 50 ms, then the primary's container is killed. The detection time, from
the fault's ``began`` to the receipt of Alertmanager's notice, is split into scrape and
evaluation (until Prometheus's ``activeAt``), the rule's ``for:`` (until ``startsAt``) and
the delivery (until the receiver had it): :func:`harness.checkers.alerting.detection_split`.
A benchmark, not a test: it prints a table. Also how long the monitoring container takes to
be ready (every exporter scraped and reporting its node up).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.checkers.alerting import DetectionSplit, detection_split
from harness.drill import Drill
from harness.environment import PrometheusSettings
from harness.history import Note
from harness.images import build_images
from harness.labels import new_run_id
from harness.monitor.expect import expect_alert


def _row(name: str, xs: list[float]) -> tuple[str, ...]:
    xs = sorted(xs)
    return (name, f"{statistics.median(xs):.2f}", f"{xs[0]:.2f}", f"{xs[-1]:.2f}", str(len(xs)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scrape-s", type=float, default=1.0)
    ap.add_argument("--eval-s", type=float, default=1.0)
    ap.add_argument("--group-wait-s", type=float, default=0.1)
    args = ap.parse_args()
    build_images()
    settings = PrometheusSettings(scrape_interval_s=args.scrape_s, evaluation_interval_s=args.eval_s,
                                  group_wait_s=args.group_wait_s)
    run_id = "bench-" + new_run_id()
    splits: list[DetectionSplit] = []
    ready: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            d = Drill(run_id, f"a{i}", Path(tmp) / f"a{i}")
            try:
                env = d.env
                d.env = env.model_copy(update={"monitor": env.monitor.model_copy(update={"prometheus": settings})})
                _ = d.cluster
                t0 = time.monotonic()
                d.start_probes(0.05)
                ready.append(next(n.at.t for n in d.history.of(Note) if n.name == "monitor.prometheus") - t0)
                time.sleep(2)
                d.inject("kill", "the primary")
                expect_alert(d, "database down", 30, "critical")
                split = detection_split(d.history)
                assert split is not None
                splits.append(split)
                print(f"run {i + 1}: {split.describe()}")
            finally:
                d.close()
    t = Table(title=f"'database down' after a kill: scrape {args.scrape_s:g} s, evaluation {args.eval_s:g} s, "
                    f"group_wait {args.group_wait_s:g} s (seconds)")
    for col in ("part", "median", "min", "max", "runs"):
        t.add_column(col)
    t.add_row(*_row("detection (fault began → received)", [s.total_s for s in splits]))
    t.add_row(*_row("  scrape and evaluation (→ activeAt)", [s.scrape_s or 0 for s in splits]))
    t.add_row(*_row("  rule for: (→ startsAt)", [s.for_s or 0 for s in splits]))
    t.add_row(*_row("  delivery (→ webhook)", [s.delivery_s for s in splits]))
    t.add_row(*_row("monitoring container ready", ready))
    Console().print(t)


if __name__ == "__main__":
    main()
