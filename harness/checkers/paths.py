"""Numbers per client path: the same RTO and availability checkers over each path's probes.

A drill on a real client path (HAProxy, PgBouncer, libpq) may run the ``direct`` probes
beside it, the ideal that knows the primary the moment the harness does; each probe
operation carries the path it went through. The scenario's own numbers are those of its
path (:func:`main_path_events`); :func:`path_measures` gives one row per path that ran.

The rows follow the number definitions v2: an outage is a span longer than the threshold
with no acknowledged operation (a slow acknowledgement counts: a libpq connect that spends
its connect_timeout on a dead host before the live one is outage, not a success), and RTO
runs from the fault's ``began`` to the end of the outage it caused.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.availability import WINDOW_END, WINDOW_START
from harness.history import Event, FaultEvent, Note, ProbeOp

__all__ = ["PathMeasure", "main_path_events", "path_added_s", "path_measures"]


class PathMeasure(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str  # direct, libpq, haproxy, pgbouncer+haproxy
    rto_write_s: float | None
    rto_read_s: float | None
    downtime_s: float | None  # the window's length not covered by acknowledged writes
    writes_acknowledged: int


def _only(events: list[Event], path: str, main: str) -> list[Event]:
    def mine(e: Event) -> bool:
        if not isinstance(e, ProbeOp) or e.probe == "fanout":
            return True
        return (e.path or main) == path

    return [e for e in events if mine(e)]


def main_path_events(events: Iterable[Event], main: str) -> list[Event]:
    """The history as the scenario's own path saw it (the probes beside it left out)."""
    return _only(list(events), main, main)


def _window(events: list[Event]) -> tuple[float | None, float | None]:
    notes = [e for e in events if isinstance(e, Note)]
    start = next((n.at.t for n in notes if n.name == WINDOW_START), None)
    end = next((n.at.t for n in notes if n.name == WINDOW_END), None)
    return start, end


def outages(events: list[Event], probe: str, interval_s: float, threshold_s: float = 0.25) -> list[tuple[float, float]]:
    """The spans longer than the outage threshold (never below 3 probe intervals) in which no
    ``probe`` operation was acknowledged, inside the drill window: slow acknowledgements and
    hung attempts are outage as much as failed ones. The last one may run to the window's end."""
    start, end = _window(events)
    mine = [e for e in events if isinstance(e, ProbeOp) and e.probe == probe]
    acks = sorted(e.end.t for e in mine if e.outcome == "ok")
    if start is None or not acks:
        return []
    start = max(start, min(e.at.t for e in mine))  # a probe started beside the others a little later
    end = end if end is not None else acks[-1]
    limit = max(threshold_s, 3 * interval_s)
    marks = [start, *(t for t in acks if start <= t <= end), end]
    return [(a, b) for a, b in zip(marks, marks[1:], strict=False) if b - a > limit]


def outage_rto(events: list[Event], probe: str, interval_s: float) -> float | None:
    """From the first fault's ``began`` to the end of the first outage that overlaps it or
    follows it (0: none; None: it lasted to the window's end, or no operation was acknowledged)."""
    faults = [e for e in events if isinstance(e, FaultEvent) and e.phase == "inject"]
    if not faults:
        return 0.0
    t_f = (faults[0].began or faults[0].at).t
    _, end = _window(events)
    spans = [o for o in outages(events, probe, interval_s) if o[1] > t_f]
    if not spans:
        acked = any(isinstance(e, ProbeOp) and e.probe == probe and e.outcome == "ok" and e.end.t > t_f for e in events)
        return 0.0 if acked else None
    a, b = spans[0]
    if end is not None and b >= end and not any(
            isinstance(e, ProbeOp) and e.probe == probe and e.outcome == "ok" and e.end.t >= b for e in events):
        return None  # never came back within the window
    return max(0.0, b - t_f)


def path_measures(events: Iterable[Event], main: str, interval_s: float) -> list[PathMeasure]:
    evs = list(events)
    paths = sorted({(e.path or main) for e in evs if isinstance(e, ProbeOp) and e.probe != "fanout"},
                   key=lambda p: (p != main, p))
    out = []
    for p in paths:
        mine = _only(evs, p, main)
        has_reads = any(isinstance(e, ProbeOp) and e.probe == "read" for e in mine)
        spans = outages(mine, "write", interval_s)
        acks = sum(1 for e in mine if isinstance(e, ProbeOp) and e.probe == "write" and e.outcome == "ok")
        out.append(PathMeasure(path=p, rto_write_s=outage_rto(mine, "write", interval_s),
                               rto_read_s=outage_rto(mine, "read", interval_s) if has_reads else None,
                               downtime_s=sum(b - a for a, b in spans) if acks else None, writes_acknowledged=acks))
    return out


def path_added_s(measures: list[PathMeasure], path: str, ideal: str = "direct") -> float | None:
    """How much longer the write outage was through ``path`` than through the ideal beside it."""
    by = {m.path: m for m in measures}
    a, b = by.get(path), by.get(ideal)
    if a is None or b is None or a.rto_write_s is None or b.rto_write_s is None:
        return None
    return a.rto_write_s - b.rto_write_s
