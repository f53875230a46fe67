"""Region faults: a whole region lost (killed, or cut off), the WAN link cut, a slow WAN.

Targets are region names, checked against the live two-region topology (an unknown name is
an error naming the regions there are). A lost region is one-shot, like a crashed node: it
comes back by the scenario's recovery (:meth:`RegionCluster.rebuild_standby`); the WAN
faults are healed by deleting their table or restoring the environment's shaping.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from harness.environment import WanSettings
from harness.errors import SetupError
from harness.net.netns import NetNS, NodeDown, require_tools
from harness.net.rules import NodeCut, nft_partition_table, table_name
from harness.net.wanlink import WanLink, describe_wan
from harness.topology.regions import RegionCluster

__all__ = ["RegionCutOff", "RegionLoss", "WanCut", "WanDegrade"]


def _wan(cluster: RegionCluster) -> WanLink:
    if cluster.wan is None:
        raise SetupError("the two-region topology has no WAN link yet (is it started?)")
    return cluster.wan


class _RegionFault:
    """What a fault on a whole region shares: the region, checked by name, and its nodes."""

    def __init__(self, cluster: RegionCluster, region: str) -> None:
        self.cluster = cluster
        self.region = cluster.check_region(region)
        self.target = f"region {self.region}"
        self.nodes = list(cluster.members[self.region])


class RegionLoss(_RegionFault):
    """Every node of the region crashes at once (``docker kill``, in parallel)."""

    name = "region-loss"
    one_shot = True

    def inject(self) -> str:
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda n: self.cluster.node(n).kill(), self.nodes))
        held = " (it held the primary)" if self.cluster.primary in self.nodes else ""
        return f"SIGKILL to every process of {', '.join(self.nodes)}{held}"

    def heal(self) -> str:
        return f"region {self.region} comes back with its recovery (rebuilt as standbys)"


class RegionCutOff(_RegionFault):
    """The region is cut off, its nodes still running: the WAN drops everything, and each of
    its nodes drops the clients (a private nft table per node): the host's gateway address and
    ``clients``, the client path's own containers there (HAProxy, PgBouncer). Seen from outside
    it is lost; inside, its primary still believes it is one (fence it before it comes back)."""

    name = "region-cut-off"
    one_shot = False

    def __init__(self, cluster: RegionCluster, region: str, clients: Sequence[str] = ()) -> None:
        super().__init__(cluster, region)
        self.clients = frozenset(clients)
        self.table = table_name(secrets.token_hex(3))
        self._applied: list[str] = []
        self._wan = False

    def inject(self) -> str:
        require_tools("nsenter", "nft")
        gw = self.cluster.region(self.region).gateway
        away = frozenset({gw}) | self.clients
        cut = NodeCut("", away, away)
        self._wan = True
        _wan(self.cluster).cut()
        for n in self.nodes:
            NetNS(self.cluster.node(n), self.cluster.runtime.run_id).nft(
                nft_partition_table(self.table, cut, f"pgharness region {self.region} cut off from the clients"))
            self._applied.append(n)
        held = " (it holds the primary)" if self.cluster.primary in self.nodes else ""
        at = ", ".join([gw, *sorted(self.clients)])
        return f"WAN cut, and {', '.join(self.nodes)} drop the clients at {at} (table inet {self.table}){held}"

    def heal(self) -> str:
        gone = []
        for n in list(self._applied):
            try:
                if not NetNS(self.cluster.node(n), self.cluster.runtime.run_id).delete_table("inet", self.table):
                    gone.append(n)
            except NodeDown:
                gone.append(n)
            self._applied.remove(n)
        wan = ""
        if self._wan:
            self._wan = False
            wan = _wan(self.cluster).restore()
        return f"{wan}; deleted table inet {self.table}" + (f" (already gone on {', '.join(gone)})" if gone else "")


class WanCut:
    """The WAN link drops every packet between the regions; each region still works alone."""

    name = "wan-cut"
    one_shot = False

    def __init__(self, cluster: RegionCluster) -> None:
        self.cluster = cluster
        self.target = " <-> ".join(cluster.members)

    def inject(self) -> str:
        return _wan(self.cluster).cut()

    def heal(self) -> str:
        return _wan(self.cluster).restore()


class WanDegrade:
    """The WAN link gets slower (latency, bandwidth, loss); heal restores what it was."""

    name = "wan-degrade"
    one_shot = False

    def __init__(self, cluster: RegionCluster, settings: WanSettings) -> None:
        self.cluster, self.settings = cluster, settings
        self.target = " <-> ".join(cluster.members)
        self._before: WanSettings | None = None

    def inject(self) -> str:
        wan = _wan(self.cluster)
        self._before = wan.settings
        return f"WAN now {wan.shape(self.settings)} (was {describe_wan(self._before)})"

    def heal(self) -> str:
        if self._before is None:
            return "nothing to heal"
        before, self._before = self._before, None
        return f"WAN back to {_wan(self.cluster).shape(before)}"
