"""The fan-out write probe: the same write sent to EVERY node, every interval.

The ordinary write probe follows the node the topology believes is primary, so a deposed
leader that still acknowledges writes is never asked. This one keeps one writer per node;
each attempt is a ``ProbeOp`` with ``probe="fanout"`` and ``node`` set, and the split-brain
checker (:mod:`harness.checkers.splitbrain`) looks for two nodes acknowledging at once.
Writes go to a table of their own (``probe_fanout``), so they never collide with the
sequence numbers the RTO/RPO checkers read.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import psycopg

from harness.history import History, ProbeOp, Stamp, now
from harness.workload.probe import Probe

if TYPE_CHECKING:
    from harness.drill import Drill

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

    # -- as a drill part: started by Drill.start_fanout, stopped before the final read --------

    def __enter__(self) -> FanoutWriteProbe:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def window_ending(self, drill: Drill) -> None:
        """Stop, and record which of the fan-out rows the surviving primary holds."""
        from harness.checkers.splitbrain import fanout_final_read
        from harness.topology.pg import sql

        self.stop()  # a write acknowledged after the read would look lost
        c = drill.cluster
        try:
            survivor = c.primary
            rows = sql(c.address(survivor), "SELECT node, seq FROM probe_fanout", timeout=10)
        except Exception as exc:  # noqa: BLE001 - no read: rewound writes stay unknown, never 0
            drill.history.note("fanout.final_read.failed", str(exc)[:300])
            return
        drill.history.add(fanout_final_read(survivor, ((str(r[0]), int(r[1])) for r in rows)))
