"""What the client-path steps do with a drill: faults on the path's components, its targets.

Kept here (not in the drill) so that the drill only knows a part named ``clients``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checkers.paths import path_added_s
from harness.clients.faults import FreezeComponent, KillComponent, RestartComponent, TakePool
from harness.clients.part import ClientsPart
from harness.clients.writes import PathWrites, path_writes
from harness.errors import SetupError, TargetMissed
from harness.faults import Fault
from harness.topology.pg import sql

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["heal_component", "path_fault", "require_deposed_writes_only_there", "require_path_added",
           "require_path_downtime", "require_path_rto", "require_writes_to_deposed", "require_writes_to_primary",
           "take_pool", "writes_by_node"]

_FAULTS: dict[str, type[KillComponent] | type[FreezeComponent] | type[RestartComponent]] = {
    "kill": KillComponent, "freeze": FreezeComponent, "restart": RestartComponent}


def _part(drill: Drill) -> ClientsPart:
    part = drill.maybe_part(ClientsPart)
    if part is None or not part.real:
        raise SetupError("this drill's client path is direct: it runs no HAProxy or PgBouncer "
                         "(Given clients connect through HAProxy)")
    part.primary_endpoint(drill.cluster)  # started on first use
    return part


def path_fault(drill: Drill, kind: str, component: str) -> Fault:
    """Kill, freeze or restart ``component`` ("haproxy" or "pgbouncer") of the client path."""
    part = _part(drill)
    fault = _FAULTS[kind](part.component(component))
    return drill.apply(fault)


def heal_component(drill: Drill, component: str) -> list[str]:
    """Heal the faults on ``component`` (start it again, thaw it)."""
    done = []
    for fault in [f for f in drill.faults.active if f.target == component]:
        drill.faults.heal(fault)
        done.append(fault.name)
    if not done:
        raise SetupError(f"no fault on {component} to undo")
    return done


def take_pool(drill: Drill) -> Fault:
    """Take every server connection of PgBouncer's pool with sessions idle in a transaction."""
    part = _part(drill)
    part.component("pgbouncer")
    size = part.settings.pgbouncer.default_pool_size + part.settings.pgbouncer.reserve_pool_size
    return drill.apply(TakePool(part.service_conninfo(), size))


def require_path_rto(drill: Drill, limit_s: float, *, path: str | None = None, at_least: bool = False) -> float:
    """The write RTO through ``path`` (default: the drill's) is under ``limit_s`` (or at least it)."""
    m = drill.measurements()
    name = path or m.client_path
    row = next((p for p in m.paths if p.path == name), None)
    if row is None:
        ran = ", ".join(p.path for p in m.paths) or "none"
        raise SetupError(f"no probe ran through the client path {name} (paths that ran: {ran})")
    value = row.rto_write_s
    if at_least:
        if value is not None and value < limit_s:
            raise TargetMissed(f"write RTO through {name}", f"{value:.2f} s", f">= {limit_s:g} s")
    elif value is None or value >= limit_s:
        got = "service never came back" if value is None else f"{value:.2f} s"
        raise TargetMissed(f"write RTO through {name}", got, f"< {limit_s:g} s")
    return value if value is not None else float("inf")


def require_path_downtime(drill: Drill, limit_s: float, *, path: str) -> float:
    """The total write outage through ``path`` in the window is under ``limit_s``."""
    m = drill.measurements()
    row = next((p for p in m.paths if p.path == path), None)
    if row is None:
        ran = ", ".join(p.path for p in m.paths) or "none"
        raise SetupError(f"no probe ran through the client path {path} (paths that ran: {ran})")
    if row.downtime_s is None or row.downtime_s >= limit_s:
        got = "no write acknowledged" if row.downtime_s is None else f"{row.downtime_s:.2f} s"
        raise TargetMissed(f"write downtime through {path}", got, f"< {limit_s:g} s")
    return row.downtime_s


def writes_by_node(drill: Drill) -> dict[str, int]:
    """Acknowledged writes through the drill's path after the first fault, by the node that ran
    them (each write names its server): after a split brain, which writes went where."""
    from harness.checkers.paths import node_addresses, served_node
    from harness.history import FaultEvent, ProbeOp

    m = drill.measurements()
    events = drill.history.events()
    addresses = node_addresses(events)
    faults = [f for f in drill.history.of(FaultEvent) if f.phase == "inject"]
    # Sent after the fault took effect (its ``at``): one sent in its window may still land.
    since = faults[0].at.t if faults else -float("inf")
    counts: dict[str, int] = {}
    for op in drill.history.of(ProbeOp):
        if op.probe == "write" and op.outcome == "ok" and op.at.t > since:
            node = served_node(op, addresses) or "unknown"
            counts[node] = counts.get(node, 0) + 1
    drill.history.note("client_path.writes", f"through {m.client_path} after the fault: "
                       + (", ".join(f"{n}: {c}" for n, c in sorted(counts.items())) or "none acknowledged"))
    return counts


