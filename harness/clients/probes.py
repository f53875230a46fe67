"""The write and read probes through a client path.

They connect with the path's connection string (a service address) and never ask the
harness where the primary is: a connection stays in use until it breaks, as an
application's would. Each operation also returns the address of the server that ran it
(``inet_server_addr()``), so every acknowledged operation names the node the path sent it
to: after a split brain, which writes went where is in the history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import psycopg

from harness.history import History, ProbeOp, Stamp, now
from harness.workload.probe import Probe, ReadProbe, WriteProbe, _Held

__all__ = ["PathReadProbe", "PathWriteProbe"]

NodeOf = Callable[[str], "str | None"]


class _PathProbe(Probe):
    def __init__(self, history: History, path: str, conninfo: Callable[[], str], node_of: NodeOf, *,
                 connect_budget_s: float = 0.0, **kw: float | int | str | None) -> None:
        super().__init__(history, lambda: (path, ""), **kw)  # type: ignore[arg-type]
        self.path = path
        self.conninfo, self.node_of = conninfo, node_of
        # A multi-host string may spend connect_timeout on each dead host before the live one.
        self.timeout_s = max(self.timeout_s, connect_budget_s + self.timeout_s)
        self._served: dict[int, str | None] = {}

    async def _connect_and_run(self, host: str, seq: int, held: _Held) -> int | None:
        if held.conn is None:
            # No prepared statements: PgBouncer in transaction mode may change the server between two.
            held.conn = await psycopg.AsyncConnection.connect(self.conninfo(), autocommit=True,
                                                              prepare_threshold=None)
        held.sent = True
        return await self._operation(held.conn, seq)

    def _serve(self, seq: int, address: object) -> None:
        self._served[seq] = self.node_of(str(address)) if address is not None else None

    def _record(self, seq: int, start: Stamp, node: str | None, outcome: Literal["ok", "fail", "timeout"],
                error: str | None, value: int | None = None) -> None:
        served = self._served.pop(seq, None)
        self.history.add(ProbeOp(at=start, end=now(), probe=self.kind, seq=seq,
                                 node=served if outcome == "ok" else None, outcome=outcome, error=error,
                                 value=value, path=self.path))


class PathWriteProbe(_PathProbe, WriteProbe):
    kind: Literal["write", "read"] = "write"

    async def _operation(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seq: int) -> int | None:
        cur = await conn.execute(  # type: ignore[arg-type,unused-ignore]
            f"INSERT INTO {self.table} (seq) VALUES (%s) RETURNING host(inet_server_addr())", (seq,))
        row = await cur.fetchone()
        self._serve(seq, row[0] if row else None)
        return None


class PathReadProbe(_PathProbe, ReadProbe):
    kind: Literal["write", "read"] = "read"

    async def _operation(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seq: int) -> int | None:
        cur = await conn.execute(  # type: ignore[arg-type,unused-ignore]
            f"SELECT max(seq), host(inet_server_addr()) FROM {self.table}")
        row = await cur.fetchone()
        self._serve(seq, row[1] if row else None)
        value = row[0] if row else None
        return int(value) if isinstance(value, int) else None
