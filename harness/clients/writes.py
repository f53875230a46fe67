"""Which writes the client path sent where: per server, and to the deposed primary.

Each write through a path names the server that ran it (``ProbeOp.server``, the address
``inet_server_addr()`` returned), and the history maps addresses to nodes
(``NodeAddresses``). During a split brain (the old primary cut off or frozen, a replica
promoted, the old one still a primary) a path whose check only asks "are you a primary?"
may send writes to both. :func:`path_writes` counts, from the history alone, the
acknowledged writes the path sent to each server, and those it sent to the deposed primary
after another node became primary (they are on the deposed primary only: the new one never
saw them).

The deposed primary is the node that answered the writes just before the first fault; it
counts as deposed from the end of the harness's failover (``ActionEvent`` "failover") or the
first HA view naming another leader, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.paths import chosen_path, node_addresses, served_node
from harness.history import ActionEvent, Event, FaultEvent, HaView, ProbeOp, seq_ranges

__all__ = ["PathWrites", "ServerWrites", "path_writes"]


class ServerWrites(BaseModel):
    model_config = ConfigDict(frozen=True)
    node: str  # the node whose address answered, or the path's name when none was named
    address: str | None
    writes: int  # acknowledged writes through the path in the window
    after_deposed: int  # of them, acknowledged after another node became primary


class PathWrites(BaseModel):
    """The section ``client_path_writes``: where the path sent its acknowledged writes."""

    model_config = ConfigDict(frozen=True)
    path: str
    deposed: str | None  # the primary before the first fault
    new_primary: str | None  # the node that became primary after it (None: none did)
    deposed_after_s: float | None  # from the first fault's began to another node being primary
    servers: list[ServerWrites]
    to_deposed: int  # acknowledged writes the path sent to the deposed primary after it was deposed
    to_deposed_seqs: list[tuple[int, int]]  # their sequence numbers, as inclusive ranges


def _deposed(events: list[Event], addresses: dict[str, str], t_fault: float) -> str | None:
    """The node that answered the last acknowledged write before the fault (the path's or the ideal's)."""
    before = [e for e in events if isinstance(e, ProbeOp) and e.probe in ("write", "direct-write")
              and e.outcome == "ok" and e.end.t <= t_fault]
    named = [(e.end.t, served_node(e, addresses)) for e in before]
    named = [(t, n) for t, n in named if n is not None and n in addresses.values()]
    return max(named)[1] if named else None


#: The harness's own promotions: a failover, and the DR region's standby promoted (two regions).
PROMOTIONS = ("failover", "dr.promote")


def _another_primary(events: list[Event], deposed: str | None, t_fault: float) -> tuple[str, float] | None:
    for e in events:
        if isinstance(e, ActionEvent) and e.action in PROMOTIONS and e.outcome == "ok" and e.target != deposed \
                and e.end.t >= t_fault:
            return e.target, e.end.t
        if isinstance(e, HaView) and not e.unreachable and e.leader is not None and e.leader != deposed \
                and e.at.t >= t_fault:
            return e.leader, e.at.t
    return None


def path_writes(events: Iterable[Event]) -> PathWrites | None:
    """Per server, the acknowledged writes the path sent there; None without a fault or path writes."""
    evs = sorted(events, key=lambda e: e.at.t)
    faults = [e for e in evs if isinstance(e, FaultEvent) and e.phase == "inject"]
    mine = [e for e in evs if isinstance(e, ProbeOp) and e.probe == "write" and e.outcome == "ok"]
    if not faults or not mine:
        return None
    addresses = node_addresses(evs)
    by_node = {n: a for a, n in addresses.items()}
    t_fault = (faults[0].began or faults[0].at).t
    deposed = _deposed(evs, addresses, t_fault)
    moved = _another_primary(evs, deposed, t_fault)
    since = moved[1] if moved is not None else None
    counts: dict[str, list[int]] = {}
    late: dict[str, list[int]] = {}
    for op in mine:
        node = served_node(op, addresses) or "unknown"
        counts.setdefault(node, []).append(op.seq)
        if since is not None and op.end.t > since:
            late.setdefault(node, []).append(op.seq)
    servers = [ServerWrites(node=n, address=by_node.get(n), writes=len(seqs), after_deposed=len(late.get(n, [])))
               for n, seqs in sorted(counts.items())]
    to_deposed = late.get(deposed, []) if deposed is not None else []
    return PathWrites(path=chosen_path(evs), deposed=deposed, new_primary=moved[0] if moved else None,
                      deposed_after_s=None if since is None else max(0.0, since - t_fault), servers=servers,
                      to_deposed=len(to_deposed), to_deposed_seqs=seq_ranges(to_deposed))