def require_writes_to_primary(drill: Drill) -> dict[str, int]:
    counts = writes_by_node(drill)
    primary = drill.cluster.primary
    elsewhere = {n: c for n, c in counts.items() if n != primary}
    if elsewhere or not counts:
        got = ", ".join(f"{c} to {n}" for n, c in sorted(counts.items())) or "no acknowledged write"
        raise TargetMissed("writes through the client path after the fault", got, f"all to {primary}")
    return counts


def require_path_added(drill: Drill, limit_s: float, *, at_least: bool = False) -> float:
    m = drill.measurements()
    if m.client_path == "direct":
        return 0.0  # the ideal adds nothing to itself
    added = path_added_s(m.paths, m.client_path)
    if added is None:
        have = ", ".join(f"{p.path}: {p.rto_write_s}" for p in m.paths)
        raise TargetMissed(f"write RTO added by {m.client_path}", f"not measured ({have or 'no direct probe beside it'})",
                           f"<= {limit_s:g} s")
    if at_least and added < limit_s:
        raise TargetMissed(f"write RTO added by {m.client_path}", f"{added:.2f} s", f">= {limit_s:g} s")
    if not at_least and added > limit_s:
        raise TargetMissed(f"write RTO added by {m.client_path}", f"{added:.2f} s", f"<= {limit_s:g} s")
    return added


def _path_writes(drill: Drill) -> PathWrites:
    _part(drill)
    got = path_writes(drill.history.events())
    if got is None:
        raise SetupError("no fault was injected, or no write went through the client path: "
                         "nothing to say about a deposed primary")
    where = ", ".join(f"{s.node}: {s.writes} ({s.after_deposed} after it was deposed)" for s in got.servers)
    drill.history.note("client_path.deposed", f"through {got.path}: deposed primary {got.deposed}, new primary "
                       f"{got.new_primary}; writes by server: {where}; to the deposed primary: {got.to_deposed}")
    return got


def require_writes_to_deposed(drill: Drill, *, expected: bool) -> PathWrites:
    """The path sent acknowledged writes to the deposed primary after another node became primary
    (``expected``), or it sent none there."""
    got = _path_writes(drill)
    if got.new_primary is None:
        raise TargetMissed("a new primary beside the deposed one", "no other node became primary",
                           "a failover or a new leader")
    what = f"writes through {got.path} to the deposed primary {got.deposed} after {got.new_primary} was primary"
    if expected and got.to_deposed == 0:
        raise TargetMissed(what, "none", "at least one")
    if not expected and got.to_deposed:
        raise TargetMissed(what, f"{got.to_deposed} (seq {_ranges(got.to_deposed_seqs)})", "none")
    return got


def _ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:6]) + (" ..." if len(ranges) > 6 else "")


def require_deposed_writes_only_there(drill: Drill) -> tuple[int, int]:
    """Read back, with connections of its own to each node (not the probes' view), that the writes
    the path sent to the deposed primary are on it and missing from the new primary:
    (found on the deposed primary, found on the new one)."""
    got = require_writes_to_deposed(drill, expected=True)
    assert got.deposed is not None and got.new_primary is not None
    seqs = [s for a, b in got.to_deposed_seqs for s in range(a, b + 1)]
    table = drill.env.probe.table
    c = drill.cluster

    def present(node: str) -> int:
        rows = sql(c.address(node), f"SELECT count(*) FROM {table} WHERE seq = ANY(%s)", (seqs,), timeout=5)
        return int(rows[0][0])

    on_deposed, on_new = present(got.deposed), present(got.new_primary)
    drill.history.note("client_path.deposed_read", f"of {len(seqs)} writes the path sent to {got.deposed} after it "
                       f"was deposed: {on_deposed} on {got.deposed}, {on_new} on {got.new_primary}")
    if on_deposed != len(seqs) or on_new:
        raise TargetMissed(f"the {len(seqs)} writes sent to the deposed primary {got.deposed}",
                           f"{on_deposed} on it, {on_new} on {got.new_primary}",
                           f"all on {got.deposed}, none on {got.new_primary}")
    return on_deposed, on_new
