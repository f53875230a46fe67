"""Steps of disaster recovery across two regions.

Region names are parameters ("east", "west"); a name the deployment does not have is an
error naming the ones it has. Numbers come from :mod:`harness.checkers.dr` and
:mod:`harness.checkers.exposure` over the history.
"""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.checkers.dr import dr_rto, mttr, switchover_outages
from harness.checkers.exposure import ExposureResult, rpo_exposure
from harness.checkers.splitbrain import split_brain
from harness.drill import Drill
from harness.environment import WanSettings
from harness.errors import SetupError, TargetMissed
from harness.history import ActionEvent, now
from harness.faults.region import WanCut, WanDegrade
from harness.net.rules import parse_rate
from harness.recovery.regions import (
    cut_off_region,
    fail_back,
    lose_region,
    promote_dr_region,
    region_comes_back,
    regions_of,
    set_wan,
    use_two_regions,
)
from harness.repetition import repeat_region_drill
from harness.steps.types import parse
from harness.topology.regions import RegionCluster

# -- Given -------------------------------------------------------------------------------------


@given(parse('a two-region deployment with the primary in "{primary}" and a standby in "{standby}"'))
def _(drill: Drill, primary: str, standby: str) -> None:
    """Two regions, each its own Docker network, joined by a WAN link."""
    use_two_regions(drill, primary, standby)


@given(parse('the WAN link between "{a}" and "{b}" has {latency:Duration} latency'))
@when(parse('the WAN link between "{a}" and "{b}" has {latency:Duration} latency'))
def _(drill: Drill, a: str, b: str, latency: float) -> None:
    """The WAN link's round-trip latency."""
    set_wan(drill, a, b, latency_ms=latency * 1000, jitter_ms=0)


@given(parse('the WAN link between "{a}" and "{b}" has {latency:Duration} latency and {rate} of bandwidth'))
@when(parse('the WAN link between "{a}" and "{b}" has {latency:Duration} latency and {rate} of bandwidth'))
def _(drill: Drill, a: str, b: str, latency: float, rate: str) -> None:
    """The WAN link's latency and bandwidth ("1 gbit/s")."""
    set_wan(drill, a, b, latency_ms=latency * 1000, jitter_ms=0, bandwidth=rate)


@given(parse('commits in "{a}" wait for the standby in "{b}"'))
def _(drill: Drill, a: str, b: str) -> None:
    """Synchronous commits across the WAN (remote_apply)."""
    regions = drill.env.regions
    if drill.topology_started:
        raise SetupError("synchronous commits across the WAN must be asked for before the topology starts")
    if regions is None or (a, b) != (regions.primary, regions.standby):
        have = f"{regions.primary!r} and {regions.standby!r}" if regions else "none yet"
        raise SetupError(f'synchronous commits need the primary in {a!r} and the standby in {b!r} (regions: {have})')
    drill.use_environment(drill.env.model_copy(update={"regions": regions.model_copy(update={"replication": "sync"})}))


# -- When --------------------------------------------------------------------------------------


def _link(drill: Drill, a: str, b: str) -> RegionCluster:
    c = regions_of(drill)
    if c.check_region(a) == c.check_region(b):
        raise SetupError(f"a WAN link joins two regions, not {a!r} to itself")
    return c


@when(parse('region "{region}" is lost'))
def _(drill: Drill, region: str) -> None:
    """Every node of the region crashes at once (docker kill)."""
    lose_region(drill, region)


@when(parse('region "{region}" is cut off'))
def _(drill: Drill, region: str) -> None:
    """Nobody outside reaches the region (clients, the other region); its nodes keep running."""
    cut_off_region(drill, region)


@when(parse('region "{region}" comes back'))
def _(drill: Drill, region: str) -> None:
    """Boot the region's nodes again; all but the primary follow it (pg_rewind, else a base backup)."""
    region_comes_back(drill, region)


@when(parse('I fail back to region "{region}"'))
def _(drill: Drill, region: str) -> None:
    """Switch the primary back to the region (planned: no acknowledged write lost); the rest follow."""
    fail_back(drill, region)


@when(parse("the harness promotes the DR standby"))
def _(drill: Drill) -> None:
    """Promote the most advanced standby of the DR region and move the clients to it."""
    promote_dr_region(drill)


