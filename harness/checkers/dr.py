"""Disaster-recovery numbers, pure over the history.

- DR RTO: the write RTO of the region loss, measured only up to the fail back (a fail back
  is a planned switchover with its own short outage; it is not part of the loss's recovery).
- Switchover outage: from the start of a fail back to the first acknowledged write after
  which writes keep succeeding (the RTO checker applied from the fail back's start).
- Repetitions: a drill repeated N times leaves one ``RepetitionMark`` (series "dr") per repetition;
  each repetition's slice (to the next note) gives its detection time (first alert after its
  region loss) and its recovery time (DR RTO of the slice); MTTR is their mean, with spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.checkers.detection import detection
from harness.checkers.rto import RtoResult, rto
from harness.checkers.verdict import Status
from harness.history import ActionEvent, Event, FaultEvent, History, ProbeOp, RepetitionMark, RunbookStepTaken, Sample

__all__ = ["FAILBACK", "REGION_LOSS", "REPETITION_SERIES", "DrMeasures", "Mttr", "Repetition", "dr_measures", "dr_rto",
           "mttr", "repetitions", "switchover_outages"]

REGION_LOSS = ("region-loss", "region-cut-off")  # the faults' names: killed, or cut off
FAILBACK = "failback"  # the switchover's action
REPETITION_SERIES = "dr"  # the RepetitionMark series of a repeated region drill


def _t(e: Event) -> float:
    return e.end.t if isinstance(e, ProbeOp) else e.at.t


def dr_rto(history: History | Iterable[Event]) -> RtoResult:
    """Write RTO from the first region loss, up to the first fail back after it."""
    events = list(history)
    loss = next((e for e in events if isinstance(e, FaultEvent) and e.phase == "inject" and e.fault in REGION_LOSS),
                None)
    if loss is None:
        return RtoResult(probe="write", value_s=None, fault_at=None, recovered_at=None, resolution_s=None,
                         failed_ops=0, status="unknown", reason="no region was lost")
    fb = next((e.at.t for e in events if isinstance(e, ActionEvent) and e.action == FAILBACK and e.at.t > loss.at.t),
              float("inf"))
    # Only the region loss is "the fault" here (a WAN fault before it is a condition, not the loss).
    part = [e for e in events if _t(e) < fb and not (isinstance(e, FaultEvent) and e is not loss)]
    return rto(part, "write")


def switchover_outages(history: History | Iterable[Event]) -> list[tuple[ActionEvent, RtoResult]]:
    """Each fail back with its write outage (to the next region loss or the end)."""
    events = list(history)
    fbs = [e for e in events if isinstance(e, ActionEvent) and e.action == FAILBACK]
    # A loss is under way from its injector's call: writes failing from then on are its, not the fail back's.
    losses = [(e.began or e.at).t for e in events
              if isinstance(e, FaultEvent) and e.phase == "inject" and e.fault in REGION_LOSS]
    out = []
    for fb in fbs:
        stop = min((t for t in losses if t > fb.at.t), default=float("inf"))
        mark = FaultEvent(at=fb.at, fault="switchover", target=fb.target, phase="inject", began=fb.at)
        ops = [e for e in events if isinstance(e, ProbeOp) and fb.at.t <= e.at.t and e.end.t < stop]
        out.append((fb, rto([mark, *ops], "write")))
    return out


class Repetition(BaseModel):
    model_config = ConfigDict(frozen=True)
    index: int
    outcome: Literal["ok", "failed", "unknown"]
    detection_s: float | None
    recovery_s: float | None  # the repetition's DR RTO
    switchover_s: float | None  # the fail back's write outage, when it failed back
    reason: str
    # What the runbook says a person takes for its manual steps before service came back (in
    # CI they answer at once: the machine's time above is measured, this is the runbook's word).
    manual_expected_s: float = 0.0


class Mttr(BaseModel):
    model_config = ConfigDict(frozen=True)
    repetitions: list[Repetition]
    mttr_s: float | None
    stdev_s: float | None
    min_s: float | None
    max_s: float | None
    mttd_s: float | None
    status: Status
    reason: str
    # The mean with each repetition's manual steps taking what the runbook expects of a person.
    with_people_s: float | None = None


def manual_expected(events: Iterable[Event], recovered_t: float) -> float:
    """The runbook's estimates of its scripted manual steps that came before the recovery.

    In CI the steps follow each other within milliseconds, so time alone cannot tell "before":
    the manual steps that count are those listed before the last automated step that began
    before service came back (the one that brought it back), in the runbook's order.
    """
    steps = [e for e in events if isinstance(e, RunbookStepTaken)]
    acting = [i for i, e in enumerate(steps) if e.step_kind != "manual" and e.at.t < recovered_t]
    if not acting:
        return 0.0
    return sum(e.expected_s for e in steps[:acting[-1]] if e.step_kind == "manual" and e.expected_s is not None)


def repetitions(history: History | Iterable[Event]) -> list[Repetition]:
    events = list(history)
    marks = [e for e in events if isinstance(e, RepetitionMark) and e.series == REPETITION_SERIES]
    out = []
    for k, mark in enumerate(marks):
        hi = marks[k + 1].at.t if k + 1 < len(marks) else float("inf")
        part = [e for e in events if mark.at.t <= _t(e) < hi]
        own = [e for e in part if isinstance(e, ActionEvent) and e.action == "dr.repetition"]
        outcome: Literal["ok", "failed", "unknown"] = own[0].outcome if own else "unknown"
        rec = dr_rto(part)
        found = detection(part)
        sw = switchover_outages(part)
        back = rec.recovered_at.t if rec.recovered_at is not None else hi
        out.append(Repetition(index=mark.index, outcome=outcome,
                              detection_s=found.value_s, recovery_s=rec.value_s,
                              switchover_s=sw[0][1].value_s if sw else None,
                              reason=f"recovery: {rec.reason}; detection: {found.reason}",
                              manual_expected_s=manual_expected(part, back)))
    return out


def mttr(history: History | Iterable[Event]) -> Mttr:
    reps = repetitions(history)
    got = [r.recovery_s for r in reps if r.recovery_s is not None]
    seen = [r.detection_s for r in reps if r.detection_s is not None]
    if not reps:
        return Mttr(repetitions=[], mttr_s=None, stdev_s=None, min_s=None, max_s=None, mttd_s=None,
                    status="unknown", reason="no repeated drill ran")
    mean = statistics.fmean(got) if got else None
    stdev = statistics.stdev(got) if len(got) > 1 else (0.0 if got else None)
    listed = ", ".join("n/a" if r.recovery_s is None else f"{r.recovery_s:.2f}" for r in reps)
    missing = [r for r in reps if r.recovery_s is None or r.outcome != "ok"]
    status: Status = "valid" if not missing else "invalid"
    reason = (f"{len(reps)} repetitions, recovery {listed} s"
              + (f"; mean {mean:.2f} s, stdev {stdev:.2f} s" if mean is not None and stdev is not None else "")
              + (f"; mean detection {statistics.fmean(seen):.2f} s" if seen else "; detection not measured")
              + (f"; repetition {missing[0].index} did not recover: {missing[0].reason}" if missing else ""))
    people = [r.recovery_s + r.manual_expected_s for r in reps if r.recovery_s is not None]
    with_people = statistics.fmean(people) if people and any(r.manual_expected_s for r in reps) else None
    if with_people is not None:
        reason += f"; {with_people:.0f} s with the runbook's estimates of its manual steps"
    return Mttr(repetitions=reps, mttr_s=mean, stdev_s=stdev, min_s=min(got) if got else None,
                max_s=max(got) if got else None, mttd_s=statistics.fmean(seen) if seen else None,
                status=status, reason=reason, with_people_s=with_people)


class DrMeasures(BaseModel):
    """A two-region drill's numbers for the summary (``Measurements.dr``)."""

    model_config = ConfigDict(frozen=True)
    dr_rto_s: float | None  # region loss to writes that keep succeeding, before any fail back
    failback_outage_s: list[float | None]  # each fail back's write outage
    exposure_max_s: float | None  # RPO exposure: acknowledged writes not yet in the DR region
    exposure_mean_s: float | None
    exposure_max_writes: int | None
    mttr_s: float | None  # over the repetitions of a repeated drill, when one ran
    mttr_stdev_s: float | None
    mttd_s: float | None
    mttr_with_people_s: float | None  # with the runbook's estimates of its manual steps
    repetitions: list[Repetition]


def dr_measures(history: History | Iterable[Event]) -> DrMeasures | None:
    """None when the run had nothing of two regions (no exposure sample, no region fault)."""
    from harness.checkers.exposure import REPLAYED_SEQ, rpo_exposure

    events = list(history)
    regional = any(isinstance(e, Sample) and REPLAYED_SEQ in e.metrics for e in events) or any(
        isinstance(e, FaultEvent) and e.fault in REGION_LOSS for e in events)
    if not regional:
        return None
    x = rpo_exposure(events)
    m = mttr(events)
    return DrMeasures(dr_rto_s=dr_rto(events).value_s,
                      failback_outage_s=[r.value_s for _, r in switchover_outages(events)],
                      exposure_max_s=x.max_s, exposure_mean_s=x.mean_s, exposure_max_writes=x.max_writes,
                      mttr_s=m.mttr_s, mttr_stdev_s=m.stdev_s, mttd_s=m.mttd_s,
                      mttr_with_people_s=m.with_people_s, repetitions=m.repetitions)
