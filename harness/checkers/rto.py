"""Recovery time: from the fault to the first acknowledged probe after which probes keep succeeding."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.checkers.window import WINDOW_START
from harness.checkers.verdict import Status
from harness.history import Event, FaultEvent, History, Note, ProbeOp, Stamp

__all__ = ["ProbeKind", "RtoResult", "format_stamp", "injected_fault", "rto"]

ProbeKind = Literal["write", "read"]


class RtoResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    probe: ProbeKind
    value_s: float | None  # None: never recovered
    fault_at: Stamp | None
    recovered_at: Stamp | None  # acknowledgement of the recovering probe
    resolution_s: float | None  # the probe interval: the value is only this precise
    failed_ops: int  # non-ok probes of this kind that ended after the fault
    status: Status
    reason: str


def format_stamp(s: Stamp) -> str:
    wall = datetime.fromtimestamp(s.wall, tz=UTC).isoformat(timespec="milliseconds")
    return f"{wall} (t={s.t:.3f})"


def injected_fault(events: Iterable[Event]) -> FaultEvent | None:
    """The first fault injected inside the drill window (after the ``window_start`` note, if any)."""
    evs = list(events)
    start = next(
        (e for e in evs if isinstance(e, Note) and e.name == WINDOW_START), None
    )
    t0 = start.at.t if start is not None else -float("inf")
    faults = [
        e
        for e in evs
        if isinstance(e, FaultEvent) and e.phase == "inject" and e.at.t >= t0
    ]
    return min(faults, key=lambda f: f.at.t, default=None)


def _order(op: ProbeOp) -> tuple[float, float, int]:
    return (op.at.t, op.end.t, op.seq)


def _median_gap(ops: Sequence[ProbeOp]) -> float | None:
    starts = [op.at.t for op in ops]  # already sorted
    if len(starts) < 2:
        return None
    return float(statistics.median(b - a for a, b in itertools.pairwise(starts)))


def rto(
    history: History | Iterable[Event],
    probe: ProbeKind = "write",
    resolution_s: float | None = None,
) -> RtoResult:
    events = list(history)
    ops = sorted(
        (e for e in events if isinstance(e, ProbeOp) and e.probe == probe), key=_order
    )
    resolution = resolution_s if resolution_s is not None else _median_gap(ops)
    fault = injected_fault(events)
    if fault is None:
        return RtoResult(
            probe=probe,
            value_s=0.0,
            fault_at=None,
            recovered_at=None,
            resolution_s=resolution,
            failed_ops=0,
            status="valid",
            reason="no fault injected",
        )

    t_f = fault.at.t
    after = [op for op in ops if op.end.t > t_f]  # ops in flight at the fault count
    bad = [i for i, op in enumerate(after) if op.outcome != "ok"]

    def result(value: float | None, recovered: Stamp | None, reason: str) -> RtoResult:
        return RtoResult(
            probe=probe,
            value_s=value,
            fault_at=fault.at,
            recovered_at=recovered,
            resolution_s=resolution,
            failed_ops=len(bad),
            status="valid" if value is not None else "invalid",
            reason=reason,
        )

    never = f"no acknowledged {probe} after the fault at {format_stamp(fault.at)}"
    if not after:
        return result(None, None, f"{never}: no {probe} probe ended after it")
    if not bad:
        return result(
            0.0,
            fault.at,
            f"no {probe} failed after the fault ({len(after)} acknowledged)",
        )
    last_bad = after[bad[-1]]
    if bad[-1] == len(after) - 1:
        return result(
            None,
            None,
            f"{never} that lasted: the last {probe} (seq {last_bad.seq}) ended "
            f"{last_bad.outcome}; never recovered",
        )
    recovery = after[bad[-1] + 1]  # everything after the last failure is ok
    value = recovery.end.t - t_f
    return result(
        value,
        recovery.end,
        f"{probe} recovered {value:.2f} s after the fault ({len(bad)} failed, "
        f"first lasting ack seq {recovery.seq})",
    )
