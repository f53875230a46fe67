"""Where a detection's time went, for alerts Prometheus evaluated and Alertmanager delivered.

From the fault's ``began`` to the harness's receipt of the first critical or warning alert
after it: **scrape and evaluation** (until an evaluation first saw the condition: Prometheus's
``activeAt``), the rule's **for** (until it went firing: Alertmanager's ``startsAt``) and the
**delivery** (Alertmanager's grouping wait and the webhook, until the receiver had it). All
three are differences of wall-clock times of one host's clock. Pure over the history.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.rto import injected_fault
from harness.history import AlertEvent, Event, History

__all__ = ["DetectionSplit", "detection_split"]


class DetectionSplit(BaseModel):
    model_config = ConfigDict(frozen=True)
    alert: str
    node: str
    total_s: float
    scrape_s: float | None  # fault began -> activeAt (None: Prometheus did not say)
    for_s: float | None  # activeAt -> startsAt
    delivery_s: float  # startsAt -> received

    def describe(self) -> str:
        def f(v: float | None) -> str:
            return "?" if v is None else f"{v:.2f} s"

        return (f"{self.alert} on {self.node} after {self.total_s:.2f} s: scrape and evaluation {f(self.scrape_s)}, "
                f"for {f(self.for_s)}, delivery {self.delivery_s:.2f} s")


def detection_split(history: History | Iterable[Event], *,
                    severities: tuple[str, ...] = ("critical", "warning")) -> DetectionSplit | None:
    """The first delivered alert after the first fault, split; None without one."""
    events = list(history)
    fault = injected_fault(events)
    if fault is None:
        return None
    began = fault.began or fault.at
    for e in events:
        if (isinstance(e, AlertEvent) and e.source == "prometheus" and e.phase == "firing" and e.fired_at is not None
                and e.severity in severities and e.at.t >= began.t):
            active = e.active_at
            return DetectionSplit(
                alert=e.alert, node=e.node, total_s=e.at.wall - began.wall,
                scrape_s=None if active is None else active.wall - began.wall,
                # Never negative: Alertmanager keeps startsAt to the millisecond, activeAt finer.
                for_s=None if active is None else max(0.0, e.fired_at.wall - active.wall),
                delivery_s=e.at.wall - e.fired_at.wall)
    return None
