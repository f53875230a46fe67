"""Detection time (MTTD): from the fault to the first alert that noticed it."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.rto import injected_fault
from harness.checkers.verdict import Status
from harness.history import AlertEvent, Event, History

__all__ = ["DetectionResult", "detection"]


class DetectionResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    value_s: float | None
    alert: str | None
    node: str | None
    status: Status
    reason: str


def detection(history: History | Iterable[Event], *, severities: tuple[str, ...] = ("critical", "warning"),
              ) -> DetectionResult:
    events = list(history)
    fault = injected_fault(events)
    if fault is None:
        return DetectionResult(value_s=None, alert=None, node=None, status="unknown", reason="no fault was injected")
    # Alerts already firing before the fault did not detect it.
    since = (fault.began or fault.at).t  # the fault may land before its injector returns
    for e in events:
        if isinstance(e, AlertEvent) and e.phase == "firing" and e.severity in severities and e.at.t >= since:
            return DetectionResult(value_s=max(0.0, e.at.t - fault.at.t), alert=e.alert, node=e.node, status="valid",
                                   reason=f"{e.alert} on {e.node}")
    return DetectionResult(value_s=None, alert=None, node=None, status="invalid",
                           reason=f"no {'/'.join(severities)} alert fired after the fault")
