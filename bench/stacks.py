"""The same drills on each HA stack: leader-kill RTO and the freeze drill's outcome.

    .venv/bin/python bench/stacks.py [--runs 3] [--only patroni-3.0.2,pgaf-bookworm] [--no-freeze]
                                     [--no-kill] [--freeze-runs 1]

Configurations (each a scenario generated here and run with ``harness run``, one pytest
process per run, so every run is a fresh topology):

- patroni-3.0.2: the bookworm stack's Debian Patroni; patroni-4.0.7: the trixie stack's;
  patroni-4.1-pypi: Patroni 4.1.x from PyPI on bookworm. Patroni at ttl 10, loop_wait 1,
  retry_timeout 3 for the kill; ttl 20, loop_wait 2, retry_timeout 5 for the freeze.
- pgaf-bookworm (pg_auto_failover 2.0) and pgaf-trixie (2.2): the monitor checks health every
  1 s and acts after 5 s of silence (pg_auto_failover's own default is 20 s).

The kill: ``docker kill`` of the leader, write RTO from the history (RTO v2). The freeze:
``docker pause`` of the leader for 30 s (Patroni) or 15 s (pg_auto_failover), then whether
the thawed leader took leadership back and how many acknowledged writes were lost. On
Patroni 3.0.2 that is a race (its HA loop against its own etcd watcher thread, both thawed at
once), so ``--freeze-runs N`` repeats the freeze and counts how often the lock came back.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]

PATRONI_KILL = ("Given a Patroni cluster with 3 nodes and a 1-member etcd\n"
                "    And Patroni is configured with ttl 10, loop_wait 1 and retry_timeout 3")
PATRONI_FREEZE = ("Given a Patroni cluster with 3 nodes and a 1-member etcd\n"
                  "    And Patroni is configured with ttl 20, loop_wait 2 and retry_timeout 5")
PGAF = "Given a pg_auto_failover cluster with 3 nodes"
CONFIGS: dict[str, tuple[str, str, str]] = {  # name -> (stack, Givens of the kill, Givens of the freeze)
    "patroni-3.0.2": ("bookworm", PATRONI_KILL, PATRONI_FREEZE),
    "patroni-4.0.7": ("trixie", PATRONI_KILL, PATRONI_FREEZE),
    "patroni-4.1-pypi": ("bookworm", PATRONI_KILL, PATRONI_FREEZE),
    "pgaf-bookworm": ("bookworm", PGAF, PGAF),
    "pgaf-trixie": ("trixie", PGAF, PGAF),
}


def feature(name: str, drill: str) -> str:
    stack, kill, freeze = CONFIGS[name]
    pypi = "\n    And Patroni 4.1 from PyPI" if "pypi" in name else ""
    given = (kill if drill == "kill" else freeze) + pypi
    pgaf = name.startswith("pgaf")
    if drill == "kill":
        body = ("    When I wait 1 seconds\n    And I kill the leader\n"
                "    Then a new leader is elected within 60 seconds\n")
    else:
        body = (f"    When I wait 1 seconds\n    And I freeze the leader for {15 if pgaf else 30} seconds\n"
                "    Then a new leader is elected within 60 seconds\n"
                "    And every node streams from one leader within 150 seconds\n")
    return (f"Feature: bench {name} {drill}\n\n  Scenario: {drill} on {name}\n"
            f'    Given the stack "{stack}"\n    And {given.removeprefix("Given ")}\n'
            "    And the fan-out write probe is running with a 60 seconds timeout\n"
            f"{body}    And the availability is at least 1 %\n")


def run_once(name: str, drill: str, tmp: Path, i: int) -> dict[str, Any]:
    f = tmp / f"{name}-{drill}.feature"
    f.write_text(feature(name, drill))
    run_id = f"bench-{name}-{drill}-{i}-{os.getpid()}"
    env = os.environ | {"HARNESS_RUN_ID": run_id, "HARNESS_REPORTS_DIR": str(tmp / "reports")}
    subprocess.run([sys.executable, "-m", "harness.cli", "run", str(f)], env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    path = tmp / "reports" / "runs" / run_id / "summary.json"
    if not path.exists():
        return {"status": "no summary"}
    s = json.loads(path.read_text())["scenarios"][0]
    journal = next((tmp / "reports" / "runs" / run_id).rglob("journal.jsonl"), None)
    took_back = None
    if journal is not None:
        from harness.checkers.takeback import took_back as tb
        from harness.history import History

        t = tb(History.load(journal).events())
        took_back = t.describe() if t is not None else None
    m = s.get("measurements") or {}
    return {"status": s["status"], "rto": m.get("rto_write_s"), "lost": m.get("rpo_lost_writes"),
            "ha_new_leader": m.get("ha_new_leader_s"), "took_back": took_back,
            "versions": (s.get("sections") or {}).get("versions"), "message": s.get("message", "")[:200]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(CONFIGS))
    ap.add_argument("--no-freeze", action="store_true")
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--freeze-runs", type=int, default=1)
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    console = Console(width=160)
    kill_rows, freeze_rows = [], []
    with tempfile.TemporaryDirectory(prefix="bench-stacks-", dir=REPO / "reports") as tmpd:
        tmp = Path(tmpd)
        for name in names:
            runs = [] if args.no_kill else [run_once(name, "kill", tmp, i) for i in range(args.runs)]
            rtos = [r["rto"] for r in runs if r.get("rto") is not None]
            v = next((r["versions"] for r in runs if r.get("versions")), None) or {}
            if runs:
                kill_rows.append((name, f"{v.get('postgresql', '?')} / {v.get('patroni', '?')} / "
                                    f"{v.get('pg_auto_failover', '?')}",
                                  ", ".join(f"{x:.2f}" for x in rtos) or "-",
                                  f"{statistics.median(rtos):.2f}" if rtos else "-",
                                  ", ".join(str(r.get("lost")) for r in runs),
                                  ", ".join(r["status"] for r in runs)))
                console.print(f"kill {name}: {runs}")
            if not args.no_freeze:
                frozen = [run_once(name, "freeze", tmp, i) for i in range(args.freeze_runs)]
                for r in frozen:
                    console.print(f"freeze {name}: {r}")
                back = sum(1 for r in frozen if r.get("took_back"))
                freeze_rows.append((name, ", ".join(r["status"] for r in frozen), f"{back} of {len(frozen)}",
                                    ", ".join(str(r.get("lost")) for r in frozen),
                                    ", ".join(f"{r['rto']:.2f}" if r.get("rto") is not None else "-" for r in frozen),
                                    next((r["took_back"] for r in frozen if r.get("took_back")), None)
                                    or frozen[0].get("message") or ""))
    t = Table(title=f"leader kill ({args.runs} runs each): write RTO")
    for c in ("config", "PostgreSQL / Patroni / pg_auto_failover", "write RTO s (each)", "median s", "lost writes",
              "status"):
        t.add_column(c, overflow="fold")
    for row in kill_rows:
        t.add_row(*row)
    if kill_rows:
        console.print(t)
    if freeze_rows:
        f = Table(title="freeze drill (Patroni: 30 s at ttl 20; pg_auto_failover: 15 s, unhealthy after 5 s)")
        for c in ("config", "status", "took leadership back", "lost writes", "write RTO s", "detail"):
            f.add_column(c, overflow="fold", max_width=70 if c == "detail" else None)
        for row in freeze_rows:
            f.add_row(*row)
        console.print(f)


if __name__ == "__main__":
    main()
