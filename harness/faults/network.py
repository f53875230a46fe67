"""Network faults: partitions and degraded links, inside the nodes' network namespaces.

Partitions (:class:`Isolate`, :class:`SplitHalves`, :class:`CutBetween`, :class:`OneWayCut`,
:class:`Bridge`, :class:`CutFromReplicas`, :class:`CutFromClients`, :class:`CutGroup`) put one
private nft table (``inet pgharness_<id>``) in each affected node; healing deletes it.
Degraded links, per node (its egress, like netem on its interface) or per pair (its packets
to one peer):

=================  =========================================================================
fault              how, on a kernel without netem
=================  =========================================================================
:class:`Delay`     iptables NFQUEUE rule + the harness's delayer process (delay ± jitter)
:class:`PacketLoss`   nft ``numgen random`` drop
:class:`Bandwidth` tc ``tbf`` on the node's eth0 (per node only)
:class:`Duplicate` nft ``dup`` of a random share of packets
:class:`Corrupt`   nft payload overwrite of a random share of TCP/UDP packets
=================  =========================================================================

Roles ("the primary", "replica 1") are resolved when the fault is injected, not when it is
built. A degraded link can ``measure()`` what it achieved, for the history.
"""

from __future__ import annotations

import logging
import random
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence

from harness.errors import CommandFailed, SetupError, UnknownTarget
from harness.net.delay import Delayer
from harness.net.measure import (
    LinkMeasurement,
    ping_duplicates,
    ping_latency,
    ping_loss,
    sql_latency,
    sql_throughput,
)
from harness.net.netns import NetNS, NodeDown, RunNetwork, require_tools
from harness.net.rules import (
    CLIENTS,
    Pair,
    bridge,
    cut_between,
    format_rate,
    halves,
    isolate,
    nft_corrupt_table,
    nft_duplicate_table,
    nft_loss_table,
    nft_partition_table,
    one_way,
    per_node_cuts,
    queue_chain_removal,
    queue_chain_rules,
    table_name,
    tbf_args,
)
from harness.topology.base import Topology

__all__ = [
    "Bandwidth",
    "Bridge",
    "Corrupt",
    "CutBetween",
    "CutFromClients",
    "CutFromReplicas",
    "CutGroup",
    "Delay",
    "Duplicate",
    "Isolate",
    "LinkFault",
    "NetworkFault",
    "OneWayCut",
    "PacketLoss",
    "Partition",
    "SplitHalves",
]

log = logging.getLogger(__name__)


class NetworkFault(ABC):
    """What every network fault shares: the cluster, a private id, guarded namespaces."""

    name = "network"
    one_shot = False

    def __init__(self, cluster: Topology) -> None:
        self.cluster = cluster
        self.id = secrets.token_hex(3)
        self.target = ""
        #: The nodes the fault touches (resolved at injection); "reconnect X" heals by these.
        self.nodes: list[str] = []
        self._net: RunNetwork | None = None

    @property
    def net(self) -> RunNetwork:
        if self._net is None:
            self._net = RunNetwork.of(self.cluster.runtime)
        return self._net

    def ns(self, node: str) -> NetNS:
        return NetNS(self.cluster.node(node), self.cluster.runtime.run_id)

    def address(self, node: str) -> str:
        return self.net.check(self.cluster.address(node))

    def resolve(self, role: str) -> str:
        return self.cluster.resolve(role)

    @abstractmethod
    def inject(self) -> str:
        """Make the fault take effect; return what was done."""

    @abstractmethod
    def heal(self) -> str:
        """Undo it; safe to call twice."""


# -- partitions --------------------------------------------------------------------------------