@when(parse('the WAN link between "{a}" and "{b}" is lost'))
@when(parse('the WAN link between "{a}" and "{b}" is cut'))
def _(drill: Drill, a: str, b: str) -> None:
    """Cut the WAN link."""
    c = _link(drill, a, b)
    drill.apply(WanCut(c))


@when(parse('the WAN link between "{a}" and "{b}" is restored'))
@when(parse('the WAN link between "{a}" and "{b}" comes back'))
def _(drill: Drill, a: str, b: str) -> None:
    """Heal the WAN cut or degradation."""
    _link(drill, a, b)
    cuts = [f for f in drill.faults.active if isinstance(f, (WanCut, WanDegrade))]
    if not cuts:
        raise SetupError("the WAN link is neither cut nor degraded")
    for f in reversed(cuts):
        drill.faults.heal(f)


@when(parse('the WAN link between "{a}" and "{b}" slows to {latency:Duration} latency and {rate} of bandwidth'))
def _(drill: Drill, a: str, b: str, latency: float, rate: str) -> None:
    """Degrade the WAN link's latency and bandwidth."""
    c = _link(drill, a, b)
    parse_rate(rate)
    drill.apply(WanDegrade(c, WanSettings(latency_ms=latency * 1000, bandwidth=rate)))


@when(parse('the WAN link between "{a}" and "{b}" loses {percent:Number} % of packets'))
def _(drill: Drill, a: str, b: str, percent: float) -> None:
    """Packet loss on the WAN link."""
    c = _link(drill, a, b)
    assert c.wan is not None
    if not 0 < percent < 100:
        raise SetupError(f"a WAN loss between 0 and 100 %, not {percent:g} %")
    drill.apply(WanDegrade(c, WanSettings.model_validate({**c.wan.settings.model_dump(), "loss_pct": percent})))


@when(parse('I run {times:d} drills of losing region "{region}" with runbook "{runbook}"'))
def _(drill: Drill, times: int, region: str, runbook: str) -> None:
    """Lose the region, recover it with the runbook and fail back, that many times."""
    repeat_region_drill(drill, region, runbook, times)


# -- Then --------------------------------------------------------------------------------------


