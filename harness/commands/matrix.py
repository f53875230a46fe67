"""A version matrix: ``harness run FEATURE --stack bookworm --stack trixie``.

The same scenarios run once per stack, one after the other (this machine has 2 cores), each
in its own pytest process with ``HARNESS_STACK`` set (the drill's image comes from it unless
the scenario or its environment names a stack) and its own run directory
(``reports/runs/<run>-<stack>``). The matrix's own ``reports/runs/<run>/summary.json`` lists
every scenario once per stack, with the stack and its versions named, and one table has a
column per stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["matrix_summary", "matrix_table", "run_matrix"]


def _versions(stack: str) -> dict[str, str]:
    try:
        from harness.images.build import build_images
        from harness.images.versions import image_versions

        return image_versions(build_images(stack=stack)[-1].tag).short()
    except Exception as exc:  # noqa: BLE001 - the header is a courtesy; the runs say what broke
        return {"error": str(exc)[:200]}


def matrix_summary(run_id: str, per_stack: dict[str, dict[str, Any] | None],
                   versions: dict[str, dict[str, str]]) -> dict[str, Any]:
    """One summary: every scenario once per stack, named ``stack``, with that stack's versions."""
    scenarios: list[dict[str, Any]] = []
    for stack, data in per_stack.items():
        for s in (data or {}).get("scenarios", []):
            scenarios.append({**s, "stack": stack, "versions": versions.get(stack, {})})
    return {"run_id": run_id, "matrix": {"stacks": list(per_stack), "versions": versions,
                                         "runs": {k: (v or {}).get("run_id") for k, v in per_stack.items()}},
            "scenarios": scenarios}


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "not run"
    m = s.get("measurements") or {}
    colour = {"passed": "green", "failed": "red", "error": "magenta", "aborted": "yellow"}.get(s["status"], "white")

    def n(v: Any, unit: str) -> str:
        return "n/a" if v is None else f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}"

    lines = [f"[{colour}]{s['status']}[/]", f"RTO {n(m.get('rto_write_s'), ' s')}",
             f"lost {n(m.get('rpo_lost_writes'), '')}"]
    if s.get("status") != "passed" and s.get("message"):
        lines.append(str(s["message"])[:160])
    return "\n".join(lines)


def matrix_table(summary: dict[str, Any], seconds: float) -> Table:
    stacks: list[str] = summary["matrix"]["stacks"]
    versions: dict[str, dict[str, str]] = summary["matrix"]["versions"]
    table = Table(title=f"run {summary['run_id']}: {len(stacks)} stacks ({seconds:.0f} s)")
    table.add_column("scenario", overflow="fold", max_width=48)
    for st in stacks:
        v = versions.get(st, {})
        head = (f"{st}\nPostgreSQL {v.get('postgresql', '?')}, Patroni {v.get('patroni', '?')}\n"
                f"pgBackRest {v.get('pgbackrest', '?')}, etcd {v.get('etcd', '?')}")
        table.add_column(head, overflow="fold", max_width=44)
    names: list[str] = []
    for s in summary["scenarios"]:
        if s["scenario"] not in names:
            names.append(s["scenario"])
    for name in names:
        row = [name]
        for st in stacks:
            row.append(_cell(next((s for s in summary["scenarios"] if s["scenario"] == name and s["stack"] == st),
                                  None)))
        table.add_row(*row)
    return table


def run_matrix(pytest_args: list[str], targets: list[str], stacks: list[str], run_id: str,
               reports: Path, console: Console) -> int:
    """Run the scenarios once per stack; print one table; 0 only when every run passed."""
    from harness.images.build import known_stacks

    unknown = [s for s in stacks if s not in known_stacks()]
    if unknown:
        console.print(f"[bold red]error:[/] no stack {', '.join(unknown)} (known: {', '.join(known_stacks())})")
        return 2
    t0 = time.monotonic()
    per_stack: dict[str, dict[str, Any] | None] = {}
    versions: dict[str, dict[str, str]] = {}
    worst = 0
    for stack in dict.fromkeys(stacks):  # each once, in the order given
        versions[stack] = _versions(stack)
        sub = f"{run_id}-{stack}"
        env = os.environ | {"HARNESS_STACK": stack, "HARNESS_RUN_ID": sub}
        console.print(f"--- stack {stack}: run {sub}")
        code = subprocess.run([sys.executable, "-m", "pytest", *pytest_args, *targets], env=env).returncode
        worst = max(worst, code)
        path = reports / "runs" / sub / "summary.json"
        per_stack[stack] = json.loads(path.read_text()) if path.exists() else None
    summary = matrix_summary(run_id, per_stack, versions)
    out = reports / "runs" / run_id / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    console.print(matrix_table(summary, time.monotonic() - t0))
    console.print(f"summary: {out}")
    failed = any(s["status"] != "passed" for s in summary["scenarios"])
    return worst or (1 if failed else 0)
