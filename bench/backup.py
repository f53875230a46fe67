"""Backup and restore figures for a database of a stated size (a benchmark, not a test: it prints a table).

    .venv/bin/python bench/backup.py [--scale 70] [--compress gz] [--tool pgbackrest|basebackup]

One primary (no volumes: the database does not fit the default 256 MB data volume), archiving
into a pgBackRest repository; ``pgbench -i -s SCALE`` (70 is about 1 GB); then, each timed
by the history and sized by ``pgbackrest info``: a full backup; an incremental one right after
it with no write in between (what it copies tells whether an idle database's files changed:
the "incremental copies the whole database" curiosity); the same after a CHECKPOINT; after
1000 pgbench transactions; after a VACUUM; a differential one; then a restore of the latest
backup into a fresh node (fetch, replay, verification) and ``pgbackrest verify``. The numbers
come from :func:`harness.checkers.backup.backup_measures` over the drill's history.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.backup.pgbackrest import Backup
from harness.backup.restore import RecoveryTarget
from harness.backup.session import BackupSession
from harness.checkers.backup import BACKUP_ACTIONS, backup_measures
from harness.drill import Drill
from harness.environment import VolumeSettings, default_environment
from harness.history import ActionEvent, now
from harness.images import build_images
from harness.labels import new_run_id
from harness.topology.pg import sql, sql_one


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=70)
    ap.add_argument("--compress", default="gz", choices=["gz", "lz4", "zst", "bz2", "none"])
    ap.add_argument("--tool", default="pgbackrest", choices=["pgbackrest", "basebackup"])
    args = ap.parse_args()
    build_images()
    env = default_environment()
    env = env.model_copy(update={"volumes": VolumeSettings(enabled=False),
                                 "backup": env.backup.model_copy(update={"compress_type": args.compress})})
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        d = Drill("bench-" + new_run_id(), "bk", Path(tmp) / "drill", env=env)
        d.configure(replicas=0)
        try:
            s = BackupSession.of(d)
            s.enable(tool=args.tool)
            s.prepare()  # the stanza first: WAL of the load is archived as it is written
            c = d.cluster
            primary = c.node(c.primary)
            addr = c.address(c.primary)
            t0 = now()
            res = primary.exec(["pgbench", "-i", "-q", "-s", str(args.scale), "postgres"], timeout=1800)
            d.history.add(ActionEvent(at=t0, end=now(), action="bench.pgbench_init", target=c.primary,
                                      outcome="ok" if res.exit_code == 0 else "failed", detail=res.output[-400:]))
            if res.exit_code != 0:
                raise SystemExit(f"pgbench -i failed: {res.output[-800:]}")
            db_bytes = int(sql_one(addr, "SELECT pg_database_size('postgres')"))
            init_s = now().t - t0.t
            rows: list[tuple[str, Backup | None]] = []
            rows.append(("full", s.backup("full")))
            if args.tool == "pgbackrest":
                rows.append(("incr, no write since the full", s.backup("incr")))
                sql(addr, "CHECKPOINT")
                rows.append(("incr after a CHECKPOINT", s.backup("incr")))
                res = primary.exec(["pgbench", "-n", "-t", "1000", "postgres"], timeout=600)
                rows.append(("incr after 1000 pgbench transactions", s.backup("incr")))
                sql(addr, "VACUUM")
                rows.append(("incr after a VACUUM", s.backup("incr")))
                rows.append(("diff", s.backup("diff")))
            r = s.restore(RecoveryTarget("latest"))
            t0 = now()
            ok, _ = s.verify_ok()
            verify_s = now().t - t0.t
            m = backup_measures(d.history.events())
        finally:
            d.close()
    assert m is not None
    durations = [a.end.t - a.at.t for a in d.history.of(ActionEvent) if a.action in BACKUP_ACTIONS]
    tool = f"pgBackRest 2.45, compress {args.compress}" if args.tool == "pgbackrest" else "pg_basebackup (plain)"
    table = Table(title=f"{tool}, PostgreSQL 15, pgbench -s {args.scale}: database {_mb(db_bytes)} MB "
                        f"(pgbench -i {init_s:.1f} s)")
    for col in ("step", "seconds", "database MB", "copied MB (delta)", "stored MB (repo delta)"):
        table.add_column(col)
    for (what, b), secs in zip(rows, durations, strict=True):
        if b is None:
            table.add_row(what, f"{secs:.1f}", "failed", "", "")
        else:
            table.add_row(what, f"{secs:.1f}", _mb(b.size), _mb(b.delta), _mb(b.repo_delta))
    rest = m.restores[-1] if m.restores else None
    if rest is not None:
        table.add_row("restore latest: RTO (decision to writable)", f"{rest.rto_s or 0:.1f}", "", "", "")
        table.add_row("  fetch (pgbackrest restore, or copy)", f"{rest.fetch_s or 0:.1f}", "", "", "")
        table.add_row("  WAL replay and promotion", f"{rest.replay_s or 0:.1f}", "", "", "")
        table.add_row("  verification (rows, pg_amcheck, verify)", f"{rest.verify_s or 0:.1f}", "", "", "")
        table.add_row("  lost writes / restore ok", f"{rest.lost_writes} / {r.ok}", "", "", "")
    table.add_row("verify (pgbackrest verify / pg_verifybackup, whole repository)", f"{verify_s:.1f}", "", "", f"ok={ok}")
    console.print(table)
    print(json.dumps({"database_bytes": db_bytes, "backups": m.model_dump()}, default=str)[:4000])


if __name__ == "__main__":
    main()
