"""The live view of a running drill, read from its journal as the harness writes it.

The drill runs in its own process (pytest underneath); this view only tails the journal
files, so what a person watches is exactly what the report will later be built from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.checkers import measure
from harness.history import ActionEvent, AlertEvent, Event, FaultEvent, Note, ProbeOp, Sample, parse_event

__all__ = ["LiveState", "render"]


@dataclass
class _Journal:
    path: Path
    offset: int = 0
    events: list[Event] = field(default_factory=list)


class LiveState:
    """Everything the view shows, updated by reading whatever the journals gained."""

    def __init__(self, run_dir: Path, interval_s: float = 0.05) -> None:
        self.run_dir = run_dir
        self.interval_s = interval_s
        self.journals: dict[Path, _Journal] = {}
        self.started = time.monotonic()

    def poll(self) -> None:
        for path in sorted(self.run_dir.glob("scenarios/*/journal.jsonl")):
            j = self.journals.setdefault(path, _Journal(path))
            with path.open("rb") as f:
                f.seek(j.offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # only whole lines: the writer may be mid-line
            for line in chunk[:end].splitlines():
                try:
                    j.events.append(parse_event(json.loads(line)))
                except (ValueError, ValidationError):
                    continue
            j.offset += end

    @property
    def current(self) -> _Journal | None:
        return list(self.journals.values())[-1] if self.journals else None

    def scenario_name(self) -> str:
        j = self.current
        return j.path.parent.name if j else "(starting)"


def render(state: LiveState) -> Group:
    j = state.current
    events = j.events if j else []
    steps = [e for e in events if isinstance(e, Note) and e.name == "step"]
    head = Table.grid(padding=(0, 2))
    head.add_row(Text(f"scenario {state.scenario_name()}", style="bold"),
                 Text(f"elapsed {time.monotonic() - state.started:5.1f} s"),
                 Text(f"scenarios so far: {len(state.journals)}"))
    head.add_row(Text("step: " + (steps[-1].detail if steps else "(setting up)"), style="cyan"), "", "")

    # Topology: the newest sample of each node.
    latest: dict[str, Sample] = {}
    for e in events:
        if isinstance(e, Sample):
            latest[e.node] = e
    topo = Table(title="nodes", expand=True)
    for col in ("node", "role", "up", "lag", "connections", "tps"):
        topo.add_column(col)
    for name, s in sorted(latest.items()):
        m = s.metrics
        style = "red" if s.role == "down" else ("green" if s.role == "primary" else "")
        lag = "" if "lag_bytes" not in m else f"{m['lag_bytes'] / 1024:.0f} kB / {m.get('lag_s', 0):.1f} s"
        topo.add_row(Text(name, style=style), s.role, "yes" if m.get("up") else "NO", lag,
                     f"{m.get('connections_pct', 0):.0f} %" if "connections_pct" in m else "",
                     f"{m['tps']:.0f}" if "tps" in m else "")

    # Faults still active, and the actions taken.
    active: dict[tuple[str, str], FaultEvent] = {}
    for e in events:
        if isinstance(e, FaultEvent):
            if e.phase == "inject":
                active[(e.fault, e.target)] = e
            elif e.fault == "restart":
                for k in [k for k in active if k[1] == e.target]:
                    active.pop(k)
            else:
                active.pop((e.fault, e.target), None)
    faults = Text("\n".join(f"{f.fault} on {f.target}: {f.detail}" for f in active.values()) or "none",
                  style="bold red" if active else "green")
    actions = [e for e in events if isinstance(e, ActionEvent) and not e.action.startswith("expect.")][-4:]
    acts = Text("\n".join(f"{a.action} {a.target} ({a.end.t - a.at.t:.2f} s) {a.outcome}" for a in actions) or "none")

    # Probes over the last two seconds.
    ops = [e for e in events if isinstance(e, ProbeOp)]
    now_t = ops[-1].end.t if ops else 0.0
    probe = Table(title="probes, last 2 s", expand=True)
    for col in ("probe", "ok", "failed", "p50 ms", "p95 ms", "total acked"):
        probe.add_column(col)
    for kind in ("write", "read"):
        mine = [o for o in ops if o.probe == kind]
        recent = [o for o in mine if o.at.t >= now_t - 2]
        lat = sorted((o.end.t - o.at.t) * 1000 for o in recent if o.outcome == "ok")
        p50 = f"{lat[len(lat) // 2]:.1f}" if lat else "-"
        p95 = f"{lat[min(len(lat) - 1, int(len(lat) * 0.95))]:.1f}" if lat else "-"
        bad = sum(1 for o in recent if o.outcome != "ok")
        probe.add_row(kind, str(len(recent) - bad), Text(str(bad), style="red" if bad else ""), p50, p95,
                      str(sum(1 for o in mine if o.outcome == "ok")))

    firing: dict[tuple[str, str], AlertEvent] = {}
    for e in events:
        if isinstance(e, AlertEvent):
            if e.phase == "firing":
                firing[(e.alert, e.node)] = e
            else:
                firing.pop((e.alert, e.node), None)
    alerts = Text("\n".join(f"{a.severity.upper()} {a.alert} on {a.node}" for a in firing.values()) or "none",
                  style="bold red" if any(a.severity == "critical" for a in firing.values()) else "")

    numbers = Text("no probe yet")
    if ops:
        try:
            from harness.result import METRICS, fmt_value, metric

            nums = measure(events, state.interval_s)
            shown = []
            for spec in (m for m in METRICS if m.headline):
                value = getattr(nums, spec.key, None)
                text = ("after the final read" if value is None and spec.key == "rpo_lost_writes"
                        else fmt_value(spec, value))
                shown.append(f"{spec.label} {text}")
            sec = metric("downtime_s")  # seconds, as every view writes them
            per_fault = "\n".join(f"  {f.name} on {f.target}: write RTO {fmt_value(sec, f.rto_write_s)}, read RTO "
                                  f"{fmt_value(sec, f.rto_read_s)}, downtime {fmt_value(sec, f.downtime_s)}"
                                  for f in nums.faults)
            numbers = Text("   ".join(shown) + (f"\nper fault:\n{per_fault}" if per_fault else ""))
        except Exception as exc:  # noqa: BLE001 - the view never dies of a number
            numbers = Text(f"(numbers unavailable: {exc})")
    return Group(
        Panel(head, title="pg-chaos-harness drill", border_style="blue"),
        topo,
        Panel(faults, title="active faults"),
        Panel(acts, title="recovery actions"),
        probe,
        Panel(alerts, title="alerts firing"),
        Panel(numbers, title="running numbers (so far)", border_style="magenta"),
    )
