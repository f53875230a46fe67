"""The PgBouncer paths: PgBouncer in its own container, in front of HAProxy or of the primary.

``pgbouncer+haproxy``: PgBouncer pools server connections to HAProxy's read-write listener
(and a second database name, ``postgres_ro``, to the read-only one). What it adds to an
outage: a server connection cut by HAProxy is noticed at its next use; a failed server login
waits ``server_login_retry`` before the next; a client waits up to ``query_wait_timeout`` for
a free server connection (pool exhaustion shows as waiting clients, then errors).

``pgbouncer``: PgBouncer in front of the primary itself (``postgres``) and of one standby
(``postgres_ro``), by address. Nothing in it follows a failover: something must repoint it,
as a team's failover hook does. :meth:`PgbouncerPath.repoint` is that hook: it rewrites the
database entries in pgbouncer.ini and sends ``RELOAD`` on PgBouncer's admin console, which
closes the server connections to the old host as they are released (clients keep their
connections to PgBouncer). The harness's failover calls it the moment it has promoted
(:class:`~harness.clients.part.ClientsPart` follows the primary); on Patroni a watcher does,
once the new leader accepts writes (what an ``on_role_change`` callback would do).

:class:`PoolSampler` reads ``SHOW POOLS`` and feeds the drill's monitor a sample for the
node ``pgbouncer`` whose ``connections_pct`` is the share of the pool's server connections in
use, so the default "connection pool exhausted" rule fires on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import psycopg

from harness.clients.base import conninfo_for
from harness.clients.components import component_log, remove_component, start_component
from harness.clients.haproxy import RO_PORT, RW_PORT, HaproxyPath
from harness.environment import PgbouncerSettings
from harness.errors import SetupError
from harness.history import ActionEvent, History, Sample, now
from harness.monitor.rules import RuleEngine
from harness.runtime.docker import DockerNode, DockerRuntime
from harness.topology.managed import ManagedCluster

if TYPE_CHECKING:
    from harness.topology.base import Topology

__all__ = ["PORT", "LeaderWatcher", "PgbouncerPath", "PoolSampler", "admin", "pgbouncer_config", "pool_usage", "route"]

log = logging.getLogger(__name__)

PORT = 6432


def pgbouncer_config(s: PgbouncerSettings, *, upstream: str = "haproxy",
                     write_to: str | None = None, read_to: str | None = None) -> str:
    """pgbouncer.ini: ``postgres`` to HAProxy's read-write listener, ``postgres_ro`` to its read-only one;
    with ``write_to`` (and ``read_to``, default the same), to those PostgreSQL servers (port 5432) instead."""
    rw = f"host={upstream} port={RW_PORT}" if write_to is None else f"host={write_to} port=5432"
    ro = f"host={upstream} port={RO_PORT}" if write_to is None else f"host={read_to or write_to} port=5432"
    return "\n".join([
        "[databases]",
        f"postgres = {rw} dbname=postgres",
        f"postgres_ro = {ro} dbname=postgres",
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


def admin(address: str, command: str, timeout_s: int = 1) -> list[dict[str, object]]:
    """Run ``command`` (SHOW POOLS, RELOAD, ...) on PgBouncer's admin console; its rows."""
    info = conninfo_for([address], PORT, timeout_s=timeout_s, app="pgharness-admin").replace("dbname=postgres",
                                                                                               "dbname=pgbouncer")
    with psycopg.connect(info, autocommit=True, prepare_threshold=None) as conn:
        cur = conn.execute(command)
        if cur.description is None:
            return []
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def show_pools(address: str) -> list[dict[str, object]]:
    return admin(address, "SHOW POOLS")


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


def route(cluster: Topology) -> tuple[str, str]:
    """(the primary's address, a standby's) as the harness knows them now: where a failover
    hook points PgBouncer. No standby up: reads go to the primary too."""
    primary = cluster.primary
    down = cluster.roles.down
    standby = None
    for n in cluster.names:
        if n == primary or n in down:
            continue
        try:
            standby = cluster.address(n)
            break
        except Exception:  # noqa: BLE001 - a node that is down has no address
            continue
    write_to = cluster.address(primary)
    return write_to, standby or write_to


