"""Steps of the Patroni + etcd topology (issue 4): bootstrap, leader faults, DCS faults, checks.

Roles ("the leader", "the sync standby", "the etcd leader") are resolved from Patroni's REST
API and etcd at injection time by :class:`harness.topology.patroni.PatroniCluster`; the generic
kill/freeze steps work on them through the Target type. Numbers come from the history.
"""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.checkers.splitbrain import split_brain
from harness.drill import Drill
from harness.errors import SetupError, TargetMissed, WaitTimeout
from harness.faults.network import CutBetween
from harness.history import ActionEvent, FaultEvent, now
from harness.steps.types import parse
from harness.topology.patroni import PatroniCluster

__all__ = ["DcsOutage"]


class DcsOutage:
    """Every etcd member killed; healed by booting them and starting etcd again."""

    name = "dcs-outage"
    one_shot = False

    def __init__(self, cluster: PatroniCluster) -> None:
        self.cluster = cluster
        self.target = ",".join(cluster.etcd_names)

    def inject(self) -> str:
        for name in self.cluster.etcd_names:
            self.cluster.node(name).kill()
        return f"killed every etcd member ({self.target})"

    def heal(self) -> str:
        for name in self.cluster.etcd_names:
            if not self.cluster.node(name).is_running():
                self.cluster.restart_patroni(name)  # boots the container and starts etcd in it
        return f"etcd started again on {self.target}"


# -- Given -------------------------------------------------------------------------------------


@given(parse("a Patroni cluster with {nodes:d} nodes and a {members:d}-member etcd"))
def _(drill: Drill, nodes: int, members: int) -> None:
    drill.use_patroni(nodes=nodes, etcd_members=members)


@given(parse("Patroni is configured with ttl {ttl:d}, loop_wait {loop_wait:d} and retry_timeout {retry_timeout:d}"))
def _(drill: Drill, ttl: int, loop_wait: int, retry_timeout: int) -> None:
    drill.use_patroni(ttl=ttl, loop_wait=loop_wait, retry_timeout=retry_timeout)


@given(parse("synchronous mode is on"))
def _(drill: Drill) -> None:
    drill.use_patroni(synchronous_mode=True)


@given(parse("synchronous mode is off"))
def _(drill: Drill) -> None:
    drill.use_patroni(synchronous_mode=False)


@given(parse("the fan-out write probe is running"))
def _(drill: Drill) -> None:
    drill.start_probes()
    drill.start_fanout()


# -- When --------------------------------------------------------------------------------------


@when(parse("I stop the DCS"))
@when(parse("I kill the DCS"))
def _(drill: Drill) -> None:
    cluster = drill.patroni
    setattr(drill, "leader_before_dcs_outage", cluster.primary)  # for "the same leader ... again"
    drill.apply(DcsOutage(cluster))


@when(parse("I start the DCS again"))
def _(drill: Drill) -> None:
    for f in [f for f in drill.faults.active if f.name == DcsOutage.name]:
        drill.faults.heal(f)


@when(parse("I cut the leader off from the DCS"))
def _(drill: Drill) -> None:
    cluster = drill.patroni
    leader = cluster.primary
    # Clients and replicas still reach it: only etcd is cut, so Patroni must demote it itself.
    drill.apply(CutBetween(drill.cluster, [leader], list(cluster.etcd_names)))
    cluster.old_primary = leader


# -- Then --------------------------------------------------------------------------------------


def _fault_target(drill: Drill, cluster: PatroniCluster) -> tuple[str, float]:
    """The leader the last fault hit, and when that fault took effect (monotonic)."""
    for e in reversed(drill.history.of(FaultEvent)):
        first = e.target.split("|")[0]  # a cut is targeted "leader|etcd members"
        if e.phase == "inject" and first in cluster.names:
            return first, e.at.t
    if cluster.old_primary is not None:
        return cluster.old_primary, now().t
    raise SetupError("no fault hit a Patroni node yet")


@then(parse("a new leader is elected within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    cluster = drill.patroni
    old, t_f = _fault_target(drill, cluster)
    left = max(0.5, timeout - (now().t - t_f))
    try:
        new = cluster.wait_new_leader(old, left)
    except WaitTimeout as exc:
        raise TargetMissed("new leader", f"none but {old} after {timeout:g} s: {exc}", f"within {timeout:g} s") from exc
    t = now()
    cluster.old_primary = old
    drill.history.add(ActionEvent(at=t, end=t, action="patroni.new_leader", target=new, outcome="ok",
                                  detail=f"{new} leads, {t.t - t_f:.2f} s after the fault on {old}"))


@then(parse("the old leader rejoins as a replica within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    cluster = drill.patroni
    old, _ = _fault_target(drill, cluster)
    t0 = now()
    if old in cluster.down:
        cluster.restart_patroni(old)  # a killed node: boot it; Patroni rewinds or reinitialises it
    try:
        cluster.wait_streaming(timeout=timeout, expect=[old])
    except WaitTimeout as exc:
        raise TargetMissed("old leader rejoin", str(exc), f"within {timeout:g} s") from exc
    drill.history.add(ActionEvent(at=t0, end=now(), action="patroni.rejoin", target=old, outcome="ok",
                                  detail=f"{old} streams from {cluster.primary} again"))


@then(parse("there was never more than one writable primary"))
@then(parse("there was no split brain"))
def _(drill: Drill) -> None:
    probe = getattr(drill, "fanout_probe", None)
    if probe is None:
        raise SetupError("the split-brain check needs the fan-out write probe (Given the fan-out write probe is running)")
    probe.stop()
    sb = split_brain(drill.history.events())
    drill.history.note("splitbrain", f"{sb.attempts} fan-out attempts, at most {sb.max_writable} writable at once, "
                                     f"{len(sb.overlaps)} overlaps")
    if not sb.ok:
        raise TargetMissed("split brain", "; ".join(o.describe() for o in sb.overlaps[:3]), "at most 1 writable node")


@then(parse("the write RTO is at least half the ttl and under the ttl plus {margin:Duration}"))
def _(drill: Drill, margin: float) -> None:
    ttl = float(drill.patroni.settings.ttl)
    m = drill.measurements()
    rto = m.rto_write_s
    if rto is None:
        raise TargetMissed("write RTO", "not measured", f"{ttl / 2:g}..{ttl + margin:g} s")
    drill.history.note("patroni.rto_vs_ttl", f"write RTO {rto:.2f} s at ttl {ttl:g} s ({rto - ttl:+.2f} s)")
    if not ttl / 2 <= rto < ttl + margin:
        raise TargetMissed("write RTO vs ttl", f"{rto:.2f} s at ttl {ttl:g}", f"{ttl / 2:g} s <= RTO < {ttl + margin:g} s")


@then(parse("the same leader accepts writes again within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """After a DCS outage: no failover happened, the leader from before it is writable again."""
    cluster = drill.patroni
    before = getattr(drill, "leader_before_dcs_outage", None)
    if before is None:
        raise SetupError("no DCS outage happened in this scenario (When I stop the DCS)")
    try:
        cluster.wait_streaming(timeout=timeout)
    except WaitTimeout as exc:
        raise TargetMissed("cluster healthy after the DCS outage", str(exc), f"within {timeout:g} s") from exc
    if cluster.primary != before or cluster.writable_nodes() != [before]:
        raise TargetMissed("leader after the DCS outage", f"{cluster.primary} (writable: {cluster.writable_nodes()})",
                           f"{before}, unchanged")