class Partition(NetworkFault):
    """Drop the blocked pairs of ``plan()`` in a private nft table on each node involved."""

    name = "partition"

    def __init__(self, cluster: Topology) -> None:
        super().__init__(cluster)
        self.table = table_name(self.id)
        self._applied: list[str] = []

    @abstractmethod
    def plan(self) -> tuple[str, frozenset[Pair], str]:
        """(target label, blocked pairs, description), with roles resolved now."""

    def inject(self) -> str:
        require_tools("nsenter", "nft")
        if self._applied:
            raise SetupError(f"{self.name} {self.table} is already injected")
        target, pairs, desc = self.plan()
        self.target = target
        addresses: dict[str, str] = {CLIENTS: self.net.check(self.net.gateway)}
        skipped: list[str] = []
        for n in sorted({e for p in pairs for e in p} - {CLIENTS}):
            try:
                addresses[n] = self.address(n)
            except SetupError:
                skipped.append(n)  # a node that never got an address is down; its peers still cut it
        pairs = frozenset(p for p in pairs if p[0] in addresses and p[1] in addresses)
        cuts = per_node_cuts(pairs, addresses)
        self.nodes = sorted(cuts)
        done = []
        for node, cut in cuts.items():
            try:
                ns = self.ns(node)
                ns.nft(nft_partition_table(self.table, cut, f"pgharness {self.name} {desc}"))
            except NodeDown:
                skipped.append(node)
                continue
            self._applied.append(node)
            done.append(f"{node} drops from {','.join(sorted(cut.drop_from)) or '-'} "
                        f"to {','.join(sorted(cut.drop_to)) or '-'}")
        extra = f"; not running: {', '.join(sorted(set(skipped)))}" if skipped else ""
        return f"{desc} (table inet {self.table}: {'; '.join(done)}{extra})"

    def heal(self) -> str:
        healed: list[str] = []
        gone: list[str] = []
        for node in list(self._applied):
            try:
                (healed if self.ns(node).delete_table("inet", self.table) else gone).append(node)
            except NodeDown:
                gone.append(node)  # its namespace went with the container, rules and all
            self._applied.remove(node)
        extra = f" (already gone on {', '.join(gone)})" if gone else ""
        return f"deleted table inet {self.table} on {', '.join(healed) or 'no node'}{extra}"


def _label(nodes: Sequence[str]) -> str:
    return ",".join(nodes)


class Isolate(Partition):
    """One node cut from every peer and from the clients."""

    name = "isolate"

    def __init__(self, cluster: Topology, role: str, *, clients: bool = True) -> None:
        super().__init__(cluster)
        self.role, self.clients = role, clients

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        node = self.resolve(self.role)
        who = "peers and clients" if self.clients else "peers"
        return node, isolate(node, self.cluster.names, clients=self.clients), f"{node} isolated from its {who}"


class SplitHalves(Partition):
    """Two halves that cannot see each other; the primary's half is the smaller one."""

    name = "partition-halves"

    def __init__(self, cluster: Topology) -> None:
        super().__init__(cluster)

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        order = [self.cluster.primary, *self.cluster.replicas()]
        a, b = halves(order)
        return f"{_label(a)}|{_label(b)}", cut_between(a, b), f"halves {{{_label(a)}}} and {{{_label(b)}}}"


class CutBetween(Partition):
    """Every node of side A cut from every node of side B, both ways; the rest sees both."""

    name = "cut"

    def __init__(self, cluster: Topology, side_a: Sequence[str], side_b: Sequence[str]) -> None:
        super().__init__(cluster)
        self.side_a, self.side_b = list(side_a), list(side_b)

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        a = [self.resolve(r) for r in self.side_a]
        b = [self.resolve(r) for r in self.side_b]
        if set(a) & set(b):
            raise UnknownTarget(f"cannot cut {_label(a)} from {_label(b)}: they overlap")
        return f"{_label(a)}|{_label(b)}", cut_between(a, b), f"{_label(a)} cut from {_label(b)}"


