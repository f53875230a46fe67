"""Numbers per client path: the scenario's path and the ideal beside it, from the history.

A drill on a real client path (HAProxy, PgBouncer, libpq) runs its write and read probes
through the path (``probe`` "write"/"read"), and the ``direct`` probes beside it, the ideal
that knows the primary the moment the harness does ("direct-write"/"direct-read", which
every other checker leaves out). :func:`path_measures` gives one row per path that ran.

The rows follow the number definitions v2: an outage is a span longer than the threshold
with no acknowledged operation (a slow acknowledgement counts: a libpq connect that spends
its connect_timeout on a dead host before the live one is outage, not a success), and RTO
runs from the first fault's ``began`` to the end of the outage it caused.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


from harness.checkers.window import WINDOW_END, WINDOW_START
from harness.history import ClientPathChosen, Event, FaultEvent, NodeAddresses, Note, ProbeOp

__all__ = ["PathMeasure", "chosen_path", "node_addresses", "outage_rto", "outages", "path_added_s", "path_measures",
           "served_node"]

_KINDS = {"write": "direct-write", "read": "direct-read"}


class PathMeasure(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str  # direct, libpq, haproxy, pgbouncer+haproxy
    rto_write_s: float | None
    rto_read_s: float | None
    downtime_s: float | None  # total length of the write outages in the window
    writes_acknowledged: int


def chosen_path(events: Iterable[Event]) -> str:
    """The path the scenario's probes went through ("direct" when none was chosen)."""
    chosen = [e.path for e in events if isinstance(e, ClientPathChosen)]
    return chosen[-1] if chosen else "direct"


def served_node(op: ProbeOp, addresses: dict[str, str]) -> str | None:
    """The node that answered ``op``: its server's address when it names one, else its node."""
    if op.server is not None and op.server in addresses:
        return addresses[op.server]
    return op.node


def node_addresses(events: Iterable[Event]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in events:
        if isinstance(e, NodeAddresses):
            out.update(e.addresses)
    return out


def _window(events: list[Event]) -> tuple[float | None, float | None]:
    notes = [e for e in events if isinstance(e, Note)]
    start = next((n.at.t for n in notes if n.name == WINDOW_START), None)
    end = next((n.at.t for n in notes if n.name == WINDOW_END), None)
    return start, end


def outages(events: list[Event], probe: str, interval_s: float, threshold_s: float = 0.25) -> list[tuple[float, float]]:
    """The spans longer than the outage threshold (never below 3 probe intervals) with no
    acknowledged ``probe`` operation, inside the drill window (from the probe's first attempt:
    a probe started beside the others a little later is not out before it starts)."""
    start, end = _window(events)
    mine = [e for e in events if isinstance(e, ProbeOp) and e.probe == probe]
    acks = sorted(e.end.t for e in mine if e.outcome == "ok")
    if start is None or not acks:
        return []
    start = max(start, min(e.at.t for e in mine))
    end = end if end is not None else acks[-1]
    limit = max(threshold_s, 3 * interval_s)
    marks = [start, *(t for t in acks if start <= t <= end), end]
    return [(a, b) for a, b in zip(marks, marks[1:], strict=False) if b - a > limit]


def outage_rto(events: list[Event], probe: str, interval_s: float) -> float | None:
    """From the first fault's ``began`` to the end of the first outage that overlaps it or
    follows it (0: none; None: it lasted to the window's end, or nothing was acknowledged)."""
    faults = [e for e in events if isinstance(e, FaultEvent) and e.phase == "inject"]
    if not faults:
        return 0.0
    t_f = (faults[0].began or faults[0].at).t
    ops = [e for e in events if isinstance(e, ProbeOp) and e.probe == probe and e.outcome == "ok"]
    spans = [o for o in outages(events, probe, interval_s) if o[1] > t_f]
    if not spans:
        return 0.0 if any(e.end.t > t_f for e in ops) else None
    _, b = spans[0]
    if not any(e.end.t >= b for e in ops):
        return None  # it ran to the window's end: never came back
    return max(0.0, b - t_f)


def _row(path: str, events: list[Event], write: str, read: str, interval_s: float) -> PathMeasure:
    has_reads = any(isinstance(e, ProbeOp) and e.probe == read for e in events)
    spans = outages(events, write, interval_s)
    acks = sum(1 for e in events if isinstance(e, ProbeOp) and e.probe == write and e.outcome == "ok")
    return PathMeasure(path=path, rto_write_s=outage_rto(events, write, interval_s),
                       rto_read_s=outage_rto(events, read, interval_s) if has_reads else None,
                       downtime_s=sum(b - a for a, b in spans) if acks else None, writes_acknowledged=acks)


def path_measures(events: Iterable[Event], interval_s: float) -> list[PathMeasure]:
    """One row for the scenario's path, and one for the ideal when it ran beside it."""
    evs = list(events)
    main = chosen_path(evs)
    rows = []
    if any(isinstance(e, ProbeOp) and e.probe == "write" for e in evs):
        rows.append(_row(main, evs, "write", "read", interval_s))
    if main != "direct" and any(isinstance(e, ProbeOp) and e.probe == "direct-write" for e in evs):
        rows.append(_row("direct", evs, "direct-write", "direct-read", interval_s))
    return rows


def path_added_s(measures: list[PathMeasure], path: str, ideal: str = "direct") -> float | None:
    """How much longer the write outage was through ``path`` than through the ideal beside it."""
    by = {m.path: m for m in measures}
    a, b = by.get(path), by.get(ideal)
    if a is None or b is None or a.rto_write_s is None or b.rto_write_s is None:
        return None
    return a.rto_write_s - b.rto_write_s
