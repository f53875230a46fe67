"""Disaster recovery across regions: lose a region, promote the DR region, bring the
lost region back as standbys, fail back, and the same repeated N times for MTTR.

Each action is recorded (``ActionEvent``/``FaultEvent``); the numbers come from
:mod:`harness.checkers.dr` over the history.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from harness.clients.part import ClientsPart
from harness.errors import SetupError
from harness.faults.region import RegionCutOff, RegionLoss
from harness.history import ActionEvent, FaultEvent, now
from harness.topology.regions import RegionCluster

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["cut_off_region", "fail_back", "lose_region", "promote_dr_region", "region_comes_back", "regions_of", "repoint_clients", "set_wan", "use_two_regions"]


def regions_of(drill: Drill) -> RegionCluster:
    cluster = drill.cluster
    if not isinstance(cluster, RegionCluster):
        raise SetupError('this step needs the two-region topology (Given a two-region deployment with the primary '
                         'in "east" and a standby in "west")')
    return cluster


def _take(drill: Drill, fault: RegionLoss | RegionCutOff) -> None:
    drill.apply(fault)
    drill.took_down(*fault.nodes)  # a region cut off is down as far as the clients can tell


def lose_region(drill: Drill, region: str) -> RegionLoss:
    fault = RegionLoss(regions_of(drill), region)
    _take(drill, fault)
    return fault


def cut_off_region(drill: Drill, region: str) -> RegionCutOff:
    """The region stays up but nobody outside reaches it (clients, the other region, the client
    path's HAProxy or PgBouncer)."""
    c = regions_of(drill)
    part = drill.maybe_part(ClientsPart)
    clients = part.component_addresses(c.region(c.check_region(region)).network) if part is not None else []
    fault = RegionCutOff(c, region, clients=clients)
    _take(drill, fault)
    return fault


def promote_dr_region(drill: Drill) -> str:
    """Promote the most advanced standby of the region without the primary, move the clients."""
    c = regions_of(drill)
    c.promote_in(c.dr_region())
    return repoint_clients(drill)


def repoint_clients(drill: Drill) -> str:
    new = regions_of(drill).repoint_clients()
    drill.clients_moved()
    return new


def region_comes_back(drill: Drill, region: str) -> str:
    """Boot every node of the region again; those that are not the primary become standbys of it
    (pg_rewind, else a base backup): a deposed primary that still takes writes included."""
    c = regions_of(drill)
    key = c.check_region(region)
    t0 = now()
    nodes = c.members[key]
    fenced = []
    cuts = [f for f in drill.faults.active if isinstance(f, RegionCutOff) and f.region == key]
    for cut in cuts:
        # Fence first, over the control plane (docker exec), while nobody can reach it yet: a
        # deposed primary reconnected to the clients would take writes the new one never sees.
        if c.region_of(c.primary) != key:
            for n in cut.nodes:
                if c.postgres_running(n):
                    c.pg_ctl(n, "-m", "fast", "-w", "stop")
                    fenced.append(n)
        drill.faults.heal(cut)
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(c.boot, nodes))
    # A region without the primary followed a deposed one: all of it is rebuilt (pg_rewind says
    # when nothing needs rewinding); with the primary, only what is down or writable.
    holds = c.region_of(c.primary) == key
    stale = [n for n in nodes if n != c.primary and (not holds or n in c.roles.down or c.in_recovery(n) is not True)]
    if c.primary in nodes and c.primary in c.roles.down:
        c.start_postgres(c.primary)
        drill.brought_back(c.primary)
    with ThreadPoolExecutor(max_workers=max(1, len(stale))) as pool:
        done = list(pool.map(lambda n: f"{n}: {c.rebuild_standby(n)}", stale))
    c.wait_streaming(timeout=60, expect=[n for n in c.replicas() if n not in c.roles.down])
    detail = (f"{key} back: " + (f"fenced {', '.join(fenced)}; " if fenced else "")
              + ("; ".join(done) or "nothing to rebuild") + f"; streaming from {c.primary}")
    drill.history.add(ActionEvent(at=t0, end=now(), action="region.return", target=key, outcome="ok", detail=detail))
    if not cuts:  # a cut is healed (and recorded) by the fault set; a crash is healed here
        drill.history.add(FaultEvent(at=now(), fault="region-loss", target=f"region {key}", phase="heal",
                                     detail=detail, began=t0))
    return detail


def fail_back(drill: Drill, region: str) -> str:
    """Switch the primary back to ``region`` (planned: no acknowledged write lost), then every
    other node follows it."""
    c = regions_of(drill)
    new = c.switch_over(region)
    drill.clients_moved()
    c.follow_primary()
    return new


# -- configuration (Given) ---------------------------------------------------------------------


def use_two_regions(drill: Drill, primary: str, standby: str) -> None:
    """The drill's topology becomes two regions named so (the environment's, else two-region.yaml's)."""
    from pydantic import ValidationError

    from harness.environment import RegionsSection, load_environment

    if drill.topology_started:
        raise SetupError("the two-region Given must come before the topology starts (probes, faults)")
    env = drill.env if drill.env.regions is not None else load_environment("two-region")
    assert env.regions is not None
    try:
        regions = RegionsSection.model_validate({**env.regions.model_dump(), "primary": primary, "standby": standby})
    except ValidationError as exc:
        raise SetupError(f"regions {primary!r} and {standby!r}: two different names of lower-case letters and "
                         f"digits are needed ({exc.errors()[0]['msg']})") from exc
    drill.use_environment(env.model_copy(update={"regions": regions}))


def set_wan(drill: Drill, a: str, b: str, **changes: object) -> str:
    """Change the WAN link's settings: in the environment before the start, on the router after."""
    from pydantic import ValidationError

    from harness.environment import WanSettings

    regions = drill.env.regions
    if regions is None:
        raise SetupError('the WAN link needs the two-region topology (Given a two-region deployment ...) first')
    names = {regions.primary, regions.standby}
    for r in (a, b):
        if r.strip().lower() not in names:
            raise SetupError(f"no region named {r!r}: this deployment has regions {regions.primary!r} and "
                             f"{regions.standby!r}")
    if a.strip().lower() == b.strip().lower():
        raise SetupError(f"a WAN link joins two regions, not {a!r} to itself")
    try:
        wan = WanSettings.model_validate({**regions.wan.model_dump(), **changes})
    except ValidationError as exc:
        raise SetupError(f"the WAN link between {a!r} and {b!r}: {exc.errors()[0]['msg']}") from exc
    if not drill.topology_started:
        drill.use_environment(drill.env.model_copy(update={"regions": regions.model_copy(update={"wan": wan})}))
        return "set for the start"
    c = regions_of(drill)
    assert c.wan is not None
    t0 = now()
    done = c.wan.shape(wan)
    drill.history.add(ActionEvent(at=t0, end=now(), action="wan.set", target=" <-> ".join(c.members), outcome="ok",
                                  detail=done))
    return done