class OneWayCut(Partition):
    """Packets from ``sender`` to ``receiver`` are dropped; the other way passes."""

    name = "cut-one-way"

    def __init__(self, cluster: Topology, sender: str, receiver: str) -> None:
        super().__init__(cluster)
        self.sender, self.receiver = sender, receiver

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        s, r = self.resolve(self.sender), self.resolve(self.receiver)
        if s == r:
            raise UnknownTarget(f"{self.sender} and {self.receiver} are the same node ({s})")
        return f"{s}->{r}", one_way(s, r), f"packets from {s} to {r} dropped ({r} to {s} pass)"


class Bridge(Partition):
    """The other nodes split in two halves that only ``via`` connects."""

    name = "bridge"

    def __init__(self, cluster: Topology, via: str) -> None:
        super().__init__(cluster)
        self.via = via

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        via = self.resolve(self.via)
        order = [self.cluster.primary, *self.cluster.replicas()]
        a, b, pairs = bridge(order, via)
        if not a or not b:
            raise UnknownTarget(f"a bridge needs two nodes besides {via}; the topology has {len(order)}")
        return via, pairs, f"{{{_label(a)}}} and {{{_label(b)}}} bridged only by {via}"


class CutFromReplicas(Partition):
    """A node (the primary, usually) cut from every other database node; clients still reach it."""

    name = "cut-from-replicas"

    def __init__(self, cluster: Topology, role: str) -> None:
        super().__init__(cluster)
        self.role = role

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        node = self.resolve(self.role)
        others = [n for n in self.cluster.names if n != node]
        return node, cut_between([node], others), f"{node} cut from {_label(others)} (clients still reach it)"


class CutFromClients(Partition):
    """A node cut from the clients (the harness host); its peers still reach it."""

    name = "cut-from-clients"

    def __init__(self, cluster: Topology, role: str) -> None:
        super().__init__(cluster)
        self.role = role

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        node = self.resolve(self.role)
        return node, cut_between([node], [CLIENTS]), f"{node} cut from the clients (its peers still reach it)"


class CutGroup(Partition):
    """A named group of nodes cut from the rest of the cluster (a region, later)."""

    name = "cut-group"

    def __init__(self, cluster: Topology, members: Sequence[str], label: str = "") -> None:
        super().__init__(cluster)
        self.members, self.label = list(members), label

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        group = sorted({self.resolve(r) for r in self.members})
        rest = [n for n in self.cluster.names if n not in group]
        if not group or not rest:
            raise UnknownTarget(f"a group cut needs nodes on both sides (group {_label(group)}, rest {_label(rest)})")
        what = f"group {self.label} ({_label(group)})" if self.label else f"group {_label(group)}"
        return _label(group), cut_between(group, rest), f"{what} cut from {_label(rest)}"


# -- degraded links ----------------------------------------------------------------------------


class LinkFault(NetworkFault):
    """A degraded link on one node's egress, optionally only towards one peer."""

    def __init__(self, cluster: Topology, role: str, peer: str | None = None) -> None:
        super().__init__(cluster)
        self.role, self.peer_role = role, peer
        self.node = ""
        self.peer: str | None = None

    def _resolve(self) -> None:
        self.node = self.resolve(self.role)
        self.peer = self.resolve(self.peer_role) if self.peer_role else None
        if self.peer == self.node:
            raise UnknownTarget(f"{self.role} and {self.peer_role} are the same node ({self.node})")
        self.target = f"{self.node}->{self.peer}" if self.peer else self.node
        self.nodes = [self.node]

    def _peers(self) -> list[str] | None:
        return [self.address(self.peer)] if self.peer else None

    def where(self) -> str:
        return f"{self.node}'s packets to {self.peer}" if self.peer else f"{self.node}'s outgoing packets"

    @abstractmethod
    def asked(self) -> str:
        """What was asked for, as people write it ("200±20 ms", "30 %", "1 mbit/s")."""

    def _witness(self) -> str:
        """A node that measures from outside: the peer, else the first other running node."""
        if self.peer:
            return self.peer
        for n in [self.cluster.primary, *self.cluster.replicas()]:
            if n != self.node and self.cluster.node(n).is_running():
                return n
        raise SetupError(f"no other running node to measure {self.node} from")

    @abstractmethod
    def measure(self) -> LinkMeasurement:
        """What the link does now, measured from outside the node."""