@then(parse("the DR RTO is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """From the region loss to writes succeeding in the DR region is under the limit."""
    drill.measurements()  # ends the window: its numbers go into the summary too
    r = dr_rto(drill.history)
    drill.history.note("dr.rto", r.reason)
    if r.value_s is None or r.value_s >= limit:
        raise TargetMissed("DR RTO", r.reason, f"< {limit:g} s")


def _exposure(drill: Drill) -> ExposureResult:
    c = regions_of(drill)
    if c.exposure is not None:
        c.exposure.stop()
    r = rpo_exposure(drill.history)
    drill.history.note("rpo_exposure", r.reason)
    if r.max_s is None:
        raise TargetMissed("RPO exposure", r.reason, "measured")
    return r


@then(parse("the RPO exposure stayed under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """At every sample, the acknowledged writes not yet in the DR region span less than the limit."""
    r = _exposure(drill)
    if r.max_s is None or r.max_s >= limit:
        raise TargetMissed("RPO exposure", r.reason, f"< {limit:g} s at every sample")


@then(parse("the RPO exposure reached at least {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """At some sample the exposure reached the limit (the WAN lagged)."""
    r = _exposure(drill)
    if r.max_s is None or r.max_s < limit:
        raise TargetMissed("RPO exposure", r.reason, f"reaches {limit:g} s")


@then(parse("no acknowledged write was ever at risk of a region loss"))
def _(drill: Drill) -> None:
    """No sample found an acknowledged write missing from the DR region."""
    r = _exposure(drill)
    if r.max_writes:
        raise TargetMissed("acknowledged writes not yet in the DR region", r.reason, "none at any sample")


@then(parse('the primary is in region "{region}"'))
def _(drill: Drill, region: str) -> None:
    """The only writable node is in that region."""
    c = regions_of(drill)
    key = c.check_region(region)
    writable = c.writable_nodes()
    if c.region_of(c.primary) != key or writable != [c.primary]:
        raise TargetMissed("primary region", f"primary {c.primary} in {c.region_of(c.primary)}, writable: {writable}",
                           f"the only writable node is in {key}")


@then(parse("only one region accepted writes at any time"))
def _(drill: Drill) -> None:
    """The fan-out writes show no two regions accepting writes at once."""
    c = regions_of(drill)
    probe = drill.fanout_probe
    if probe is None:
        raise SetupError("this check needs the fan-out write probe (Given the fan-out write probe is running)")
    probe.stop()
    sb = split_brain(drill.history.events())
    by_region: dict[str, int] = {}
    for span in sb.spans:
        by_region[c.region_of(span.node)] = by_region.get(c.region_of(span.node), 0) + span.acks
    overlaps = [o for o in sb.overlaps if c.region_of(o.a.node) != c.region_of(o.b.node)]
    drill.history.note("splitbrain.regions", f"{sb.attempts} fan-out attempts; acknowledged by region: {by_region}; "
                                             f"{len(overlaps)} overlaps across regions")
    if not by_region:
        raise TargetMissed("writes by region", "no fan-out write was acknowledged anywhere: nothing to judge",
                           "writes accepted in one region at a time")
    if overlaps or not sb.ok:
        raise TargetMissed("split brain", "; ".join(o.describe() for o in sb.overlaps[:3]),
                           "writes accepted in one region at a time")


@then(parse('the standby in "{region}" catches up within {timeout:Duration}'))
def _(drill: Drill, region: str, timeout: float) -> None:
    """The region's standbys stream and catch up within the timeout."""
    c = regions_of(drill)
    want = [n for n in c.members[c.check_region(region)] if n != c.primary and n not in c.roles.down]
    try:
        c.wait_streaming(timeout=timeout, expect=want)
    except SetupError as exc:
        raise TargetMissed(f"standbys in {region}", str(exc), f"caught up within {timeout:g} s") from exc


@then(parse('the measured WAN round trip between "{a}" and "{b}" is between {lo:Number} and {hi:Number} ms'))
def _(drill: Drill, a: str, b: str, lo: float, hi: float) -> None:
    """Measure the WAN round trip now and hold it to the bounds."""
    m = _link(drill, a, b).measure_wan()
    ok = m.value is not None and lo <= m.value <= hi
    drill.history.add(ActionEvent(at=now(), end=now(), action="expect.latency", target=m.target,
                                  outcome="ok" if ok else "failed", detail=m.summary))
    if not ok:
        raise TargetMissed(m.target, m.summary, f"between {lo:g} and {hi:g} ms")


@then(parse("the fail back took under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """The fail back's switchover and its write outage are each under the limit."""
    drill.measurements()  # ends the window: its numbers go into the summary too
    outages = switchover_outages(drill.history)
    if not outages:
        raise SetupError('no fail back ran (When I fail back to region "...")')
    for fb, r in outages:
        took = fb.end.t - fb.at.t
        drill.history.note("failback.took", f"switchover {took:.3f} s; write outage: {r.reason}")
        if took >= limit or r.value_s is None or r.value_s >= limit:
            raise TargetMissed("fail back", f"switchover {took:.3f} s; {r.reason}", f"< {limit:g} s")


@then(parse("the MTTR over {times:d} drills is under {limit:Duration}"))
def _(drill: Drill, times: int, limit: float) -> None:
    """The mean time to recovery over the repeated drills is under the limit."""
    drill.targets = drill.targets.with_(max_mttr_s=limit)  # the summary judges it against this too
    drill.asserted.add("max_mttr_s")
    drill.measurements()  # ends the window: its numbers go into the summary too
    m = mttr(drill.history)
    lines = [f"#{r.index}: detection {'n/a' if r.detection_s is None else f'{r.detection_s:.2f} s'}, "
             f"recovery {'n/a' if r.recovery_s is None else f'{r.recovery_s:.2f} s'}, "
             f"fail back outage {'n/a' if r.switchover_s is None else f'{r.switchover_s:.2f} s'}"
             for r in m.repetitions]
    drill.history.note("mttr", m.reason + "\n" + "\n".join(lines))
    if len(m.repetitions) != times:
        raise SetupError(f"the MTTR over {times} drills needs {times} repetitions; {len(m.repetitions)} ran")
    if m.mttr_s is None or m.status != "valid" or m.mttr_s >= limit:
        raise TargetMissed("MTTR", m.reason, f"< {limit:g} s over {times} drills")
