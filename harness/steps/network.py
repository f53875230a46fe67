"""When/Then steps of network faults: partitions and degraded links.

Targets are roles ("the primary", "replica 1") resolved when the step runs. A degraded-link
step measures what it achieved right after injecting it and records that in the history
beside what was asked ("latency of node2: asked 200±20 ms, measured 204.1 ms (...)").
"""

from __future__ import annotations

import re
import time

import pytest
from pytest_bdd import then, when

from harness.drill import Drill
from harness.errors import SetupError, TargetMissed, WaitTimeout
from harness.faults.network import (
    Bandwidth,
    Bridge,
    Corrupt,
    CutBetween,
    CutFromClients,
    CutFromReplicas,
    CutGroup,
    Delay,
    Duplicate,
    Isolate,
    LinkFault,
    NetworkFault,
    OneWayCut,
    PacketLoss,
    SplitHalves,
)
from harness.history import ActionEvent, now
from harness.net.measure import (
    LinkMeasurement,
    clients_reach,
    node_reaches,
    ping_loss,
    sql_latency,
    sql_throughput,
)
from harness.net.netns import RunNetwork
from harness.net.rules import format_rate
from harness.steps.types import parse
from harness.topology.pg import sql
from harness.wait import wait_until

__all__ = ["heal_network"]


def pytest_configure(config: pytest.Config) -> None:
    # The feature's @network tag (this module is a plugin; the shared marker list is not ours).
    config.addinivalue_line("markers", "network: scenario with network faults (partitions, degraded links)")


def _members(text: str) -> list[str]:
    """'the primary, replica 1 and node3' → ['the primary', 'replica 1', 'node3']."""
    return [m.strip() for m in re.split(r",|\band\b", text) if m.strip()]


# -- the library the steps delegate to ---------------------------------------------------------


def _measured(drill: Drill, fault: LinkFault) -> LinkMeasurement | None:
    """Inject, then measure what the link does and put it in the history beside what was asked."""
    drill.apply(fault)
    try:
        m = fault.measure()
    except Exception as exc:  # noqa: BLE001 - a failed measurement is reported, the fault stays
        drill.history.note("net.measure.failed", f"{fault.name} on {fault.target}: {exc}")
        return None
    drill.history.note("net.measured", m.summary)
    return m


def heal_network(drill: Drill, node: str | None = None) -> list[str]:
    """Heal the active network faults (only those touching ``node``, if given), newest first."""
    healed = []
    for f in reversed(list(drill.faults.active)):
        if isinstance(f, NetworkFault) and (node is None or node in f.nodes):
            drill.faults.heal(f)
            healed.append(f"{f.name} on {f.target}")
    drill.history.note("net.healed", ", ".join(healed) or "no network fault was active")
    return healed


def _net(drill: Drill) -> RunNetwork:
    return RunNetwork.of(drill.cluster.runtime)


def _witness(drill: Drill, node: str) -> str:
    c = drill.cluster
    for n in [c.primary, *c.replicas()]:
        if n != node and c.node(n).is_running():
            return n
    raise SetupError(f"no other running node to measure {node} from")


def _check(drill: Drill, m: LinkMeasurement, lo: float, hi: float, unit: str, scale: float = 1.0) -> None:
    drill.history.note("net.measured", m.summary)
    shown = "nothing" if m.value is None else f"{m.value / scale:.3g} {unit}"
    ok = m.value is not None and lo <= m.value / scale <= hi
    drill.history.add(ActionEvent(at=now(), end=now(), action=f"expect.{m.what}", target=m.target,
                                  outcome="ok" if ok else "failed", detail=f"{shown}, wanted {lo:g}..{hi:g} {unit}"))
    if not ok:
        raise TargetMissed(f"{m.what} of {m.target}", f"{shown} ({m.method})", f"between {lo:g} and {hi:g} {unit}")


def _reach(drill: Drill, src: str, dst: str) -> bool:
    c = drill.cluster
    a, b = c.resolve(src), c.resolve(dst)
    ok = node_reaches(_net(drill), c.node(a), c.address(b))
    drill.history.note("net.reach", f"{a} -> {b}: {'answered' if ok else 'no answer'}")
    return ok