class _NftLink(LinkFault):
    family = "inet"

    def __init__(self, cluster: Topology, role: str, percent: float, peer: str | None = None) -> None:
        super().__init__(cluster, role, peer)
        if not 0 < percent <= 100:
            raise SetupError(f"{self.name}: a percentage above 0 and at most 100, not {percent:g}")
        self.percent = percent
        self.table = table_name(self.id)
        self._applied = False

    @abstractmethod
    def script(self) -> str:
        """The nft script of the fault's private table."""

    def asked(self) -> str:
        return f"{self.percent:g} %"

    def inject(self) -> str:
        require_tools("nsenter", "nft")
        self._resolve()
        self.ns(self.node).nft(self.script())
        self._applied = True
        return f"{self.name} {self.percent:g} % of {self.where()} (table {self.family} {self.table})"

    def heal(self) -> str:
        if not self._applied:
            return "nothing to heal"
        self._applied = False
        try:
            there = self.ns(self.node).delete_table(self.family, self.table)
        except NodeDown:
            there = False
        return f"deleted table {self.family} {self.table} on {self.node}" + ("" if there else " (already gone)")


class PacketLoss(_NftLink):
    """Drop a random share of the node's outgoing packets (netem ``loss`` on its interface)."""

    name = "loss"

    def script(self) -> str:
        return nft_loss_table(self.table, self.percent, self._peers(), f"pgharness loss {self.percent:g} %")

    def measure(self, count: int = 400) -> LinkMeasurement:
        w = self._witness()
        return ping_loss(self.net, self.target, self.cluster.node(w), self.address(self.node), count=count,
                         asked=self.asked())


class Duplicate(_NftLink):
    """Send a second copy of a random share of the node's outgoing packets."""

    name = "duplicate"
    family = "ip"  # nft's dup statement exists for the ip family only

    def script(self) -> str:
        return nft_duplicate_table(self.table, self.percent, self._peers(), f"pgharness duplicate {self.percent:g} %")

    def measure(self, count: int = 400) -> LinkMeasurement:
        w = self._witness()
        return ping_duplicates(self.net, self.target, self.cluster.node(w), self.address(self.node), count=count,
                               asked=self.asked())


class Corrupt(_NftLink):
    """Overwrite two payload bytes of a random share of outgoing TCP/UDP packets.

    The veth checksum is left to offload, so unlike netem's the damage is not caught by the
    receiver's TCP checksum: the application sees it (PostgreSQL: protocol errors).
    """

    name = "corrupt"

    def script(self) -> str:
        return nft_corrupt_table(self.table, self.percent, self._peers(), f"pgharness corrupt {self.percent:g} %")

    def measure(self) -> LinkMeasurement:
        return LinkMeasurement("corruption", self.target, None, "%", self.asked(), "not measured")


