"""Numbers per client path: the scenario's path and the ideal beside it, from the history.

A drill on a real client path (HAProxy, PgBouncer, libpq) runs its write and read probes
through the path (``probe`` "write"/"read"), and the ``direct`` probes beside it, the ideal
that knows the primary the moment the harness does ("direct-write"/"direct-read", which
every other checker leaves out). :func:`path_measures` gives one row per path that ran.

The rows are measured by the scenario's own checker (:mod:`harness.checkers.outages`, the
number definitions v2), each over its own probes: an outage is a span longer than the
threshold with no acknowledged operation (a slow acknowledgement counts: a libpq connect that
spends its connect_timeout on a dead host before the live one is outage, not a success), and
each fault's RTO runs from its ``began`` to the end of the outage it caused; the row's RTO is
the worst fault's. The path's writes count as service only where they survived (the final
read covers its table); the ideal's go to a table of their own that the final read does not
read, so every acknowledgement of theirs counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


from harness.checkers.outages import ProbeKind, fault_measures, outage_threshold, outages, worst_rto
from harness.checkers.served import node_addresses, served_node
from harness.history import ClientPathChosen, Event, ProbeOp

__all__ = ["PathMeasure", "chosen_path", "node_addresses", "path_added_s", "path_measures", "served_node"]


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


def _row(path: str, events: list[Event], write: ProbeKind, read: ProbeKind, threshold_s: float) -> PathMeasure:
    """One path's numbers by the same checker as the scenario's own (:mod:`.outages`): the same
    outages, the same per-fault RTO, the same threshold, so the path's row and the scenario's
    numbers cannot disagree, and the ideal beside it is measured exactly as the path is."""
    has_reads = any(isinstance(e, ProbeOp) and e.probe == read for e in events)
    w = outages(events, write, threshold_s=threshold_s)
    r = outages(events, read, threshold_s=threshold_s) if has_reads else None
    per_fault = fault_measures(events, w, r, detect_faults=False)
    known_w = w.status != "unknown"
    known_r = r is not None and r.status != "unknown"
    acks = sum(1 for e in events if isinstance(e, ProbeOp) and e.probe == write and e.outcome == "ok")
    return PathMeasure(path=path, rto_write_s=worst_rto([f.rto_write_s for f in per_fault]) if known_w else None,
                       rto_read_s=worst_rto([f.rto_read_s for f in per_fault]) if known_r else None,
                       downtime_s=w.downtime_s if known_w and acks else None, writes_acknowledged=acks)


def path_measures(events: Iterable[Event], interval_s: float, *,
                  outage_threshold_s: float | None = None) -> list[PathMeasure]:
    """One row for the scenario's path, and one for the ideal when it ran beside it."""
    evs = list(events)
    threshold = outage_threshold(outage_threshold_s, interval_s)
    main = chosen_path(evs)
    rows = []
    if any(isinstance(e, ProbeOp) and e.probe == "write" for e in evs):
        rows.append(_row(main, evs, "write", "read", threshold))
    if main != "direct" and any(isinstance(e, ProbeOp) and e.probe == "direct-write" for e in evs):
        rows.append(_row("direct", evs, "direct-write", "direct-read", threshold))
    return rows


def path_added_s(measures: list[PathMeasure], path: str, ideal: str = "direct") -> float | None:
    """How much longer the write outage was through ``path`` than through the ideal beside it."""
    by = {m.path: m for m in measures}
    a, b = by.get(path), by.get(ideal)
    if a is None or b is None or a.rto_write_s is None or b.rto_write_s is None:
        return None
    return a.rto_write_s - b.rto_write_s
