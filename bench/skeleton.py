"""Speed of the walking skeleton on this machine (a benchmark, not a test: it prints a table).

    .venv/bin/python bench/skeleton.py [--runs 10] [--interval-ms 50]

Measures, with a warm node image: time from nothing to 1 primary + 2 replicas streaming,
teardown time, and the harness-driven failover write RTO (kill the primary, promote the
most advanced replica) over repeated kills, as the checkers compute it from each history.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.drill import Drill
from harness.history import ActionEvent
from harness.images import build_images
from harness.labels import new_run_id


def _stats(xs: list[float]) -> tuple[str, str, str, str, str]:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return (f"{statistics.median(xs):.3f}", f"{p90:.3f}", f"{xs[0]:.3f}", f"{xs[-1]:.3f}", str(len(xs)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--interval-ms", type=float, default=50)
    args = ap.parse_args()
    build_images()
    run_id = "bench-" + new_run_id()
    starts: list[float] = []
    teardowns: list[float] = []
    rtos: list[float] = []
    failovers: list[float] = []
    lost: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            d = Drill(run_id, f"b{i:02d}", Path(tmp) / f"r{i}")
            d.configure(replicas=2, replication="async")
            t0 = time.monotonic()
            try:
                d.cluster  # noqa: B018 - starts the topology
                starts.append(time.monotonic() - t0)
                d.start_probes(args.interval_ms / 1000)
                time.sleep(1.0)
                d.inject("kill", "the primary")
                d.failover()
                m = d.measurements()
                if m.rto_write_s is not None:
                    rtos.append(m.rto_write_s)
                lost.append(m.rpo_lost_writes or 0)
                for a in d.history.of(ActionEvent):
                    if a.action == "failover":
                        failovers.append(a.end.t - a.at.t)
                        if a.end.t - a.at.t > 0.5:
                            print(f"slow failover in run {i}: {a.detail}")
            finally:
                d.history.close()
                t1 = time.monotonic()
                d.close()
                teardowns.append(time.monotonic() - t1)
    table = Table(title=f"walking skeleton, {args.runs} runs, probe every {args.interval_ms:g} ms (seconds)")
    for col in ("measure", "median", "p90", "min", "max", "n"):
        table.add_column(col)
    table.add_row("start: nothing → 1 primary + 2 replicas streaming", *_stats(starts))
    table.add_row("teardown (3 containers + network)", *_stats(teardowns))
    table.add_row("failover action (query LSNs, promote, repoint)", *_stats(failovers))
    table.add_row("write RTO after kill (harness failover)", *_stats(rtos))
    Console(width=140).print(table)
    print(f"lost acknowledged writes per run: {lost}")


if __name__ == "__main__":
    main()
