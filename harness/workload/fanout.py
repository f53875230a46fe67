"""The fan-out write probe (issue 4): the same write sent to EVERY node, every interval.

The ordinary write probe follows the node the topology believes is primary, so a deposed
leader that still acknowledges writes is never asked. This one keeps one writer per node;
each attempt is a ``ProbeOp`` with ``probe="fanout"`` and ``node`` set, and the split-brain
checker (:mod:`harness.checkers.splitbrain`) looks for two nodes acknowledging at once.
Writes go to a table of their own (``probe_fanout``), so they never collide with the
sequence numbers the RTO/RPO checkers read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import psycopg

from harness.history import History, ProbeOp, Stamp, now
from harness.workload.probe import Probe

__all__ = ["FanoutWriteProbe", "NodeWriter"]


class NodeWriter(Probe):
    """One node's writer: a fixed endpoint, so it never follows a failover."""

    kind: Literal["write", "read"] = "write"

    async def _operation(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seq: int) -> int | None:
        node = self._conn_node or ""
        # Refused writes on replicas would flood the node's log (and Patroni's, which holds it).
        await conn.execute("SET log_min_messages = fatal")
        await conn.execute("INSERT INTO probe_fanout (node, seq) VALUES (%s, %s)", (node, seq))
        return None

    def _record(self, seq: int, start: Stamp, node: str | None, outcome: Literal["ok", "fail", "timeout"],
                error: str | None, value: int | None = None) -> None:
        self.history.add(ProbeOp(at=start, end=now(), probe="fanout", seq=seq, node=node, outcome=outcome,
                                 error=error, value=value))


class FanoutWriteProbe:
    """One :class:`NodeWriter` per node, started and stopped together."""

    kind = "fanout"

    def __init__(self, history: History, nodes: list[str], address: Callable[[str], str | None], *,
                 interval_s: float = 0.05, timeout_s: float = 1.0, max_duration_s: float = 3600) -> None:
        def endpoint_of(name: str) -> Callable[[], tuple[str, str] | None]:
            def endpoint() -> tuple[str, str] | None:
                addr = address(name)
                return (name, addr) if addr else None
            return endpoint

        self.writers = [NodeWriter(history, endpoint_of(n), interval_s=interval_s, timeout_s=timeout_s,
                                   max_duration_s=max_duration_s) for n in nodes]

    def start(self) -> None:
        for w in self.writers:
            w.start()

    def stop(self) -> None:
        for w in self.writers:
            w.stop()

    @property
    def error(self) -> BaseException | None:
        return next((w.error for w in self.writers if w.error is not None), None)
