"""Write RTO through each client path beside the ideal (a benchmark: it prints a table).

    .venv/bin/python bench/client_path.py [--runs 5] [--topologies streaming,patroni]
        [--paths libpq,haproxy,pgbouncer+haproxy,pgbouncer,haproxy@2000x3]

For each topology and path, ``--runs`` drills on a fresh cluster: a harness failover on
streaming replication (kill the primary, promote the most advanced replica) or a leader
kill on Patroni (ttl 20, loop_wait 2, retry_timeout 5). Every drill runs the path's probes
and the direct probes beside them, so each run gives the path's write RTO and the ideal's
for the same kill; the table shows the median and the spread (min-max) of both and of their
difference (what the path added). The ``direct`` row of each topology is the ideal beside
every drill of that topology (the same kills). ``pgbouncer`` is PgBouncer in front of the
primary, repointed by the failover (a RELOAD on its admin console; on Patroni once the new
leader accepts writes). ``haproxy@2000x3`` is HAProxy checking every 2000 ms and marking a
server down after 3 failed checks (the default is 1000 ms and 2).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.clients.part import use_client_path
from harness.drill import Drill
from harness.errors import HarnessError
from harness.images import build_images
from harness.labels import new_run_id
from harness.topology.patroni import patroni_of, use_patroni


def one(topology: str, spec: str, directory: Path, scope: str) -> tuple[float | None, float | None]:
    """(path's write RTO, direct's write RTO) of one drill."""
    path, _, checks = spec.partition("@")
    d = Drill(new_run_id(), scope, directory)
    try:
        if topology == "patroni":
            use_patroni(d, nodes=3, etcd_members=1, ttl=20, loop_wait=2, retry_timeout=5)
        haproxy: dict[str, int] = {}
        if checks:
            inter, _, fall = checks.partition("x")
            haproxy = {"inter_ms": int(inter), "fall": int(fall or 2)}
        use_client_path(d, path, haproxy=haproxy) if haproxy else use_client_path(d, path)
        d.start_probes(0.05)
        time.sleep(1.5)
        if topology == "patroni":
            old = patroni_of(d).primary
            d.inject("kill", "the leader")
            patroni_of(d).wait_new_leader(old, 90)
        else:
            d.inject("kill", "the primary")
            d.failover()
        time.sleep(3)
        m = d.measurements()
        rows = {p.path: p.rto_write_s for p in m.paths}
        return rows.get(m.client_path), rows.get("direct")
    finally:
        d.close()


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--topologies", default="streaming,patroni")
    ap.add_argument("--paths", default="libpq,haproxy,pgbouncer+haproxy,pgbouncer,haproxy@2000x3")
    args = ap.parse_args()
    build_images()
    console = Console(width=160)
    table = Table(title=f"write RTO (s) per client path: median (min-max) over {args.runs} runs")
    for col in ("topology", "path", "runs", "path RTO", "direct RTO (same drills)", "added by the path"):
        table.add_column(col)
    with tempfile.TemporaryDirectory(prefix="bench-client-path-") as tmp:
        for topology in args.topologies.split(","):
            every_ideal: list[float] = []
            for spec in args.paths.split(","):
                got, ideal, added, missing = [], [], [], 0
                for i in range(args.runs):
                    t0 = time.monotonic()
                    try:
                        rto, direct = one(topology, spec, Path(tmp) / f"{topology}-{spec}-{i}", f"b{i}")
                    except HarnessError as exc:  # a busy machine's Docker hiccup: said, not hidden
                        print(f"{topology} {spec} run {i + 1}: failed: {str(exc)[:200]}", flush=True)
                        missing += 1
                        continue
                    print(f"{topology} {spec} run {i + 1}: path {rto}, direct {direct} "
                          f"({time.monotonic() - t0:.0f} s)", flush=True)
                    if rto is None or direct is None:
                        missing += 1
                        continue
                    got.append(rto)
                    ideal.append(direct)
                    added.append(rto - direct)
                table.add_row(topology, spec, f"{len(got)}" + (f" (+{missing} failed or unrecovered)" if missing else ""),
                              _fmt(got), _fmt(ideal), _fmt(added))
                every_ideal += ideal
            table.add_row(topology, "direct (beside every drill above)", f"{len(every_ideal)}", _fmt(every_ideal),
                          _fmt(every_ideal), "0 (the ideal)")
    console.print(table)


if __name__ == "__main__":
    main()
