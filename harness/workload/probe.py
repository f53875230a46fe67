"""The write and read probes: sequenced operations at a fixed interval, every attempt recorded.

Each probe runs in its own thread with its own asyncio loop (psycopg's async API, so an
attempt can be abandoned at its deadline even against a frozen or vanished server). The
target is asked of the topology before every attempt, so the probe follows the primary
after a failover the way a client behind a service address would.

Outcomes: ``ok`` acknowledged; ``fail`` definitely not done (could not connect, read-only
server); ``timeout`` unknown (connection lost or no answer after the statement was sent).

Attempts overlap, a few at most. While the server answers, one attempt ends before the next
tick and the probe is a plain sequential client. When it hangs (a frozen server, a cut link),
a new attempt starts every ``timeout / max_in_flight`` on a connection of its own, so that at
every moment one attempt is waiting with most of its timeout left: the instant the server
answers again, that attempt is served, and the outage is measured to within about an
interval instead of to within a timeout (a lone sequential attempt gives up, reconnects, and
misses a thaw that lands just before its deadline; measured: 0.1-0.2 s late).

Connections are kept, not churned, while the server hangs. An attempt whose statement was
sent and got no answer by its deadline is recorded as a timeout, but its connection is left
to *drain* in the background: when the server answers it goes back to the idle pool, so at
the thaw an established connection is ready at once. And at most one new connection to a
node is being opened at a time; attempts without a connection wait for that one (or for
one given back) until their deadline. Opening one per attempt made a frozen postmaster
find a backlog of dead connections at the thaw, each forked and thrown away before the
probe's own was served: measured, a 2 s freeze read as 2.86 s, an independent client saw 2.07.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Literal, cast

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
        max_in_flight: int = 3,
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
        self.max_in_flight = max(1, max_in_flight)
        # Idle connections by node, for the next attempt; an attempt that fails closes its own.
        self._idle: list[tuple[str, psycopg.AsyncConnection[tuple[object, ...]]]] = []
        self._connecting: dict[str, asyncio.Task[None]] = {}  # node -> the one connection being opened
        self._background: set[asyncio.Task[None]] = set()  # connects and drains, for the final clean-up
        self._given_back: asyncio.Event | None = None  # set (and replaced) whenever a connection goes idle
        self._conn_node: str | None = None  # node of the latest attempt (a fixed-endpoint writer's node)
        # A restarted probe is a new instance: its operations are keyed by (instance, seq), and
        # it numbers on from the highest seq of its kind already in the history, so its rows
        # never collide with an earlier instance's in the probe table (keyed by seq alone).
        self.instance = uuid.uuid4().hex[:8]
        self.seq = max((o.seq for o in history.of(ProbeOp) if o.probe == self.kind), default=0)
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
        next_tick = t0
        in_flight: set[asyncio.Task[None]] = set()
        last_start = -float("inf")
        spacing = self.timeout_s / self.max_in_flight
        try:
            first = self.seq
            while not self._stop.is_set() and self.seq - first < self.max_ops:
                moment = time.monotonic()
                if moment - t0 > self.max_duration_s:
                    log.warning("%s probe reached its time bound (%s s)", self.kind, self.max_duration_s)
                    break
                if moment < next_tick:
                    await asyncio.sleep(next_tick - moment)
                    continue
                # A tick is due. It starts an attempt if none is out; while attempts hang, only
                # one every timeout/max_in_flight (bounded in count and in connections).
                if not in_flight or (len(in_flight) < self.max_in_flight and moment - last_start >= spacing):
                    self.seq += 1
                    task = asyncio.ensure_future(self._attempt(self.seq))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    last_start = moment
                    # Fixed rate: the next tick of the grid; ticks wholly missed are skipped.
                    next_tick = t0 + (int((moment - t0) / self.interval_s) + 1) * self.interval_s
                    continue
                # Due but held back: go the moment an attempt ends (as a sequential client
                # would), or when the spacing allows another, looking at least every interval.
                wait_s = self.interval_s
                if len(in_flight) < self.max_in_flight:
                    wait_s = min(wait_s, max(0.0, last_start + spacing - moment))
                await asyncio.wait(set(in_flight), timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # The attempts still out end on their own within their timeout: their outcomes count.
            if in_flight:
                await asyncio.wait(set(in_flight), timeout=self.timeout_s + 0.5)
            for task in list(in_flight):
                task.cancel()
            for task in list(self._background):
                task.cancel()
            if self._background:
                await asyncio.wait(set(self._background), timeout=1.0)
            await self._drop()

    # -- one attempt -------------------------------------------------------------------------

    async def _drop(self) -> None:
        idle, self._idle = self._idle, []
        for _, conn in idle:
            _finish(conn)

    def _take(self, node: str) -> psycopg.AsyncConnection[tuple[object, ...]] | None:
        """An idle connection to ``node``; idle ones to other nodes are closed (the service moved)."""
        found = None
        keep: list[tuple[str, psycopg.AsyncConnection[tuple[object, ...]]]] = []
        for n, conn in self._idle:
            if n == node and found is None and not conn.closed:
                found = conn
            elif n == node and not conn.closed:
                keep.append((n, conn))
            else:
                _finish(conn)
        self._idle = keep
        return found

    def _give_back(self, node: str, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        if len(self._idle) < self.max_in_flight and not conn.closed:
            self._idle.append((node, conn))
            self._notify()
        else:
            _finish(conn)

    def _notify(self) -> None:
        if self._given_back is not None:
            self._given_back.set()
        self._given_back = asyncio.Event()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())  # retrieved: no warning
        return task

    async def _open(self, node: str, host: str) -> None:
        """Open one connection to ``node`` into the idle pool (its error is the waiters')."""
        try:
            conn = await psycopg.AsyncConnection.connect(conninfo(host, timeout=max(1.0, self.timeout_s)),
                                                         autocommit=True)
        finally:
            if self._connecting.get(node) is asyncio.current_task():
                self._connecting.pop(node, None)
        self._give_back(node, conn)

    async def _connection(self, node: str, host: str, deadline: float,
                          ) -> psycopg.AsyncConnection[tuple[object, ...]]:
        """An idle connection to ``node``, or the one being opened, waiting until ``deadline``."""
        while True:
            conn = self._take(node)
            if conn is not None:
                return conn
            pending = self._connecting.get(node)
            if pending is None:
                pending = self._spawn(self._open(node, host))
                self._connecting[node] = pending
            if self._given_back is None:
                self._given_back = asyncio.Event()
            returned = asyncio.ensure_future(self._given_back.wait())
            try:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait({pending, returned}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                returned.cancel()
            if pending.done() and not pending.cancelled() and pending.exception() is not None:
                if self._take(node) is None:  # nothing else came back meanwhile: this attempt fails too
                    raise cast(BaseException, pending.exception())

    async def _drain(self, task: asyncio.Future[int | None], node: str, held: _Held) -> None:
        """Wait for the answer to a statement whose attempt gave up, then reuse its connection."""
        try:
            await asyncio.wait({task}, timeout=max(30.0, 10 * self.timeout_s))
        except asyncio.CancelledError:
            await self._abandon(task, held.conn)
            held.close()
            raise
        if task.done() and not task.cancelled() and task.exception() is None and held.conn is not None:
            self._give_back(node, held.conn)
            held.conn = None
        else:
            await self._abandon(task, held.conn)
            held.close()

    async def _abandon(self, task: asyncio.Future[int | None],
                       conn: psycopg.AsyncConnection[tuple[object, ...]] | None) -> None:
        """End an attempt that hangs, at once.

        Cancelling the task would make psycopg send a cancel request to the server and wait
        for it (5 s, then 5 s more for the query): against a frozen server that blocks this
        probe, and so hides the new primary's recovery behind the old one's freeze (measured:
        the next attempt waited for the thaw). Shutting the socket down instead makes the
        pending read fail at once; only an attempt still connecting is cancelled, which sends
        nothing.
        """
        if conn is not None:
            try:
                sock = socket.fromfd(conn.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()  # the duplicate only; psycopg's descriptor stays its own
            except (OSError, psycopg.Error):
                pass
            await asyncio.wait({task}, timeout=0.2)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.2)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the attempt's outcome is recorded by the caller
        elif not task.done():
            log.warning("%s probe: an abandoned attempt is still winding down", self.kind)

    async def _attempt(self, seq: int) -> None:
        start = now()
        target = self.endpoint()
        if target is None:
            self._record(seq, start, None, "fail", "no node to send to")
            return
        node, host = target
        self._conn_node = node
        held: _Held = _Held(None)
        deadline = time.monotonic() + self.timeout_s
        task = asyncio.ensure_future(self._connect_and_run(node, host, seq, held, deadline))
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
            if held.conn is not None:
                self._give_back(node, held.conn)
        except TimeoutError:
            sent = held.sent
            if sent:
                self._spawn(self._drain(task, node, held))  # the server may answer yet: keep the connection
            else:
                task.cancel()  # it was waiting for a connection; the one being opened goes on
                await asyncio.wait({task}, timeout=0.2)
            self._record(seq, start, node, "timeout" if sent else "fail", f"no answer in {self.timeout_s:g} s")
        except _Moved as exc:
            await self._abandon(task, held.conn)
            held.close()
            self._record(seq, start, node, "timeout" if held.sent else "fail", f"abandoned: {exc}")
        except (pgerr.ReadOnlySqlTransaction, pgerr.CannotConnectNow, pgerr.AdminShutdown) as exc:
            held.close()
            self._record(seq, start, node, "fail", _short(exc))
        except psycopg.OperationalError as exc:
            held.close()
            # Lost after the statement was sent: it may have committed.
            self._record(seq, start, node, "timeout" if held.sent else "fail", _short(exc))
        except psycopg.Error as exc:
            held.close()
            self._record(seq, start, node, "fail", _short(exc))

    async def _connect_and_run(self, node: str, host: str, seq: int, held: _Held, deadline: float) -> int | None:
        if held.conn is None:
            held.conn = await self._connection(node, host, deadline)
        held.sent = True
        return await self._operation(held.conn, seq)

    async def _operation(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seq: int) -> int | None:
        raise NotImplementedError

    def _record(self, seq: int, start: Stamp, node: str | None, outcome: Literal["ok", "fail", "timeout"],
                error: str | None, value: int | None = None) -> None:
        self.history.add(ProbeOp(at=start, end=now(), probe=self.kind, seq=seq, node=node, outcome=outcome,
                                 error=error, value=value, instance=self.instance))


class _Moved(Exception):
    """The endpoint changed while an attempt was in flight."""


class _Held:
    """One attempt's connection, and whether its statement was sent."""

    def __init__(self, conn: psycopg.AsyncConnection[tuple[object, ...]] | None) -> None:
        self.conn = conn
        self.sent = False

    def close(self) -> None:
        if self.conn is not None:
            _finish(self.conn)
            self.conn = None


def _finish(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    try:
        # Closing only the socket: a polite close could block on a dead peer.
        conn.pgconn.finish()
    except Exception:  # noqa: BLE001
        pass


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
