"""The same accidental DROP recovered twice: from a delayed replica, and by PITR from the backup.

    .venv/bin/python bench/delayed_replica.py [--rows 100000] [--delay "5 minutes"] [--runs 1]

One primary, one ordinary replica and one that applies WAL ``--delay`` late, archiving into a
pgBackRest repository; a full backup; a table of ``--rows`` rows; the probe writing every 50 ms;
then ``DROP TABLE`` and, on that same drop, first the recovery from the delayed replica
(:mod:`harness.replicas.delayed`: pause replay, roll forward to just before the drop, pg_dump
-t, pg_restore into the primary, resume), then a point-in-time restore of the backup to a new
node, to just before the drop. Both are timed from their own decision to the table being
readable (on the primary, for the delayed replica; on the restored side node, for PITR, which
would still have to copy it back), and from the drop itself; the phases of each are listed.
Nobody waits out the delay. Numbers come from :mod:`harness.replicas.measure` over the history.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.backup.session import BackupSession
from harness.drill import Drill
from harness.environment import default_environment
from harness.faults.postgres import DropTable, create_table
from harness.images import build_images
from harness.labels import new_run_id
from harness.replicas.delayed import recover_table
from harness.replicas.measure import PhasedRecovery, delayed_recovery, pitr_recovery
from harness.steps.replicas import set_replica
from harness.topology.pg import sql_one


def _one(rows: int, delay: str, tmp: Path, i: int) -> tuple[PhasedRecovery, PhasedRecovery, int]:
    d = Drill("bench-" + new_run_id(), f"dr{i}", tmp / f"drill{i}", env=default_environment())
    d.configure(replicas=2)
    set_replica(d, 2, apply_delay=delay)
    try:
        s = BackupSession.of(d)
        s.enable()
        s.prepare()
        create_table(d.cluster, "orders", rows)
        s.backup("full")
        d.start_probes(0.05)
        d.wait(1)
        d.apply(DropTable(d.cluster, d.cluster.primary, "orders"))
        got = recover_table(d.cluster, "orders")
        back = int(sql_one(d.cluster.address(d.cluster.primary), "SELECT count(*) FROM orders"))
        assert back == rows == got.rows, (back, rows, got.rows)
        s.restore(s.before_drop())
        r = s.last_restore()
        assert r.ok, r.problems
        dr, pitr = delayed_recovery(d.history), pitr_recovery(d.history)
        assert dr is not None and pitr is not None
        return dr, pitr, back
    finally:
        d.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--delay", default="5 minutes")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    build_images()
    console = Console(width=200)
    table = Table(title=f"accidental DROP of a {args.rows}-row table: delayed replica ({args.delay} late) vs PITR")
    for col in ("run", "how", "decision to table back", "drop to table back", "phases", "rows back"):
        table.add_column(col)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            dr, pitr, rows = _one(args.rows, args.delay, Path(tmp), i)
            for r in (dr, pitr):
                where = "on the primary" if r is dr else "on a side node"
                # PITR runs second: its time from the drop includes the delayed recovery before it.
                since = f"{r.from_drop_s:.2f} s" + ("" if r is dr else " (after the delayed recovery)")
                table.add_row(str(i + 1), r.how, f"{r.total_s:.2f} s ({where})", since,
                              r.phases_text(), str(rows) if r is dr else "(restored node verified)")
    console.print(table)


if __name__ == "__main__":
    main()
