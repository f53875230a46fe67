"""Detection time (MTTD): from a fault's ``began`` to the first thing that noticed it.

What counts: the first critical/warning alert about a node the fault touched (a node its
target names), any alert for a cluster-wide fault (a target naming no node: a region, the
DCS), or the HA manager's first view that changed after the fault began, whichever is first.
An alert about another node (latency on a replica while the primary is killed) is not a
detection of that fault.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from harness.checkers.failover import views
from harness.checkers.verdict import Status
from harness.checkers.window import WINDOW_START
from harness.history import AlertEvent, Event, FaultEvent, History, Note, ProbeOp, Sample, Stamp

__all__ = ["DetectionResult", "began", "detect", "detection", "touched"]


class DetectionResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    value_s: float | None
    alert: str | None
    node: str | None
    status: Status
    reason: str


def began(fault: FaultEvent) -> Stamp:
    """When the injector was called (the fault may land before it returns)."""
    return fault.began or fault.at


def _known_nodes(events: Sequence[Event]) -> set[str]:
    nodes: set[str] = set()
    for e in events:
        if isinstance(e, (Sample, AlertEvent)):
            nodes.add(e.node)
        elif isinstance(e, ProbeOp) and e.node is not None:
            nodes.add(e.node)
    for v in views(events):
        nodes.update(v.members)
    return nodes


def touched(fault: FaultEvent, nodes: Iterable[str]) -> set[str]:
    """The nodes a fault's target names (none: a cluster-wide fault)."""
    return {n for n in nodes if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", fault.target)}


def detect(events: Sequence[Event], fault: FaultEvent, *,
           severities: tuple[str, ...] = ("critical", "warning")) -> DetectionResult:
    b = began(fault).t
    nodes = touched(fault, _known_nodes(events))
    alert = next((e for e in events if isinstance(e, AlertEvent) and e.phase == "firing"
                  and e.severity in severities and e.at.t >= b and (not nodes or e.node in nodes)), None)
    ha_t = math.inf
    vs = views(events)
    before = [v for v in vs if v.at.t < b]
    if before:
        base = before[-1]
        old = base.leader or ""
        changed = next((v for v in vs if v.at.t >= b and (v.leader != base.leader
                                                           or v.members.get(old) != base.members.get(old))), None)
        ha_t = changed.at.t if changed is not None else math.inf
    if alert is not None and alert.at.t <= ha_t:
        return DetectionResult(value_s=max(0.0, alert.at.t - b), alert=alert.alert, node=alert.node,
                               status="valid", reason=f"{alert.alert} on {alert.node}")
    if ha_t < math.inf:
        return DetectionResult(value_s=max(0.0, ha_t - b), alert=None, node=None, status="valid",
                               reason="the HA manager's view changed")
    about = f"about {', '.join(sorted(nodes))}" if nodes else "at all"
    return DetectionResult(value_s=None, alert=None, node=None, status="invalid",
                           reason=f"no {'/'.join(severities)} alert {about} and no HA event after "
                                  f"{fault.fault} on {fault.target}")


def detection(history: History | Iterable[Event], *, severities: tuple[str, ...] = ("critical", "warning"),
              ) -> DetectionResult:
    """The detection of the first fault injected in the drill window."""
    events = list(history)
    start = next((e for e in events if isinstance(e, Note) and e.name == WINDOW_START), None)
    t0 = start.at.t if start is not None else -math.inf
    faults = sorted((e for e in events if isinstance(e, FaultEvent) and e.phase == "inject" and e.at.t >= t0),
                    key=lambda f: began(f).t)
    if not faults:
        return DetectionResult(value_s=None, alert=None, node=None, status="unknown", reason="no fault was injected")
    return detect(events, faults[0], severities=severities)