class PgbouncerPath:
    """PgBouncer in front of ``haproxy``, or (``haproxy`` None) of the cluster's primary itself."""

    def __init__(self, runtime: DockerRuntime, haproxy: HaproxyPath | None, history: History,
                 settings: PgbouncerSettings, *, cluster: Topology | None = None, connect_timeout_s: int = 2,
                 settle_s: float = 30, max_duration_s: float = 3600, networks: Sequence[str] = ()) -> None:
        if haproxy is None and cluster is None:
            raise ValueError("PgBouncer in front of the primary needs the cluster")
        self.runtime, self.haproxy, self.history, self.settings = runtime, haproxy, history, settings
        self.cluster = cluster
        self.networks = tuple(networks)  # more networks to join (two regions: the other one's)
        self.connect_timeout_s, self.settle_s, self.max_duration_s = connect_timeout_s, settle_s, max_duration_s
        self.name = "pgbouncer+haproxy" if haproxy is not None else "pgbouncer"
        self.node: DockerNode | None = None
        self.targets: tuple[str, str] | None = None  # (write_to, read_to) on the direct path
        self._lock = threading.Lock()
        self._watcher: LeaderWatcher | None = None
        if haproxy is None:
            assert cluster is not None
            self.targets = route(cluster)
            self.config = pgbouncer_config(settings, write_to=self.targets[0], read_to=self.targets[1])
        else:
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

    # -- the failover hook (the direct path) -------------------------------------------------

    def follow(self, cluster: Topology) -> bool:
        """Point PgBouncer at the cluster's primary (and a standby) now; False: it already was."""
        if self.haproxy is not None or self.node is None:
            return False
        return self.repoint(*route(cluster))

    def repoint(self, write_to: str, read_to: str) -> bool:
        """Rewrite the database entries and RELOAD PgBouncer through its admin console, as a
        failover hook does; an ActionEvent ``pgbouncer.repoint`` times it. False: nothing changed."""
        with self._lock:
            if self.node is None or (write_to, read_to) == self.targets:
                return False
            t0 = now()
            config = pgbouncer_config(self.settings, write_to=write_to, read_to=read_to)
            try:
                res = self.node.container.exec_run(
                    ["sh", "-c", 'printf "%s\\n" "$HARNESS_CONFIG" > /etc/pgbouncer/pgbouncer.ini'],
                    environment={"HARNESS_CONFIG": config}, user="root")
                if res.exit_code != 0:
                    raise SetupError(f"pgbouncer: could not rewrite pgbouncer.ini: {res.output!r}")
                admin(self.address(), "RELOAD", timeout_s=self.connect_timeout_s)
            except (psycopg.Error, SetupError, OSError) as exc:
                self.history.add(ActionEvent(at=t0, end=now(), action="pgbouncer.repoint", target=write_to,
                                             outcome="failed", detail=str(exc)[:300]))
                raise SetupError(f"pgbouncer: repointing to {write_to} failed: {exc}") from exc
            self.config, self.targets = config, (write_to, read_to)
            self.history.add(ActionEvent(at=t0, end=now(), action="pgbouncer.repoint", target=write_to,
                                         outcome="ok", detail=f"postgres -> {write_to}:5432, postgres_ro -> "
                                                              f"{read_to}:5432 (pgbouncer.ini rewritten, RELOAD)"))
            return True

    @property
    def components(self) -> Mapping[str, DockerNode]:
        own = {"pgbouncer": self.node} if self.node is not None else {}
        return {**(self.haproxy.components if self.haproxy is not None else {}), **own}

    def logs(self) -> dict[str, str]:
        own = {"pgbouncer": component_log(self.node, 400)} if self.node is not None else {}
        return {**(self.haproxy.logs() if self.haproxy is not None else {}), **own}

    def __enter__(self) -> PgbouncerPath:
        if self.haproxy is not None:
            self.haproxy.__enter__()
        try:
            self.node = start_component(self.runtime, "pgbouncer", self.config, ready=self._writable,
                                        settle_s=self.settle_s, what="send a write to a primary",
                                        networks=self.networks)
        except BaseException:
            if self.haproxy is not None:
                self.haproxy.__exit__(None, None, None)
            raise
        s = self.settings
        front = "HAProxy" if self.haproxy is not None else f"the primary ({self.targets[0] if self.targets else '?'})"
        self.history.note("client_path", f"pgbouncer at {self.address()}:{PORT} in front of {front}: pool_mode "
                                         f"{s.pool_mode}, default_pool_size {s.default_pool_size}")
        # An HA manager (Patroni, pg_auto_failover) moves the leader by itself: watch for it.
        if self.haproxy is None and isinstance(self.cluster, ManagedCluster):
            self._watcher = LeaderWatcher(self, self.cluster, max_duration_s=self.max_duration_s)
            self._watcher.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        if self.node is not None:
            remove_component(self.node)
        if self.haproxy is not None:
            self.haproxy.__exit__(t, e, tb)


class LeaderWatcher:
    """Patroni and pg_auto_failover change the leader by themselves: repoint PgBouncer once the
    new leader accepts writes, as a team's ``on_role_change`` callback (Patroni), its
    monitor-notification hook (pg_auto_failover) or a DCS watcher does."""

    def __init__(self, path: PgbouncerPath, cluster: Topology, *, interval_s: float = 0.25,
                 max_duration_s: float = 3600) -> None:
        self.path, self.cluster, self.interval_s, self.max_duration_s = path, cluster, interval_s, max_duration_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pgbouncer-follow", daemon=True)
        self._thread.start()

    def check(self) -> bool:
        """One look: repoint when the leader moved and accepts writes; True when it repointed."""
        try:
            leader = self.cluster.primary
            address = self.cluster.address(leader)
        except Exception:  # noqa: BLE001 - no leader right now (an election): look again
            return False
        if self.path.targets is not None and address == self.path.targets[0]:
            return False
        try:
            with psycopg.connect(conninfo_for([address], 5432, timeout_s=1, app="pgharness-follow"),
                                 autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error:
            return False
        if row is None or row[0]:
            return False  # still promoting
        return self.path.follow(self.cluster)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.interval_s) and time.monotonic() - t0 < self.max_duration_s:
            try:
                self.check()
            except SetupError:
                log.warning("pgbouncer: a repoint failed; trying again", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
