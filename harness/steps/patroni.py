"""Steps of the Patroni + etcd topology: bootstrap, leader faults, DCS faults, checks.

Roles ("the leader", "the sync standby", "the etcd leader") are resolved from Patroni's REST
API and etcd at injection time by :class:`harness.topology.patroni.PatroniCluster`; the generic
kill/freeze steps work on them through the Target type. Numbers come from the history.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

from pytest_bdd import given, then, when

from harness.checkers.failover import FailoverPhases, failover_phases
from harness.checkers.rpo import rpo
from harness.checkers.splitbrain import SplitBrain, rewound_writes, split_brain
from harness.checkers.takeback import took_back
from harness.drill import Drill
from harness.parts import PartBase
from harness.errors import SetupError, TargetMissed, UnknownTarget, WaitTimeout
from harness.faults.network import CutBetween
from harness.faults.patroni import DcsOutage, KillPatroni, Switchover, run_leader_kills
from harness.faults.schedule import CYCLE_SERIES, cycle_recoveries
from harness.history import ActionEvent, FaultEvent, ProbeOp, RepetitionMark, now
from harness.steps.types import parse
from harness.topology.patroni import patroni_of, use_patroni
from harness.topology.base import HaManaged, Restartable, Topology, need
from harness.wait import wait_until

__all__ = ["DcsMemory"]


class DcsMemory(PartBase):
    """What the DCS steps remember across steps: the leader when the DCS went away."""

    def __init__(self) -> None:
        self.leader_before_outage: str | None = None

    @classmethod
    def for_drill(cls, drill: Drill) -> DcsMemory:
        return cls()


# -- Given -------------------------------------------------------------------------------------


@given(parse("a Patroni cluster with {nodes:d} nodes and a {members:d}-member etcd"))
def _(drill: Drill, nodes: int, members: int) -> None:
    """A Patroni + etcd topology of that size."""
    use_patroni(drill, nodes=nodes, etcd_members=members)


@given(parse("Patroni is configured with ttl {ttl:d}, loop_wait {loop_wait:d} and retry_timeout {retry_timeout:d}"))
def _(drill: Drill, ttl: int, loop_wait: int, retry_timeout: int) -> None:
    """Patroni's timing settings (seconds)."""
    use_patroni(drill, ttl=ttl, loop_wait=loop_wait, retry_timeout=retry_timeout)


@given(parse("synchronous mode is on"))
def _(drill: Drill) -> None:
    """Patroni's synchronous_mode: a sync standby confirms every commit."""
    use_patroni(drill, synchronous_mode=True)


@given(parse("synchronous mode is off"))
def _(drill: Drill) -> None:
    """Patroni's asynchronous replication."""
    use_patroni(drill, synchronous_mode=False)


@given(parse("the fan-out write probe is running"))
def _(drill: Drill) -> None:
    """Probes, plus a writer on every node that shows which nodes accept writes (HA topologies start it with the probes)."""
    drill.start_probes()
    drill.start_fanout()


@given(parse("the fan-out write probe is running with a {timeout:Duration} timeout"))
def _(drill: Drill, timeout: float) -> None:
    """Patient writers (an application with no statement timeout): a write sent to a frozen
    node stays on its open connection and is answered when the node thaws."""
    drill.start_fanout(timeout_s=timeout)  # first: the probes start a default fan-out writer otherwise
    drill.start_probes()


# -- When --------------------------------------------------------------------------------------


@when(parse("I stop the DCS"))
@when(parse("I kill the DCS"))
def _(drill: Drill) -> None:
    """Stop every etcd member."""
    cluster = patroni_of(drill)
    drill.part(DcsMemory).leader_before_outage = cluster.primary  # for "the same leader ... again"
    drill.apply(DcsOutage(cluster))


@when(parse("I start the DCS again"))
def _(drill: Drill) -> None:
    """Start the stopped etcd members again."""
    for f in [f for f in drill.faults.active if f.name == DcsOutage.name]:
        drill.faults.heal(f)


