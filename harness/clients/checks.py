"""What the client-path steps do with a drill: faults on the path's components, its targets.

Kept here (not in the drill) so that the drill only knows a part named ``clients``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checkers.paths import PathMeasure, path_added_s
from harness.clients.faults import FreezeComponent, KillComponent, RestartComponent, TakePool
from harness.errors import SetupError, TargetMissed
from harness.faults import Fault

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["heal_component", "path_fault", "require_path_added", "require_path_rto", "take_pool"]

_FAULTS: dict[str, type[KillComponent] | type[FreezeComponent] | type[RestartComponent]] = {
    "kill": KillComponent, "freeze": FreezeComponent, "restart": RestartComponent}


def _part(drill: Drill) -> object:
    drill.cluster  # noqa: B018 - the topology starts first
    part = drill.client_part()
    if part is None:
        raise SetupError("this drill's client path is direct: it runs no HAProxy or PgBouncer "
                         "(Given clients connect through HAProxy)")
    return part


def path_fault(drill: Drill, kind: str, component: str) -> Fault:
    """Kill, freeze or restart ``component`` ("haproxy" or "pgbouncer") of the client path."""
    from harness.clients.part import ClientsPart

    part = _part(drill)
    assert isinstance(part, ClientsPart)
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
    from harness.clients.part import ClientsPart

    part = _part(drill)
    assert isinstance(part, ClientsPart)
    part.component("pgbouncer")
    size = part.settings.pgbouncer.default_pool_size + part.settings.pgbouncer.reserve_pool_size
    return drill.apply(TakePool(part.load_conninfo(), size))


def _rows(drill: Drill) -> list[PathMeasure]:
    m = drill.measurements()
    return m.paths


def require_path_rto(drill: Drill, limit_s: float) -> float:
    m = drill.measurements()
    row = next((p for p in m.paths if p.path == m.client_path), None)
    if row is None:
        raise SetupError(f"no probe ran through the client path {m.client_path}")
    if row.rto_write_s is None or row.rto_write_s >= limit_s:
        got = "service never came back" if row.rto_write_s is None else f"{row.rto_write_s:.2f} s"
        raise TargetMissed(f"write RTO through {m.client_path}", got, f"< {limit_s:g} s")
    return row.rto_write_s


def require_path_added(drill: Drill, limit_s: float) -> float:
    m = drill.measurements()
    if m.client_path == "direct":
        raise SetupError("the client path is direct: nothing to compare with the ideal (choose a path)")
    added = path_added_s(m.paths, m.client_path)
    if added is None:
        have = ", ".join(f"{p.path}: {p.rto_write_s}" for p in m.paths)
        raise TargetMissed(f"write RTO added by {m.client_path}", f"not measured ({have or 'no direct probe beside it'})",
                           f"<= {limit_s:g} s")
    if added > limit_s:
        raise TargetMissed(f"write RTO added by {m.client_path}", f"{added:.2f} s", f"<= {limit_s:g} s")
    return added
