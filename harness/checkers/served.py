"""Which node answered a probe operation: by the server address a client path reports.

Apart from :mod:`.paths` so that the failover checker can ask it without importing the
outage checker, which imports the failover checker.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.history import Event, NodeAddresses, ProbeOp

__all__ = ["node_addresses", "served_node"]


def served_node(op: ProbeOp, addresses: dict[str, str]) -> str | None:
    """The node that answered ``op``: its server's address when it names one, else its node."""
    if op.server is not None and op.server in addresses:
        return addresses[op.server]
    return op.node


def node_addresses(events: Iterable[Event]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in events:
        if isinstance(e, NodeAddresses):
            out.update(e.addresses)
    return out
