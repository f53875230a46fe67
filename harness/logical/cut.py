"""A partition between the drill's cluster and the logical replica cluster (both ways).

The nodes of both clusters share the run's Docker network, so the cut is the partition fault
of :mod:`harness.faults.network` (a private nft table in each node, deleted to heal) with the
second cluster's node added to what it can resolve. The harness's own connections (the
clients) still reach both sides: each cluster keeps taking writes while it cannot see the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.faults.network import Partition
from harness.net.netns import NetNS
from harness.net.rules import Pair, cut_between

if TYPE_CHECKING:
    from harness.logical.replica import LogicalReplica

__all__ = ["ClustersCut"]


class ClustersCut(Partition):
    """Every node of the first cluster cut from the logical replica cluster, and back."""

    name = "clusters-cut"

    def __init__(self, replica: LogicalReplica) -> None:
        super().__init__(replica.publisher)
        self.replica = replica

    def plan(self) -> tuple[str, frozenset[Pair], str]:
        first = list(self.cluster.names)
        second = [self.replica.name]
        return "first|second", cut_between(first, second), f"{','.join(first)} cut from {','.join(second)}"

    def ns(self, node: str) -> NetNS:
        if node == self.replica.name:
            assert self.replica.node is not None
            return NetNS(self.replica.node, self.cluster.runtime.run_id)
        return super().ns(node)

    def address(self, node: str) -> str:
        if node == self.replica.name:
            return self.net.check(self.replica.address())
        return super().address(node)