@when(parse("I cut the leader off from the DCS"))
def _(drill: Drill) -> None:
    """Cut the leader off from etcd; clients and replicas still reach it."""
    cluster = patroni_of(drill)
    leader = cluster.primary
    # Clients and replicas still reach it: only etcd is cut, so Patroni must demote it itself.
    drill.apply(CutBetween(drill.cluster, [leader], list(cluster.etcd_names)))
    drill.deposed(leader)


@when(parse("I kill Patroni on {target:Target}"))
@when(parse("I kill Patroni but not PostgreSQL on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """SIGKILL the Patroni daemon on the node; PostgreSQL keeps running."""
    cluster = patroni_of(drill)
    name = cluster.resolve(target)
    if name == cluster.primary:
        drill.deposed(name)
    drill.apply(KillPatroni(cluster, name))


@when(parse("I start Patroni again on {target:Target}"))
@when(parse("I restart Patroni on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Start Patroni again where it was killed."""
    name = patroni_of(drill).resolve(target)
    faults = [f for f in drill.faults.active if f.name == KillPatroni.name and f.target == name]
    if not faults:
        raise SetupError(f"Patroni was not killed on {name} (When I kill Patroni on the leader)")
    for f in faults:
        drill.faults.heal(f)


def _switch(drill: Drill, target: str, how: Literal["switchover", "failover"],
            via: Literal["rest", "patronictl"]) -> None:
    cluster = patroni_of(drill)
    leader = cluster.primary
    candidate = cluster.resolve(target)  # "replica 1": the first replica in name order, now
    drill.deposed(leader)
    drill.apply(Switchover(cluster, leader, candidate, how, via))


@when(parse("I switch over to {target:Target}"))
@when(parse("I switch over to {target:Target} through the REST API"))
def _(drill: Drill, target: str) -> None:
    """A planned switchover to the node through Patroni's REST API."""
    _switch(drill, target, "switchover", "rest")


@when(parse("I switch over to {target:Target} with patronictl"))
def _(drill: Drill, target: str) -> None:
    """A planned switchover to the node with patronictl."""
    _switch(drill, target, "switchover", "patronictl")


@when(parse("I fail over to {target:Target} with patronictl"))
def _(drill: Drill, target: str) -> None:
    """A manual failover to the node with patronictl."""
    _switch(drill, target, "failover", "patronictl")


@when(parse("I fail over to {target:Target} through the REST API"))
def _(drill: Drill, target: str) -> None:
    """A manual failover to the node through Patroni's REST API."""
    _switch(drill, target, "failover", "rest")


@when(parse("I kill the leader {count:d} times, letting it rejoin each time"))
@when(parse("I kill the leader {count:d} times"))
def _(drill: Drill, count: int) -> None:
    """Kill the leader, wait for a new one and the old one's rejoin, that many times."""
    run_leader_kills(drill, count)


# -- Then --------------------------------------------------------------------------------------


def _fault_target(drill: Drill, cluster: Topology) -> tuple[str, float]:
    """The leader the last fault hit, and when that fault took effect (monotonic)."""
    for e in reversed(drill.history.of(FaultEvent)):
        first = e.target.split("|")[0]  # a cut is targeted "leader|etcd members"
        if e.phase == "inject" and first in cluster.names:
            return first, e.at.t
    if cluster.roles.old_primary is not None:
        return cluster.roles.old_primary, now().t
    raise SetupError(f"no fault hit a {cluster.kind} node yet")


@then(parse("a new leader is elected within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """Any HA manager (Patroni, pg_auto_failover): its view names another leader, writable."""
    cluster = drill.cluster
    ha = need(cluster, HaManaged, "waiting for the HA manager to elect a new leader")
    old, t_f = _fault_target(drill, cluster)
    left = max(0.5, timeout - (now().t - t_f))
    try:
        new = ha.wait_new_leader(old, left)
    except WaitTimeout as exc:
        raise TargetMissed("new leader", f"none but {old} after {timeout:g} s: {_took_back(drill)}{exc}",
                           f"within {timeout:g} s") from exc
    t = now()
    drill.deposed(old)
    drill.history.add(ActionEvent(at=t, end=t, action="patroni.new_leader", target=new, outcome="ok",
                                  detail=f"{new} leads, {t.t - t_f:.2f} s after the fault on {old}"))


@then(parse("the old leader rejoins as a replica within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """The deposed leader (booted again if it was killed) streams from the new one within the timeout."""
    cluster = drill.cluster
    ha = need(cluster, HaManaged, "waiting for the old leader to rejoin under its HA manager")
    old, _ = _fault_target(drill, cluster)
    t0 = now()
    if old in cluster.roles.down:
        # A killed node: boot it; its manager (Patroni, pg_autoctl) rewinds or reinitialises it.
        need(cluster, Restartable, "starting the killed leader again").start_again(old, deposed=True)
        drill.brought_back(old)
    try:
        _wait_unless_taken_back(drill, old, t0.t + timeout, lambda left: cluster.wait_streaming(timeout=left,
                                                                                               expect=[old]))
        # Patroni's own view says so too (a replica on the leader's timeline): the rejoin time
        # in the measurements comes from that view, which lags the stream by up to a loop.
        left = max(1.0, timeout - (now().t - t0.t))
        wait_until(lambda: failover_phases(drill.history.events()).rejoin_s is not None, timeout=left,
                   interval=0.2, what=f"{cluster.kind} to show {old} as a replica on the leader's timeline",
                   describe=lambda: str(ha.ha_view()))
    except WaitTimeout as exc:
        raise TargetMissed("old leader rejoin", f"{exc}\n--- {old}:\n{cluster.node_logs(old, 8)}",
                           f"within {timeout:g} s") from exc
    drill.history.add(ActionEvent(at=t0, end=now(), action="patroni.rejoin", target=old, outcome="ok",
                                  detail=f"{old} streams from {cluster.primary} again"))


@then(parse("every node streams from one leader within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """Converged, whoever leads: one leader, every other node streaming from it, caught up."""
    cluster = drill.cluster
    need(cluster, HaManaged, "waiting for one leader with every node streaming")
    t0 = now()
    try:
        cluster.wait_streaming(timeout=timeout)
    except WaitTimeout as exc:
        raise TargetMissed("one leader with every node streaming", f"{_took_back(drill)}{exc}",
                           f"within {timeout:g} s") from exc
    drill.history.add(ActionEvent(at=t0, end=now(), action="patroni.converged", target=cluster.primary,
                                  outcome="ok", detail=f"every other node streams from {cluster.primary}"))


@then(parse("there was never more than one writable primary"))
@then(parse("there was no split brain"))
def _(drill: Drill) -> None:
    """The fan-out writes show at most one node accepting writes at any moment."""
    sb = _split_brain(drill)
    if not sb.spans:
        # Unknown is not valid: with no acknowledged fan-out write there is no evidence either way.
        raise TargetMissed("split brain", f"no evidence: none of {sb.attempts} fan-out writes was acknowledged",
                           "at most 1 writable node, shown by acknowledged fan-out writes")
    if not sb.ok:
        raise TargetMissed("split brain", _took_back(drill) + "; ".join(o.describe() for o in sb.overlaps[:3]),
                           "at most 1 writable node")


@then(parse("the write RTO is at least half the ttl and under the ttl plus {margin:Duration}"))
def _(drill: Drill, margin: float) -> None:
    """The write RTO fits Patroni's ttl: at least half of it, under it plus the margin."""
    ttl = float(patroni_of(drill).ttl)
    m = drill.measurements()
    rto = m.rto_write_s
    if rto is None:
        raise TargetMissed("write RTO", "not measured", f"{ttl / 2:g}..{ttl + margin:g} s")
    drill.history.note("patroni.rto_vs_ttl", f"write RTO {rto:.2f} s at ttl {ttl:g} s ({rto - ttl:+.2f} s)")
    if not ttl / 2 <= rto < ttl + margin:
        raise TargetMissed("write RTO vs ttl", f"{rto:.2f} s at ttl {ttl:g}", f"{ttl / 2:g} s <= RTO < {ttl + margin:g} s")


@then(parse("the leader stopped acknowledging writes within {limit:Duration} of losing the DCS"))
def _(drill: Drill, limit: float) -> None:
    """Without failsafe mode Patroni demotes a leader that cannot renew its key: from the
    fan-out probe, the leader's last acknowledged write after the DCS went down (and before it
    came back) must come within ``limit`` of the outage, and it must have taken no writes after."""
    outage = [e for e in drill.history.of(FaultEvent) if e.fault == DcsOutage.name]
    start = next((e for e in outage if e.phase == "inject"), None)
    if start is None:
        raise SetupError("no DCS outage happened in this scenario (When I stop the DCS)")
    end = next((e.at.t for e in outage if e.phase == "heal" and e.at.t > start.at.t), now().t)
    leader = drill.part(DcsMemory).leader_before_outage
    ops = [o for o in drill.history.of(ProbeOp) if o.probe == "fanout" and o.node == leader
           and start.at.t < o.end.t < end]
    acked = [o.end.t - start.at.t for o in ops if o.outcome == "ok"]
    refused = [o for o in ops if o.outcome != "ok"]
    last = max(acked, default=0.0)
    drill.history.note("patroni.dcs_outage", f"{leader} acknowledged writes for {last:.2f} s after the DCS went "
                                             f"down, then refused {len(refused)} while it stayed down")
    if not ops:
        raise SetupError(f"the fan-out probe made no attempt on {leader} during the outage")
    if last >= limit or not refused:
        raise TargetMissed("leader read-only without the DCS", f"last write acknowledged {last:.2f} s into the "
                           f"outage, {len(refused)} refused after", f"read-only within {limit:g} s")


@then(parse("Patroni kept the same leader"))
def _(drill: Drill) -> None:
    """No leader change at all in Patroni's watched view since the fault (not even a gap)."""
    cluster = patroni_of(drill)
    phases = failover_phases(drill.history.events())
    try:
        etcd = cluster.etcd_leader()
    except UnknownTarget:
        etcd = "none"
    drill.history.note("patroni.kept_leader", f"{phases.reason}; etcd leader now {etcd}")
    if phases.old_leader is None or phases.leaders or cluster.leader_or_none() != phases.old_leader:
        raise TargetMissed("Patroni leader", phases.reason, f"{phases.old_leader} throughout")


@then(parse("the same leader accepts writes again within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """After a DCS outage: no failover happened, the leader from before it is writable again."""
    cluster = patroni_of(drill)
    before = drill.part(DcsMemory).leader_before_outage
    if before is None:
        raise SetupError("no DCS outage happened in this scenario (When I stop the DCS)")
    try:
        cluster.wait_streaming(timeout=timeout)
    except WaitTimeout as exc:
        raise TargetMissed("cluster healthy after the DCS outage", str(exc), f"within {timeout:g} s") from exc
    if cluster.primary != before or cluster.writable_nodes() != [before]:
        raise TargetMissed("leader after the DCS outage", f"{cluster.primary} (writable: {cluster.writable_nodes()})",
                           f"{before}, unchanged")


@then(parse("the split-brain check catches more than one writable primary"))
@then(parse("the harness catches two writable primaries"))
def _(drill: Drill) -> None:
    """The drill is expected to cause a split brain: the checker must see it (and say how long)."""
    sb = _split_brain(drill)
    if sb.ok:
        raise TargetMissed("split brain caught", f"none seen in {sb.attempts} fan-out attempts",
                           "two nodes acknowledging writes at once")
    drill.history.note("splitbrain.caught", "; ".join(o.describe() for o in sb.overlaps[:5]))


@then(parse("the writes acknowledged by the losing side of the split brain are counted as lost"))
def _(drill: Drill) -> None:
    """A split brain leaves one side's writes off the survivor's timeline: they must be counted.

    The losing side is every node of an overlap but the survivor (the primary of the final
    read): the deposed leader that kept acknowledging, or the new leader whose term was taken
    back. Every fan-out write a loser acknowledged inside an overlap must be missing from the
    survivor and counted, at least one write must be counted lost, and the RPO checker's lost
    acknowledged writes must include them all.
    """
    sb = _split_brain(drill)
    m = drill.measurements()
    loss = rpo(drill.history.events())
    lost = rewound_writes(drill.history.events())
    if lost is None or loss.lost_fanout is None:
        raise SetupError("no fan-out final read was recorded (is the fan-out write probe running?)")
    if sb.ok:
        raise TargetMissed("split brain", "none seen", "the drill is meant to cause one")
    losers = {n for o in sb.overlaps for n in (o.a.node, o.b.node)} - {lost.survivor}
    lost_keys = {(n, seq) for n, seq, _ in lost.lost}
    in_overlap = {(op.node, op.seq) for o in sb.overlaps for op in drill.history.of(ProbeOp)
                  if op.probe == "fanout" and op.outcome == "ok" and op.node in losers
                  and o.start <= op.end.t <= o.end}
    drill.history.note("splitbrain.lost", f"survivor {lost.survivor}, losing side {sorted(losers)}: "
                                          f"{len(in_overlap)} of its writes acknowledged inside an overlap; "
                                          f"RPO: {loss.reason}")
    if not lost.lost:
        raise TargetMissed("writes lost to the split brain", f"none counted ({loss.reason})",
                           f"the writes {', '.join(sorted(losers))} acknowledged off {lost.survivor}'s timeline")
    missed = sorted(k for k in in_overlap if k not in lost_keys)
    if missed:
        raise TargetMissed("writes lost to the split brain", f"{len(missed)} of {len(in_overlap)} acknowledged by "
                           f"the losing side during it are on {lost.survivor} or not counted (e.g. {missed[:3]})",
                           "all counted as lost")
    if m.rpo_lost_writes is None or m.rpo_lost_writes < len(lost.lost):
        raise TargetMissed("lost acknowledged writes", f"{m.rpo_lost_writes}", f">= {len(lost.lost)}")


@then(parse("the failover phases are recorded"))
def _(drill: Drill) -> None:
    """Detection, new leader, first write on it: present and in that order (from the history)."""
    m = drill.measurements()
    got = {"detection": m.ha_detection_s, "new leader": m.ha_new_leader_s, "first write": m.ha_first_write_s}
    drill.history.note("patroni.phases", m.ha_failover or "no failover phases")
    missing = [k for k, v in got.items() if v is None]
    if missing:
        raise TargetMissed("failover phases", f"{', '.join(missing)} not seen ({m.ha_failover})", "all recorded")
    d, n, w = (float(v) for v in got.values())  # type: ignore[arg-type]
    if not d <= n <= w + 1.0:  # the watcher sees the leader up to a poll (0.2 s) and a REST timeout late
        raise TargetMissed("failover phase order", m.ha_failover or "", "detection <= new leader <= first write")


@then(parse("the old leader's rejoin time is recorded"))
def _(drill: Drill) -> None:
    """Patroni's view shows when the old leader rejoined."""
    m = drill.measurements()
    if m.ha_rejoin_s is None:
        raise TargetMissed("old leader rejoin time", f"not seen ({m.ha_failover})", "recorded")


@then(parse("every node ends on the new leader's timeline"))
def _(drill: Drill) -> None:
    """Every node ends on one timeline, newer than before the failover."""
    cluster = drill.cluster
    need(cluster, HaManaged, "reading the timelines from the HA manager's view")
    phases = failover_phases(drill.history.events())
    before = {v for v in phases.timelines_before.values() if v is not None}
    after = phases.timelines_after
    drill.history.note("patroni.timelines", f"before {phases.timelines_before}, after {after}; "
                                            f"leaders: {[c.model_dump() for c in phases.leaders]}")
    if set(after) != set(cluster.names) or len(set(after.values())) != 1 or None in after.values():
        raise TargetMissed("timelines after the failover", str(after), "every node on one timeline")
    if before and next(iter(after.values())) <= max(before):  # type: ignore[operator]
        raise TargetMissed("timeline fork", f"before {phases.timelines_before}, after {after}",
                           "a new timeline after the promotion")


@then(parse("the spread of the write RTO over the cycles is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """Each repetition's write RTO listed, with mean and spread (stdev, max - min), in the history."""
    import statistics

    cycles = cycle_recoveries(drill.history)
    values = [c.write_rto_s for c in cycles]
    if not values or any(v is None for v in values):
        raise TargetMissed("write RTO per cycle", f"not measured for every cycle ({values})", "measured")
    got = [float(v) for v in values if v is not None]
    ttl = patroni_of(drill).ttl
    mean, spread = statistics.fmean(got), max(got) - min(got)
    stdev = statistics.stdev(got) if len(got) > 1 else 0.0
    drill.history.note("patroni.cycles", f"write RTO per cycle: {', '.join(f'{v:.2f} s' for v in got)}; mean "
                                         f"{mean:.2f} s (ttl {ttl} s, {mean - ttl:+.2f} s), stdev {stdev:.2f} s, "
                                         f"spread (max - min) {spread:.2f} s")
    for i, phases in enumerate(_cycle_phases(drill), 1):
        drill.history.note("patroni.cycle_phases", f"cycle {i}: {phases.reason}")
    if spread >= limit:
        raise TargetMissed("spread of the write RTO", f"{spread:.2f} s ({', '.join(f'{v:.2f}' for v in got)})",
                           f"< {limit:g} s")


def _cycle_phases(drill: Drill) -> list[FailoverPhases]:
    """Each cycle's failover phases: from its fault, over the history up to the next cycle."""
    evs = drill.history.events()
    marks = [e.at.t for e in evs if isinstance(e, RepetitionMark) and e.series == CYCLE_SERIES] + [float("inf")]
    out = []
    for lo, hi in itertools.pairwise(marks):
        fault = next((e for e in evs if isinstance(e, FaultEvent) and e.phase == "inject" and lo <= e.at.t < hi), None)
        if fault is not None:
            out.append(failover_phases(evs, fault, until=hi))
    return out


def _took_back(drill: Drill) -> str:
    """When the deposed leader took leadership back: which node, when, the abandoned timeline and
    the writes lost, as the start of a failing step's message (empty otherwise)."""
    tb = took_back(drill.history.events())
    return f"{tb.describe()}. " if tb is not None else ""


def _wait_unless_taken_back(drill: Drill, old: str, deadline: float, wait: Callable[[float], None]) -> None:
    """``wait`` for what remains until ``deadline`` in short slices, failing at once (with the
    story) when ``old`` holds the leadership again after another member led: it will never
    rejoin as a replica then, and waiting out the timeout would only hide why."""
    while True:
        left = deadline - now().t
        tb = took_back(drill.history.events())
        if tb is not None and need(drill.cluster, HaManaged, "a take-back").leader_or_none() == old:
            raise WaitTimeout(f"{old} leads again instead of rejoining: {tb.describe()}")
        try:
            wait(max(0.5, min(2.0, left)))
            return
        except WaitTimeout:
            if left <= 2.0:
                raise


def _split_brain(drill: Drill) -> SplitBrain:
    probe = drill.fanout_probe
    if probe is None:
        raise SetupError("the split-brain check needs the fan-out write probe (Given the fan-out write probe is running)")
    probe.stop()
    sb = split_brain(drill.history.events())
    drill.history.note("splitbrain", f"{sb.attempts} fan-out attempts, at most {sb.max_writable} writable at once, "
                                     f"{len(sb.overlaps)} overlaps")
    return sb
