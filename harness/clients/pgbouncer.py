"""The ``pgbouncer+haproxy`` path: PgBouncer in its own container, in front of HAProxy.

PgBouncer pools server connections to HAProxy's read-write listener (and a second database
name, ``postgres_ro``, to the read-only one). What it adds to an outage: a server connection
cut by HAProxy is noticed at its next use; a failed server login waits
``server_login_retry`` before the next; a client waits up to ``query_wait_timeout`` for a
free server connection (pool exhaustion shows as waiting clients, then errors).

:class:`PoolSampler` reads ``SHOW POOLS`` and feeds the drill's monitor a sample for the
node ``pgbouncer`` whose ``connections_pct`` is the share of the pool's server connections in
use, so the default "connection pool exhausted" rule fires on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType

import psycopg

from harness.clients.base import conninfo_for
from harness.clients.components import component_log, remove_component, start_component
from harness.clients.haproxy import RO_PORT, RW_PORT, HaproxyPath
from harness.environment import PgbouncerSettings
from harness.history import History, Sample, now
from harness.monitor.rules import RuleEngine
from harness.runtime.docker import DockerNode, DockerRuntime

__all__ = ["PORT", "PgbouncerPath", "PoolSampler", "pgbouncer_config", "pool_usage"]

PORT = 6432


def pgbouncer_config(s: PgbouncerSettings, *, upstream: str = "haproxy") -> str:
    """pgbouncer.ini: ``postgres`` to HAProxy's read-write listener, ``postgres_ro`` to its read-only one."""
    return "\n".join([
        "[databases]",
        f"postgres = host={upstream} port={RW_PORT} dbname=postgres",
        f"postgres_ro = host={upstream} port={RO_PORT} dbname=postgres",
        "[pgbouncer]",
        "listen_addr = 0.0.0.0",
        f"listen_port = {PORT}",
        "unix_socket_dir =",
        "auth_type = trust",
        "auth_file = /etc/pgbouncer/userlist.txt",
        "admin_users = postgres",
        "stats_users = postgres",
        f"pool_mode = {s.pool_mode}",
        f"default_pool_size = {s.default_pool_size}",
        f"reserve_pool_size = {s.reserve_pool_size}",
        f"max_client_conn = {s.max_client_conn}",
        f"query_wait_timeout = {s.query_wait_timeout_s}",
        f"server_connect_timeout = {s.server_connect_timeout_s}",
        f"server_login_retry = {s.server_login_retry_s}",
        "server_reset_query = DISCARD ALL",
        "ignore_startup_parameters = extra_float_digits,options",
        "log_connections = 0",
        "log_disconnections = 0",
        "",
    ])


def pool_usage(rows: list[dict[str, object]], pool_size: int) -> tuple[float, int]:
    """(% of the ``postgres`` pool's server connections busy, clients waiting for one).

    A server connection is busy while a client holds it (``sv_active``): in transaction mode,
    for its transaction, so sessions left idle in a transaction take the pool."""
    for r in rows:
        if r.get("database") == "postgres":
            busy, waiting = r.get("sv_active", 0), r.get("cl_waiting", 0)
            return 100.0 * int(busy) / max(1, pool_size), int(waiting)  # type: ignore[call-overload]
    return 0.0, 0


def show_pools(address: str) -> list[dict[str, object]]:
    info = conninfo_for([address], PORT, timeout_s=1, app="pgharness-monitor").replace("dbname=postgres",
                                                                                         "dbname=pgbouncer")
    with psycopg.connect(info, autocommit=True, prepare_threshold=None) as conn:
        cur = conn.execute("SHOW POOLS")
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class PoolSampler:
    """Samples PgBouncer's pool into the history and the monitor's rule engine."""

    def __init__(self, history: History, address: str, pool_size: int, engine: Callable[[], RuleEngine | None], *,
                 interval_s: float = 0.5, max_duration_s: float = 3600) -> None:
        self.history, self.address, self.pool_size, self.engine = history, address, pool_size, engine
        self.interval_s, self.max_duration_s = interval_s, max_duration_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pgbouncer-pools", daemon=True)
        self._thread.start()

    def sample(self) -> Sample:
        at = now()
        try:
            pct, waiting = pool_usage(show_pools(self.address), self.pool_size)
        except Exception:  # noqa: BLE001 - PgBouncer down (a fault): up 0
            return Sample(at=at, node="pgbouncer", role="down", metrics={"up": 0.0})
        return Sample(at=at, node="pgbouncer", role="primary",
                      metrics={"up": 1.0, "connections_pct": pct, "clients_waiting": float(waiting)})

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.interval_s) and time.monotonic() - t0 < self.max_duration_s:
            s = self.sample()
            if s.role == "down":
                continue  # "database down" is about nodes; PgBouncer's own outage shows in the probes
            self.history.add(s)
            engine = self.engine()  # the drill's monitor, once it runs
            if engine is not None:
                for alert in engine.feed(s):
                    self.history.add(alert)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)


class PgbouncerPath:
    name = "pgbouncer+haproxy"

    def __init__(self, runtime: DockerRuntime, haproxy: HaproxyPath, history: History, settings: PgbouncerSettings,
                 *, connect_timeout_s: int = 2, settle_s: float = 30) -> None:
        self.runtime, self.haproxy, self.history, self.settings = runtime, haproxy, history, settings
        self.connect_timeout_s, self.settle_s = connect_timeout_s, settle_s
        self.node: DockerNode | None = None
        self.config = pgbouncer_config(settings)

    def address(self) -> str:
        assert self.node is not None, "PgBouncer is not started"
        return self.node.address()

    def write_conninfo(self) -> str:
        return conninfo_for([self.address()], PORT, timeout_s=self.connect_timeout_s, app="pgharness-pgbouncer")

    def read_conninfo(self) -> str:
        return self.write_conninfo().replace("dbname=postgres", "dbname=postgres_ro")

    def _writable(self, node: DockerNode) -> bool:
        info = conninfo_for([node.address()], PORT, timeout_s=self.connect_timeout_s, app="pgharness-check")
        with psycopg.connect(info, autocommit=True, prepare_threshold=None) as conn:
            row = conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()
            return bool(row and row[0])

    @property
    def components(self) -> Mapping[str, DockerNode]:
        own = {"pgbouncer": self.node} if self.node is not None else {}
        return {**self.haproxy.components, **own}

    def logs(self) -> dict[str, str]:
        own = {"pgbouncer": component_log(self.node, 400)} if self.node is not None else {}
        return {**self.haproxy.logs(), **own}

    def __enter__(self) -> PgbouncerPath:
        self.haproxy.__enter__()
        try:
            self.node = start_component(self.runtime, "pgbouncer", self.config, ready=self._writable,
                                        settle_s=self.settle_s, what="send a write to a primary")
        except BaseException:
            self.haproxy.__exit__(None, None, None)
            raise
        s = self.settings
        self.history.note("client_path", f"pgbouncer at {self.address()}:{PORT} in front of HAProxy: pool_mode "
                                         f"{s.pool_mode}, default_pool_size {s.default_pool_size}")
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self.node is not None:
            remove_component(self.node)
        self.haproxy.__exit__(t, e, tb)
