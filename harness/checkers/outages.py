"""Outages as a client sees them, and what each fault cost (DESIGN: the numbers, version 2).

Pure over the history. An *outage* is a span longer than the outage threshold in which no
surviving write was acknowledged: it runs from the last surviving acknowledgement before it
(or the start of the probing) to the first one after it. Slow acknowledgements, hung
attempts and writes acknowledged but later lost (rewound by a deposed primary) all count as
outage; latency under the threshold does not. Read outages are the same over successful reads.

Each fault, in injection order, owns the span from its ``began`` to the next fault's. Its RTO
runs from its ``began`` to the end of the first outage that overlaps that span: 0 when none
does, None when service never came back. An outage counts for a span only once it *is* one
(its start plus the threshold) before the span ends: the last acknowledgement before the next
fault may precede that fault by a hair, and that outage is the next fault's. Each outage's
length is charged to one fault, the first whose span it overlaps, so the faults' downtimes
add up to the downtime after the first fault.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.checkers.detection import began, detect
from harness.checkers.rpo import Present
from harness.checkers.verdict import Status
from harness.checkers.window import WINDOW_END, WINDOW_START, Window, drill_window
from harness.history import Event, FaultEvent, FinalRead, History, Note, ProbeOp, Stamp

__all__ = [
    "DEFAULT_OUTAGE_THRESHOLD_S",
    "MIN_THRESHOLD_INTERVALS",
    "WINDOW_END",
    "WINDOW_START",
    "FaultMeasure",
    "Outage",
    "OutageResult",
    "ProbeKind",
    "Window",
    "drill_window",
    "fault_measures",
    "faults_in_window",
    "outage_threshold",
    "outages",
    "present_seqs",
    "worst_rto",
]

DEFAULT_OUTAGE_THRESHOLD_S = 0.25
MIN_THRESHOLD_INTERVALS = 3  # below this, one late tick of the probe would read as an outage

ProbeKind = Literal["write", "read", "direct-write", "direct-read"]  # the direct-* ones: the ideal beside a path


def outage_threshold(threshold_s: float | None, interval_s: float) -> float:
    """The threshold in force: the one given (refused below 3 probe intervals), else 250 ms
    or 3 intervals, whichever is longer."""
    if not interval_s > 0:
        raise ValueError(f"the probe interval must be positive, got {interval_s}")
    floor = MIN_THRESHOLD_INTERVALS * interval_s
    if threshold_s is None:
        return max(DEFAULT_OUTAGE_THRESHOLD_S, floor)
    if threshold_s < floor - 1e-9:
        raise ValueError(f"an outage threshold of {threshold_s * 1000:g} ms is under {MIN_THRESHOLD_INTERVALS} "
                         f"probe intervals ({floor * 1000:g} ms): one late probe would read as an outage")
    return threshold_s


class Outage(BaseModel):
    model_config = ConfigDict(frozen=True)
    probe: ProbeKind
    start: Stamp  # the last acknowledgement before it (or the start of the probing)
    end: Stamp | None  # the first acknowledgement after it; None: service never came back
    length_s: float  # inside the window


class OutageResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    probe: ProbeKind
    outages: list[Outage]
    downtime_s: float | None
    window_s: float | None
    threshold_s: float
    status: Status
    reason: str


def present_seqs(events: Sequence[Event]) -> FinalRead | None:
    """The last final read of the surviving primary, if any."""
    finals = [e for e in events if isinstance(e, FinalRead)]
    return finals[-1] if finals else None


def _contains(ranges: Sequence[tuple[int, int]], seq: int) -> bool:
    return any(lo <= seq <= hi for lo, hi in ranges)


def _acks(events: Sequence[Event], probe: ProbeKind) -> tuple[list[Stamp], str]:
    """Acknowledgements that count as service, and a word on what survival was judged by."""
    ok = [e for e in events if isinstance(e, ProbeOp) and e.probe == probe and e.outcome == "ok"]
    if probe != "write":  # reads; and the ideal's writes, whose table the final read does not read
        return sorted((o.end for o in ok), key=lambda s: s.t), ""
    final = present_seqs(events)
    if final is None:
        return sorted((o.end for o in ok), key=lambda s: s.t), "; no final read yet: every acknowledgement counted"
    present = Present(final.present)
    kept = [o.end for o in ok if o.seq in present]
    lost = len(ok) - len(kept)
    return sorted(kept, key=lambda s: s.t), (f"; {lost} acknowledged writes missing on {final.node} count as outage"
                                            if lost else "")


def outages(history: History | Iterable[Event], probe: ProbeKind = "write", *, threshold_s: float,
            window: Window | None = None) -> OutageResult:
    """The outages of one probe inside the drill window (spans longer than ``threshold_s``)."""
    events = list(history)
    w = window or drill_window(events)
    ops = [e for e in events if isinstance(e, ProbeOp) and e.probe == probe]

    def unknown(reason: str) -> OutageResult:
        return OutageResult(probe=probe, outages=[], downtime_s=None, window_s=w.length_s if w else None,
                            threshold_s=threshold_s, status="unknown", reason=reason)

    if w is None or not ops:
        return unknown(f"no {probe} probes ran")
    if w.length_s <= 0:
        return unknown(f"empty drill window ({w.length_s:.3f} s)")
    first_try = min((o.at for o in ops), key=lambda s: s.t)
    begin = first_try if first_try.t > w.start.t else w.start
    if begin.t >= w.end.t:
        return unknown(f"no {probe} probe ran inside the drill window")
    acks, why = _acks(events, probe)
    # Service is measured from the first acknowledgement (the drill waits for it before going
    # on: a slow first connection is the probe starting, not an outage), unless a fault began
    # before it.
    first_ack = next((a for a in acks if begin.t < a.t <= w.end.t), None)
    first_fault = next((began(f) for f in faults_in_window(events)), None)
    if first_ack is not None and (first_fault is None or first_fault.t >= first_ack.t):
        begin = first_ack
    inside = [a for a in acks if begin.t < a.t <= w.end.t]
    after = next((a for a in acks if a.t > w.end.t), None)  # ends an outage that crosses the window's end
    found: list[Outage] = []
    prev = begin
    for nxt in [*inside, None]:
        if nxt is None:
            stop_t = after.t if after is not None else w.end.t
            if stop_t - prev.t > threshold_s:
                found.append(Outage(probe=probe, start=prev, end=after, length_s=w.end.t - prev.t))
            break
        if nxt.t - prev.t > threshold_s:
            found.append(Outage(probe=probe, start=prev, end=nxt, length_s=nxt.t - prev.t))
        prev = nxt
    downtime = sum(o.length_s for o in found)
    never = [o for o in found if o.end is None]
    reason = (f"{len(found)} {probe} outages longer than {threshold_s * 1000:g} ms, {downtime:.3f} s in all"
              + (" (the last never ended)" if never else "") + why)
    return OutageResult(probe=probe, outages=found, downtime_s=downtime, window_s=w.end.t - begin.t,
                        threshold_s=threshold_s, status="invalid" if never else "valid", reason=reason)


def faults_in_window(events: Sequence[Event]) -> list[FaultEvent]:
    """The faults injected inside the drill window (after ``window_start``), in injection order."""
    start = next((e for e in events if isinstance(e, Note) and e.name == WINDOW_START), None)
    t0 = start.at.t if start is not None else -math.inf
    found = [e for e in events if isinstance(e, FaultEvent) and e.phase == "inject" and e.at.t >= t0]
    return sorted(found, key=lambda f: began(f).t)


def _spans(faults: Sequence[FaultEvent]) -> list[tuple[float, float, float]]:
    """(began, the next fault's began, this fault's ``at``: when its injector returned)."""
    starts = [began(f).t for f in faults]
    return [(s, starts[i + 1] if i + 1 < len(starts) else math.inf, f.at.t)
            for i, (s, f) in enumerate(zip(starts, faults, strict=True))]


def _end_t(o: Outage) -> float:
    return o.end.t if o.end is not None else math.inf


def _overlaps(o: Outage, span: tuple[float, float, float], threshold_s: float) -> bool:
    """Whether ``o`` overlaps the fault's span [began, next began) as an outage: it was one (its
    start plus the threshold) before the span ended, and it ended after the span began. An
    outage already under way when the injector was called that ended before it returned (a
    stall of the machine just before a slow injection) was not this fault's."""
    lo, hi, landed = span
    stale = o.start.t < lo and _end_t(o) <= landed
    return _end_t(o) > lo and o.start.t + threshold_s < hi and not stale


