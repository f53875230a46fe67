"""The write and read probes: sequenced operations at a fixed interval, every attempt recorded.

Each probe runs in its own thread with its own asyncio loop (psycopg's async API, so an
attempt can be abandoned at its deadline even against a frozen or vanished server). The
target is asked of the topology before every attempt, so the probe follows the primary
after a failover the way a client behind a service address would.

Outcomes: ``ok`` acknowledged; ``fail`` definitely not done (could not connect, read-only
server); ``timeout`` unknown (connection lost or no answer after the statement was sent).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

import psycopg
from psycopg import errors as pgerr

from harness.history import History, ProbeOp, Stamp, now
from harness.topology.pg import conninfo

__all__ = ["Endpoint", "Probe", "ReadProbe", "WriteProbe"]

log = logging.getLogger(__name__)

# (node name, address) of where the probe should go now, or None when there is nowhere.
Endpoint = Callable[[], "tuple[str, str] | None"]


class Probe:
    """Base: a bounded loop of operations on a fixed schedule."""

    kind: Literal["write", "read"] = "write"

    def __init__(
        self,
        history: History,
        endpoint: Endpoint,
        *,
        table: str = "probe",
        interval_s: float = 0.05,
        timeout_s: float = 1.0,
        max_duration_s: float = 3600,
        max_ops: int | None = None,
    ) -> None:
        self.history = history
        self.endpoint = endpoint
        self.table = table
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_duration_s = max_duration_s
        # Bounded in count as well as in time.
        self.max_ops = max_ops if max_ops is not None else int(max_duration_s / interval_s) + 1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._conn_node: str | None = None
        self.seq = 0
        self.started_at: Stamp | None = None
        self.stopped_at: Stamp | None = None
        self.error: BaseException | None = None

    # -- control -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self.started_at = now()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
        if self.stopped_at is None:
            self.stopped_at = now()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._loop())
        except BaseException as exc:
            self.error = exc
            log.exception("%s probe crashed", self.kind)
        finally:
            self.stopped_at = now()

    async def _loop(self) -> None:
        t0 = time.monotonic()
        k = 0
        try:
            while not self._stop.is_set() and self.seq < self.max_ops:
                if time.monotonic() - t0 > self.max_duration_s:
                    log.warning("%s probe reached its time bound (%s s)", self.kind, self.max_duration_s)
                    break
                await self._attempt()
                # Fixed rate: the next tick, at once if it is already due; only ticks wholly
                # missed (an attempt that hung) are skipped.
                k += 1
                behind = int((time.monotonic() - t0) / self.interval_s)
                if behind > k:
                    k = behind
                delay = t0 + k * self.interval_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            await self._drop()

    # -- one attempt -------------------------------------------------------------------------

    async def _drop(self) -> None:
        conn, self._conn, self._conn_node = self._conn, None, None
        if conn is not None:
            try:
                # Closing only the socket: a polite close could block on a dead peer.
                conn.pgconn.finish()
            except Exception:  # noqa: BLE001
                pass

    async def _attempt(self) -> None:
        self.seq += 1
        seq = self.seq
        start = now()
        target = self.endpoint()
        if target is None:
            self._record(seq, start, None, "fail", "no node to send to")
            return
        node, host = target
        state = {"sent": False}
        task = asyncio.ensure_future(self._connect_and_run(node, host, seq, state))
        deadline = time.monotonic() + self.timeout_s
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                done, _ = await asyncio.wait({task}, timeout=min(self.interval_s, remaining))
                if done:
                    value = task.result()
                    break
                # The service moved (failover): give up on the old node now, as a client behind
                # a service address would, instead of waiting out the timeout.
                moved = self.endpoint()
                if moved is None or moved[0] != node:
                    raise _Moved(moved[0] if moved else "nowhere")
            self._record(seq, start, node, "ok", None, value)
        except (TimeoutError, _Moved) as exc:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self._drop()
            why = f"no answer in {self.timeout_s:g} s" if isinstance(exc, TimeoutError) else f"abandoned: {exc}"
            self._record(seq, start, node, "timeout" if state["sent"] else "fail", why)
        except (pgerr.ReadOnlySqlTransaction, pgerr.CannotConnectNow, pgerr.AdminShutdown) as exc:
            await self._drop()
            self._record(seq, start, node, "fail", _short(exc))
        except psycopg.OperationalError as exc:
            await self._drop()
            # Lost after the statement was sent: it may have committed.
            self._record(seq, start, node, "timeout" if state["sent"] else "fail", _short(exc))
        except psycopg.Error as exc:
            await self._drop()
            self._record(seq, start, node, "fail", _short(exc))

    async def _connect_and_run(self, node: str, host: str, seq: int, state: dict[str, bool]) -> int | None:
        if self._conn is None or self._conn_node != node or self._conn.closed:
            await self._drop()
            self._conn = await psycopg.AsyncConnection.connect(
                conninfo(host, timeout=max(1.0, self.timeout_s)), autocommit=True
            )
            self._conn_node = node
        state["sent"] = True
        return await self._operation(self._conn, seq)

    async def _operation(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seq: int) -> int | None:
        raise NotImplementedError

    def _record(self, seq: int, start: Stamp, node: str | None, outcome: Literal["ok", "fail", "timeout"],
                error: str | None, value: int | None = None) -> None:
        self.history.add(ProbeOp(at=start, end=now(), probe=self.kind, seq=seq, node=node, outcome=outcome,
                                 error=error, value=value))


class _Moved(Exception):
    """The endpoint changed while an attempt was in flight."""


def _short(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class WriteProbe(Probe):
    """INSERTs row ``seq`` into the probe table; an acknowledgement is a committed insert."""

    kind: Literal["write", "read"] = "write"

    async def _operation(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seq: int) -> int | None:
        await conn.execute(f"INSERT INTO {self.table} (seq) VALUES (%s)", (seq,))  # type: ignore[arg-type,unused-ignore]
        return None


class ReadProbe(Probe):
    """Reads the newest probe row; ``value`` is the highest sequence number seen."""

    kind: Literal["write", "read"] = "read"

    async def _operation(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seq: int) -> int | None:
        cur = await conn.execute(f"SELECT max(seq) FROM {self.table}")  # type: ignore[arg-type,unused-ignore]
        row = await cur.fetchone()
        value = row[0] if row else None
        return int(value) if isinstance(value, int) else None