def _clients_reach(drill: Drill, dst: str) -> bool:
    c = drill.cluster
    b = c.resolve(dst)
    ok = clients_reach(_net(drill), c.address(b))
    drill.history.note("net.reach", f"clients -> {b}: {'answered' if ok else 'no answer'}")
    return ok


_MARKER = "pgharness_net_marker"


def _write_marker(drill: Drill) -> int:
    c = drill.cluster
    mark = time.time_ns()
    addr = c.address(c.primary)
    sql(addr, f"CREATE TABLE IF NOT EXISTS {_MARKER} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
    sql(addr, f"INSERT INTO {_MARKER} (id) VALUES (%s)", (mark,))
    return mark


def _has_marker(drill: Drill, node: str, mark: int) -> bool:
    try:
        return bool(sql(drill.cluster.address(node), f"SELECT 1 FROM {_MARKER} WHERE id = %s", (mark,), timeout=1))
    except Exception:  # noqa: BLE001 - not there yet (no table, or the node does not answer)
        return False


def write_reaches(drill: Drill, role: str, timeout: float) -> None:
    node = drill.cluster.resolve(role)
    mark, t0 = _write_marker(drill), now()
    try:
        wait_until(lambda: _has_marker(drill, node, mark), timeout=timeout, interval=0.05,
                   what=f"a write on {drill.cluster.primary} to reach {node}")
    except WaitTimeout as exc:
        drill.history.add(ActionEvent(at=t0, end=now(), action="expect.replicated", target=node, outcome="failed",
                                      detail=str(exc)))
        raise TargetMissed(f"replication to {node}", f"the write did not arrive within {timeout:g} s",
                           f"arrives within {timeout:g} s") from exc
    drill.history.add(ActionEvent(at=t0, end=now(), action="expect.replicated", target=node, outcome="ok"))


def write_does_not_reach(drill: Drill, role: str, seconds: float) -> None:
    node = drill.cluster.resolve(role)
    mark, t0 = _write_marker(drill), now()
    try:
        wait_until(lambda: _has_marker(drill, node, mark), timeout=seconds, interval=0.1,
                   what=f"a write on {drill.cluster.primary} to reach {node}")
    except WaitTimeout:
        drill.history.add(ActionEvent(at=t0, end=now(), action="expect.not_replicated", target=node, outcome="ok",
                                      detail=f"absent after {seconds:g} s"))
        return
    drill.history.add(ActionEvent(at=t0, end=now(), action="expect.not_replicated", target=node, outcome="failed"))
    raise TargetMissed(f"replication to {node}", "the write arrived", f"not within {seconds:g} s (cut off)")


# -- partitions --------------------------------------------------------------------------------


@when(parse("I isolate {target:Target} from the network"))
@when(parse("I isolate {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Cut a node off from every other node and from the clients."""
    drill.apply(Isolate(drill.cluster, target))


@when(parse("I isolate {target:Target} from the network for {duration:Duration}"))
@when(parse("I isolate {target:Target} for {duration:Duration}"))
def _(drill: Drill, target: str, duration: float) -> None:
    """Isolate a node; the cut heals by itself after the duration while later steps run."""
    drill.faults.heal_after(drill.apply(Isolate(drill.cluster, target)), duration)


@when(parse("I partition the cluster into halves"))
@when(parse("I split the cluster into halves"))
@when(parse("I partition the cluster into two halves"))
def _(drill: Drill) -> None:
    """Split the nodes into two halves that cannot reach each other."""
    drill.apply(SplitHalves(drill.cluster))


@when(parse("I partition the cluster into halves for {duration:Duration}"))
def _(drill: Drill, duration: float) -> None:
    """Split the cluster into halves; it heals after the duration."""
    drill.faults.heal_after(drill.apply(SplitHalves(drill.cluster)), duration)


@when(parse("I cut {target:Target} off from its replicas"))
@when(parse("I cut {target:Target} off from the replicas"))
@when(parse("I cut {target:Target} off from the other nodes"))
def _(drill: Drill, target: str) -> None:
    """Drop the traffic between a node and its replicas; clients still reach it."""
    drill.apply(CutFromReplicas(drill.cluster, target))


@when(parse("I cut {target:Target} off from the clients"))
@when(parse("I cut the clients off from {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Clients (the probes, the load) cannot reach the node; the nodes still can."""
    drill.apply(CutFromClients(drill.cluster, target))


@when(parse("I cut {a:Target} off from {b:Target}"))
@when(parse("I cut {a:Target} off from {b:Target} in both directions"))
def _(drill: Drill, a: str, b: str) -> None:
    """Drop the traffic between two nodes, both ways."""
    drill.apply(CutBetween(drill.cluster, [a], [b]))


@when(parse("I cut {a:Target} off from {b:Target} in one direction"))
def _(drill: Drill, a: str, b: str) -> None:
    """The second node's packets to the first are dropped; the other way works."""
    # "cut replica 1 off from the primary in one direction": the primary's packets to it are dropped.
    drill.apply(OneWayCut(drill.cluster, sender=b, receiver=a))


@when(parse("I drop the packets from {a:Target} to {b:Target}"))
def _(drill: Drill, a: str, b: str) -> None:
    """A one-way cut: the first node's packets to the second are dropped."""
    drill.apply(OneWayCut(drill.cluster, sender=a, receiver=b))


@when(parse("I bridge the cluster through {target:Target}"))
@when(parse("I partition the cluster with {target:Target} as the bridge"))
def _(drill: Drill, target: str) -> None:
    """Split the other nodes into two sides that reach each other only through this node."""
    drill.apply(Bridge(drill.cluster, target))


@when(parse('I cut the group "{members}" off from the rest'))
@when(parse('I cut the group "{members}" off from the rest of the cluster'))
def _(drill: Drill, members: str) -> None:
    """Cut the listed nodes ("the primary, replica 1 and node3") off from the others."""
    drill.apply(CutGroup(drill.cluster, _members(members)))


@when(parse("I heal the network"))
@when(parse("I heal the partition"))
@when(parse("I reconnect the network"))
@when(parse("I heal all network faults"))
def _(drill: Drill) -> None:
    """Remove every network fault of the drill."""
    heal_network(drill)


@when(parse("I reconnect {target:Target}"))
@when(parse("I heal the network of {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Remove the network faults of one node."""
    heal_network(drill, drill.cluster.resolve(target))


# -- degraded links ----------------------------------------------------------------------------


@when(parse("I add {delay:Duration} of latency with {jitter:Duration} jitter to {target:Target}"))
@when(parse("I add {delay:Duration} of latency with {jitter:Duration} of jitter to {target:Target}"))
@when(parse("I delay {target:Target} by {delay:Duration} with {jitter:Duration} jitter"))
def _(drill: Drill, delay: float, jitter: float, target: str) -> None:
    """Delay the node's packets (netem), measured right after and journaled beside what was asked."""
    _measured(drill, Delay(drill.cluster, target, delay, jitter))


@when(parse("I add {delay:Duration} of latency to {target:Target}"))
@when(parse("I delay {target:Target} by {delay:Duration}"))
def _(drill: Drill, delay: float, target: str) -> None:
    """Delay the node's packets, without jitter; measured and journaled."""
    _measured(drill, Delay(drill.cluster, target, delay))


@when(parse("I add {delay:Duration} of latency with {jitter:Duration} jitter on the link from {a:Target} to {b:Target}"))
def _(drill: Drill, delay: float, jitter: float, a: str, b: str) -> None:
    """Delay only the packets from the first node to the second, with jitter."""
    _measured(drill, Delay(drill.cluster, a, delay, jitter, peer=b))


@when(parse("I add {delay:Duration} of latency on the link from {a:Target} to {b:Target}"))
def _(drill: Drill, delay: float, a: str, b: str) -> None:
    """Delay only the packets from the first node to the second."""
    _measured(drill, Delay(drill.cluster, a, delay, peer=b))


@when(parse("I drop {percent:Number} % of packets on {target:Target}"))
@when(parse("I drop {percent:Number}% of packets on {target:Target}"))
@when(parse("I drop {percent:Number} % of the packets of {target:Target}"))
def _(drill: Drill, percent: float, target: str) -> None:
    """Random packet loss on the node's link, measured right after."""
    _measured(drill, PacketLoss(drill.cluster, target, percent))


@when(parse("I drop {percent:Number} % of packets from {a:Target} to {b:Target}"))
@when(parse("I drop {percent:Number}% of packets from {a:Target} to {b:Target}"))
def _(drill: Drill, percent: float, a: str, b: str) -> None:
    """Random packet loss on one direction of one link."""
    _measured(drill, PacketLoss(drill.cluster, a, percent, peer=b))


@when(parse("I limit {target:Target} to {rate:Rate}"))
@when(parse("I limit the bandwidth of {target:Target} to {rate:Rate}"))
def _(drill: Drill, target: str, rate: float) -> None:
    """Cap the node's bandwidth (a token bucket on its egress), measured right after."""
    _measured(drill, Bandwidth(drill.cluster, target, rate))


@when(parse("I duplicate {percent:Number} % of packets on {target:Target}"))
@when(parse("I duplicate {percent:Number}% of packets on {target:Target}"))
def _(drill: Drill, percent: float, target: str) -> None:
    """Duplicate a share of the node's packets."""
    _measured(drill, Duplicate(drill.cluster, target, percent))


@when(parse("I corrupt {percent:Number} % of packets on {target:Target}"))
@when(parse("I corrupt {percent:Number}% of packets on {target:Target}"))
def _(drill: Drill, percent: float, target: str) -> None:
    """Corrupt a share of the node's packets (TCP drops them)."""
    drill.apply(Corrupt(drill.cluster, target, percent))


# -- what the network does now (Then) ----------------------------------------------------------


@then(parse("the measured latency to {target:Target} is between {lo:Number} and {hi:Number} ms"))
@then(parse("the latency to {target:Target} is between {lo:Number} and {hi:Number} ms"))
def _(drill: Drill, target: str, lo: float, hi: float) -> None:
    """Measure the SQL round trip to the node now and hold it to the bounds."""
    c = drill.cluster
    node = c.resolve(target)
    _check(drill, sql_latency(_net(drill), node, c.address(node)), lo, hi, "ms")


@then(parse("the measured packet loss on {target:Target} is between {lo:Number} and {hi:Number} %"))
@then(parse("the measured packet loss of {target:Target} is between {lo:Number} and {hi:Number} %"))
def _(drill: Drill, target: str, lo: float, hi: float) -> None:
    """Measure the node's packet loss with pings from another node and hold it to the bounds."""
    c = drill.cluster
    node = c.resolve(target)
    w = _witness(drill, node)
    _check(drill, ping_loss(_net(drill), node, c.node(w), c.address(node)), lo, hi, "%")


@then(parse("the measured bandwidth of {target:Target} is between {lo:Number} and {hi:Number} {unit:RateUnit}"))
def _(drill: Drill, target: str, lo: float, hi: float, unit: float) -> None:
    """Measure the node's throughput with a bulk SQL transfer and hold it to the bounds."""
    c = drill.cluster
    node = c.resolve(target)
    m = sql_throughput(_net(drill), node, c.address(node), expect_bps=hi * unit)
    _check(drill, m, lo, hi, format_rate(unit).split(" ", 1)[1], scale=unit)


@then(parse("{a:Target} cannot reach {b:Target}"))
def _(drill: Drill, a: str, b: str) -> None:
    """A connection from the first node to the second gets no answer."""
    if _reach(drill, a, b):
        raise TargetMissed(f"{a} to {b}", "a connection was answered", "no answer (cut off)")


@then(parse("{a:Target} can reach {b:Target}"))
def _(drill: Drill, a: str, b: str) -> None:
    """A connection from the first node to the second is answered."""
    if not _reach(drill, a, b):
        raise TargetMissed(f"{a} to {b}", "no answer", "a connection is answered")


@then(parse("the clients cannot reach {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """A connection from the clients' side gets no answer."""
    if _clients_reach(drill, target):
        raise TargetMissed(f"clients to {target}", "a connection was answered", "no answer (cut off)")


@then(parse("the clients can reach {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """A connection from the clients' side is answered."""
    if not _clients_reach(drill, target):
        raise TargetMissed(f"clients to {target}", "no answer", "a connection is answered")


@then(parse("a write on the primary reaches {target:Target} within {timeout:Duration}"))
def _(drill: Drill, target: str, timeout: float) -> None:
    """A row written on the primary is readable on the node within the timeout."""
    write_reaches(drill, target, timeout)


@then(parse("a write on the primary does not reach {target:Target} within {seconds:Duration}"))
def _(drill: Drill, target: str, seconds: float) -> None:
    """A row written on the primary is still not on the node after that long."""
    write_does_not_reach(drill, target, seconds)
