"""The numbers as a client sees them: the harness beside an independent client (a benchmark).

    PYTHONPATH=. .venv/bin/python bench/known_answers.py [--drills all|issue|NAME,...] [--keep DIR]

Each drill runs on a fresh 1 primary + 1 async replica cluster with the harness's probes
(every 50 ms) and the tests' independent client (tests/integration/independent.py: its own
connections and table, a write every 20 ms) side by side. The table gives what the harness
says (each fault's write RTO, the downtime, availability, lost writes) and the outages the
client saw, and the worst disagreement between the two sides' outages. ``issue`` runs the
four drills of the table the numbers were redefined by.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on the path, and this file would stand in
# for the standard library's ``numbers`` module (which ``decimal`` and ``fractions`` import).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import tempfile  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from harness.drill import Drill  # noqa: E402
from harness.images import build_images  # noqa: E402
from harness.labels import new_run_id  # noqa: E402
from tests.integration.independent import DRILLS, Agreement, run_drill  # noqa: E402

ISSUE = ["freeze 0.8 s", "freezes 2 s, then 1 s", "120 ms latency, nothing fails", "clean stop and start"]


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f} s"


def row(a: Agreement) -> list[str]:
    m = a.measurements
    rtos = ", ".join(_s(f.rto_write_s) for f in m.faults) or "-"
    harness = ", ".join(f"{e - s:.2f} s" for s, e in a.harness) or "none"
    client = ", ".join(f"{e - s:.2f} s" for s, e in a.client) or "none"
    worst = a.worst_s()
    avail = "n/a" if m.availability is None else f"{m.availability * 100:.1f} %"
    return [a.drill, rtos, _s(m.downtime_s), avail, str(m.rpo_lost_writes), harness, client, str(a.client_lost),
            "outages differ" if worst is None else f"{worst * 1000:.0f} ms (of {a.tolerance_s * 1000:.0f})"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drills", default="issue", help="all, issue, or names separated by ; from: " + "; ".join(DRILLS))
    ap.add_argument("--keep", type=Path, help="keep each drill's journal under this folder")
    args = ap.parse_args()
    names = list(DRILLS) if args.drills == "all" else ISSUE if args.drills == "issue" else args.drills.split(";")
    build_images()
    table = Table(title="numbers v2: the harness beside an independent client")
    for col in ("drill", "write RTO per fault", "downtime", "availability", "lost", "harness outages",
                "client outages", "client lost", "worst disagreement"):
        table.add_column(col)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-numbers-"))
    worst: list[float] = []
    for i, name in enumerate(names):
        d = Drill(new_run_id(), f"bn{i}", root / f"{i}-{name.replace(' ', '-').replace(',', '')}")
        try:
            a = run_drill(name, d)
        finally:
            d.close()
        w = a.worst_s()
        worst.append(float("inf") if w is None else w)
        table.add_row(*row(a))
    console = Console()
    console.print(table)
    console.print(f"worst disagreement over these drills: {max(worst) * 1000:.0f} ms (journals: {root})")


if __name__ == "__main__":
    main()
