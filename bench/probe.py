"""Write-probe capacity and resolution on this machine (a benchmark: it prints a table).

    .venv/bin/python bench/probe.py [--seconds 5] [--intervals 50,20,10,5,2]

For each probe interval, on a 1 primary + 1 async replica cluster: how many writes were
acknowledged per second against the schedule's rate, how many ticks were missed, the
attempt latency, and how late attempts started against their slot. Then, at the finest
intervals that kept up, the resolution that matters: the primary frozen for a known time
(no failover), and the write RTO the checker reports against that truth: from the freeze
taking effect to the first answer a fresh client (outside the probe) gets after the thaw.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.checkers import measure
from harness.drill import Drill
from harness.faults.freeze import PauseNode
from harness.history import FaultEvent, ProbeOp
from harness.images import build_images
from harness.labels import new_run_id
from harness.topology.pg import first_answer


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def capacity(d: Drill, interval_s: float, seconds: float) -> tuple[str, ...]:
    d.start_probes(interval_s, reads=False)
    time.sleep(seconds)
    probe = d.write_probe
    assert probe is not None
    probe.stop()
    mine = [o for o in d.history.of(ProbeOp) if o.probe == "write"]
    ok = [o for o in mine if o.outcome == "ok"]
    span = (mine[-1].end.t - mine[0].at.t) if mine else 0.0
    expected = span / interval_s + 1
    lat = [(o.end.t - o.at.t) * 1000 for o in ok]
    first = mine[0].at.t if mine else 0.0
    late = [((o.at.t - first) - round((o.at.t - first) / interval_s) * interval_s) * 1000 for o in mine]
    return (f"{interval_s * 1000:g}", f"{1 / interval_s:.0f}", f"{len(ok) / span:.1f}" if span else "-",
            f"{max(0.0, 1 - len(mine) / expected) * 100:.1f} %", f"{len(mine) - len(ok)}",
            f"{statistics.median(lat):.2f}" if lat else "-", f"{_pct(lat, 0.99):.2f}" if lat else "-",
            f"{_pct([abs(x) for x in late], 0.99):.2f}" if late else "-")


def resolution(d: Drill, interval_s: float, freeze_s: float) -> tuple[str, ...]:
    d.start_probes(interval_s, reads=False)
    time.sleep(1.0)
    primary = d.target("the primary")
    address = d.cluster.address(primary)
    fault = d.apply(PauseNode(d.cluster, primary))
    time.sleep(freeze_s)
    d.faults.heal(fault)
    served = first_answer(address)  # a fresh client outside the probe: when service is back
    time.sleep(1.5)
    m = measure(d.history, interval_s)
    faults = [f for f in d.history.of(FaultEvent) if f.fault == fault.name] or d.history.of(FaultEvent)
    inject = next(f for f in faults if f.phase == "inject")
    heal = next(f for f in faults if f.phase == "heal")
    assert inject.began is not None and heal.began is not None
    shortest, longest = heal.began.t - inject.at.t, served - inject.began.t
    rto = m.rto_write_s if m.rto_write_s is not None else float("nan")
    # Outside [shortest, longest]: below means the checker saw service before the thaw (an
    # error); above includes the first write's own reconnect after the thaw (real, client-seen).
    err = 0.0 if shortest <= rto <= longest else (rto - longest if rto > longest else rto - shortest)
    return (f"{interval_s * 1000:g}", f"{freeze_s:g}", f"{shortest:.3f}–{longest:.3f}", f"{rto:.3f}",
            f"{err * 1000:+.1f}", "yes" if abs(err) <= interval_s else "no")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--intervals", default="50,20,10,5,2")
    ap.add_argument("--freeze", type=float, default=2.0)
    args = ap.parse_args()
    intervals = [float(x) / 1000 for x in args.intervals.split(",")]
    build_images()
    run_id = "bench-" + new_run_id()
    cap = Table(title=f"write probe capacity, {args.seconds:g} s per interval, 1 primary + 1 async replica")
    for col in ("interval ms", "scheduled/s", "acked/s", "missed ticks", "failed", "latency p50 ms",
                "latency p99 ms", "start offset p99 ms"):
        cap.add_column(col)
    res = Table(title=f"resolution: primary frozen {args.freeze:g} s, no failover (seconds)")
    for col in ("interval ms", "freeze s", "true outage", "write RTO", "outside outage ms", "within 1 interval"):
        res.add_column(col)
    def on_a_fresh_cluster(scope: str, measure_it: Callable[[Drill], tuple[str, ...]]) -> tuple[str, ...]:
        # A drill each: every probe numbers its writes from 1, and a freeze leaves nothing behind.
        d = Drill(run_id, scope, Path(tmp) / scope)
        try:
            d.configure(replicas=1, replication="async")
            return measure_it(d)
        finally:
            d.close()

    with tempfile.TemporaryDirectory() as tmp:
        for i, iv in enumerate(intervals):
            cap.add_row(*on_a_fresh_cluster(f"cap{i}", lambda d, iv=iv: capacity(d, iv, args.seconds)))
        for i, iv in enumerate(iv for iv in intervals if iv <= 0.02):
            res.add_row(*on_a_fresh_cluster(f"res{i}", lambda d, iv=iv: resolution(d, iv, args.freeze)))
    console = Console(width=150)
    console.print(cap)
    console.print(res)


if __name__ == "__main__":
    main()