class Bandwidth(LinkFault):
    """A token bucket (tc tbf) on the node's eth0: its egress is limited to ``bits_per_s``."""

    name = "bandwidth"
    HANDLE = "5047:"  # ours, so heal removes only our qdisc

    def __init__(self, cluster: Topology, role: str, bits_per_s: float) -> None:
        super().__init__(cluster, role)
        if bits_per_s < 8000:
            raise SetupError(f"bandwidth: at least 8 kbit/s, not {bits_per_s:g} bit/s")
        self.bits_per_s = bits_per_s
        self._applied = False

    def asked(self) -> str:
        return format_rate(self.bits_per_s)

    def inject(self) -> str:
        require_tools("nsenter", "tc")
        self._resolve()
        args = tbf_args(self.bits_per_s, self.HANDLE)
        try:
            self.ns(self.node).tc(args)
        except CommandFailed as exc:
            raise SetupError(f"cannot limit {self.node}: it has a root qdisc already (another bandwidth "
                             f"fault?): {exc.output.strip()}") from exc
        self._applied = True
        return f"tbf {format_rate(self.bits_per_s)} on {self.node} eth0 egress ({' '.join(args[7:])})"

    def heal(self) -> str:
        if not self._applied:
            return "nothing to heal"
        self._applied = False
        try:
            ns = self.ns(self.node)
            shown = ns.tc(["qdisc", "show", "dev", "eth0", "root"]).stdout
            if f"tbf {self.HANDLE}" not in shown:
                return f"no tbf of ours on {self.node} (already gone)"
            ns.tc(["qdisc", "del", "dev", "eth0", "root", "handle", self.HANDLE])
        except NodeDown:
            return f"{self.node} is down: its qdisc went with it"
        return f"removed tbf from {self.node} eth0"

    def measure(self) -> LinkMeasurement:
        return sql_throughput(self.net, self.target, self.address(self.node), expect_bps=self.bits_per_s,
                              asked=self.asked())


class Delay(LinkFault):
    """Delay ± jitter on the node's outgoing packets, by the NFQUEUE delayer (no netem here).

    Order: the delayer starts and binds its queue first, then the rule sends packets to it;
    heal removes the rule first, then stops the delayer (which lets go of what it holds).
    """

    name = "delay"

    def __init__(self, cluster: Topology, role: str, delay_s: float, jitter_s: float = 0.0,
                 peer: str | None = None, *, seed: int | None = None) -> None:
        super().__init__(cluster, role, peer)
        if delay_s <= 0 or jitter_s < 0 or jitter_s > delay_s:
            raise SetupError(f"delay: need delay > 0 and 0 <= jitter <= delay (got {delay_s:g} s ± {jitter_s:g} s)")
        self.delay_s, self.jitter_s, self.seed = delay_s, jitter_s, seed
        self.chain = f"PGH-{self.id}"
        self.queue = random.Random(self.id).randint(1000, 65000)
        self._delayer: Delayer | None = None
        self._rules = False

    def asked(self) -> str:
        j = f"±{self.jitter_s * 1000:g}" if self.jitter_s else ""
        return f"{self.delay_s * 1000:g}{j} ms"

    def inject(self) -> str:
        require_tools("nsenter", "iptables-legacy")
        self._resolve()
        ns = self.ns(self.node)
        self._delayer = Delayer(ns, run_id=self.cluster.runtime.run_id, fault_id=self.id, queue=self.queue,
                                delay_s=self.delay_s, jitter_s=self.jitter_s, seed=self.seed)
        pid = self._delayer.start()
        self._rules = True  # from here on heal must look for the chain, even if half made
        for args in queue_chain_rules(self.chain, self.queue, self._peers()):
            ns.iptables(args)
        return (f"{self.asked()} on {self.where()} (iptables mangle chain {self.chain} -> NFQUEUE {self.queue}, "
                f"delayer pid {pid})")

    def heal(self) -> str:
        parts = []
        if self._rules:
            self._rules = False
            try:
                ns = self.ns(self.node)
                for args in queue_chain_removal(self.chain):
                    ns.iptables(args, check=False)  # whatever part exists
                parts.append(f"removed chain {self.chain} on {self.node}")
            except NodeDown:
                parts.append(f"{self.node} is down: its rules went with it")
        if self._delayer is not None:
            self._delayer.stop()
            self._delayer = None
            parts.append("stopped the delayer")
        return "; ".join(parts) or "nothing to heal"

    def measure(self, samples: int = 15) -> LinkMeasurement:
        if self.peer:
            return ping_latency(self.net, self.target, self.cluster.node(self.peer), self.address(self.node),
                                count=samples, asked=self.asked())
        return sql_latency(self.net, self.target, self.address(self.node), samples=samples, asked=self.asked())