def _rto(result: OutageResult, span: tuple[float, float, float]) -> float | None:
    lo = span[0]
    caused = next((o for o in result.outages if _overlaps(o, span, result.threshold_s)), None)
    if caused is None:
        return 0.0
    return None if caused.end is None else max(0.0, caused.end.t - lo)


def _charged(result: OutageResult, spans: Sequence[tuple[float, float, float]]) -> list[float]:
    """Each fault's downtime: every outage charged to the first span it overlaps."""
    out = [0.0] * len(spans)
    for o in result.outages:
        for i, span in enumerate(spans):
            if _overlaps(o, span, result.threshold_s):
                out[i] += o.length_s
                break
    return out


class FaultMeasure(BaseModel):
    """What one fault cost, in the order the faults were injected (summary.json's ``faults``)."""

    model_config = ConfigDict(frozen=True)
    name: str
    target: str
    began_wall: float
    rto_write_s: float | None  # None: write service never came back
    rto_read_s: float | None  # None: never came back, or no read probe ran
    downtime_s: float | None
    detection_s: float | None


def worst_rto(values: Sequence[float | None]) -> float | None:
    """A drill's RTO over its faults' (:func:`fault_measures`): the largest, 0 without faults,
    None when one never came back."""
    return None if any(v is None for v in values) else max((v for v in values if v is not None), default=0.0)


def fault_measures(events: Sequence[Event], writes: OutageResult, reads: OutageResult | None,
                   *, detect_faults: bool = True) -> list[FaultMeasure]:
    faults = faults_in_window(events)
    spans = _spans(faults)
    w_known = writes.status != "unknown"
    r_known = reads is not None and reads.status != "unknown"
    charged = _charged(writes, spans)
    out = []
    for f, span, down in zip(faults, spans, charged, strict=True):
        d = detect(events, f) if detect_faults else None
        out.append(FaultMeasure(
            name=f.fault, target=f.target, began_wall=began(f).wall,
            rto_write_s=_rto(writes, span) if w_known else None,
            rto_read_s=_rto(reads, span) if reads is not None and r_known else None,
            downtime_s=down if w_known else None,
            detection_s=d.value_s if d is not None else None))
    return out
