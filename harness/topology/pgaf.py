"""pg_auto_failover: a monitor and 2-5 PostgreSQL nodes, each run by a ``pg_autoctl`` keeper.

The second HA manager beside Patroni, from Debian's packages on both stacks
(``pg-auto-failover-cli`` and ``postgresql-NN-auto-failover``). The roles come from the
monitor: ``primary`` is the node whose reported and assigned states are both primary-like
(``single``, ``wait_primary``, ``primary``), read from ``pgautofailover.node`` on the monitor
the moment it is needed. :class:`PgafWatch` writes every change of that table as a
:class:`~harness.history.HaView` (so the failover checker reads detection, new leader and
rejoin from it as it does for Patroni) and every row of the monitor's ``pgautofailover.event``
table as an action on the timeline: the failover's phases as the monitor logged them.

The monitor's health checks are made faster than pg_auto_failover's defaults (which fail over
after about 20 s) so that a drill is comparable with Patroni at ttl 10; each is a setting.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import psycopg

from harness.environment import Environment
from harness.errors import SetupError, UnknownTarget, WaitTimeout
from harness.history import ActionEvent, HaSettings, HaView, History, Stamp, now
from harness.images.choose import image_for
from harness.ownconfig import OwnConfig, own_config
from harness.runtime.base import Runtime
from harness.topology.base import NotAvailable
from harness.topology.pg import conninfo, port_open, sql, streaming_replicas
from harness.topology.managed import ManagedCluster, ManagerWatch
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["PGAF_DATA", "PgafCluster", "PgafSettings", "PgafWatch", "pgaf_of", "use_pgaf"]

log = logging.getLogger(__name__)
PGAF_DATA = "/var/lib/postgresql/pgaf"
MONITOR_DATA = "/var/lib/postgresql/monitor"
PGAF_LOG = "/var/log/postgresql/pg_autoctl.log"
MONITOR = "monitor"
_PRIMARY_STATES = ("single", "wait_primary", "primary", "join_primary", "apply_settings")


@dataclass
class PgafSettings:
    """The monitor's health checks (pgautofailover.* settings, in milliseconds) and the node count."""

    nodes: int = 3
    health_check_period_ms: int = 1000
    health_check_timeout_ms: int = 2000
    health_check_max_retries: int = 2
    health_check_retry_delay_ms: int = 500
    unhealthy_timeout_ms: int = 5000  # node_considered_unhealthy_timeout: no keeper report for this long
    # How long a promoted candidate waits (stop_replication) for the old primary to say it
    # demoted before it takes writes anyway; pg_auto_failover's default is 30 s.
    primary_demote_timeout_ms: int = 5000

    def check(self) -> None:
        if not 2 <= self.nodes <= 5:
            raise SetupError(f"a pg_auto_failover cluster of {self.nodes} nodes: use 2 to 5 (a primary and 1-4 secondaries)")

    def monitor_settings(self) -> dict[str, int]:
        return {"pgautofailover.health_check_period": self.health_check_period_ms,
                "pgautofailover.health_check_timeout": self.health_check_timeout_ms,
                "pgautofailover.health_check_max_retries": self.health_check_max_retries,
                "pgautofailover.health_check_retry_delay": self.health_check_retry_delay_ms,
                "pgautofailover.node_considered_unhealthy_timeout": self.unhealthy_timeout_ms,
                "pgautofailover.primary_demote_timeout": self.primary_demote_timeout_ms}


class PgafWatch(ManagerWatch):
    """Polls the monitor: node states as :class:`HaView` changes, its event log as actions."""

    thread_name = "pgaf-watch"

    def __init__(self, cluster: PgafCluster, *, interval_s: float = 0.2, max_duration_s: float = 3600) -> None:
        super().__init__(interval_s=interval_s, max_duration_s=max_duration_s)
        self.cluster = cluster
        self._last: tuple[str | None, dict[str, tuple[str, str, int | None]], bool] | None = None
        self._event_id = 0

    def view(self) -> HaView:
        at = now()
        rows = self.cluster.states()
        if rows is None:
            return HaView(at=at, manager="pg_auto_failover", leader=None, unreachable=True)
        members: dict[str, tuple[str, str, int | None]] = {}
        leaders = []
        for name, reported, goal, tli, health in rows:
            if reported in _PRIMARY_STATES and goal in _PRIMARY_STATES:
                leaders.append(name)
                members[name] = ("leader", "running" if health != 0 else "unhealthy", tli)
            elif reported == goal == "secondary":
                members[name] = ("replica", "streaming" if health != 0 else "unhealthy", tli)
            else:
                members[name] = (reported, goal, tli)  # in transition: draining, catchingup, demoted, ...
        return HaView(at=at, manager="pg_auto_failover", leader=sorted(leaders)[0] if leaders else None,
                      members=dict(sorted(members.items())))

    def poll(self) -> None:
        view = self.view()
        seen = (view.leader, view.members, view.unreachable)
        if seen != self._last:
            self._last = seen
            self.cluster.history.add(view)
        for eid, wall, name, description in self.cluster.events_since(self._event_id):
            self._event_id = max(self._event_id, eid)
            at = self.cluster.stamp_of(wall)
            self.cluster.history.add(ActionEvent(at=at, end=at, action="pg_auto_failover: event", target=name,
                                                 outcome="ok", detail=description[:400]))

class PgafCluster(ManagedCluster):
    """The live pg_auto_failover topology: roles from the monitor, nodes by name."""

    kind = "pg_auto_failover"
    data_directory = PGAF_DATA

    def __init__(self, runtime: Runtime, env: Environment, history: History,
                 settings: PgafSettings | None = None, *, seed: int | None = None) -> None:
        self.env = env
        self.settings = settings or PgafSettings()
        self.settings.check()
        super().__init__(runtime, history, [f"node{i + 1}" for i in range(self.settings.nodes)], seed=seed)
        self._lock = threading.Lock()
        self._cache: tuple[float, list[tuple[str, str, str, int | None, int]] | None] = (0.0, None)
        self.own = OwnConfig()
        self.bootstrap_s: float | None = None
        self.watch: PgafWatch = PgafWatch(self, max_duration_s=env.probe.max_duration_s)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, timeout: float = 120) -> None:
        t0 = now()
        image = image_for(self.env)
        self.own = own_config(self.env, image, self.history)
        specs = [(n, image, {"HARNESS_NODE": n, "HARNESS_ROLE": "patroni"}) for n in [MONITOR, *self.names]]
        for node in self.runtime.create_nodes(specs, volumes=None):  # node-init starts nothing (as for Patroni)
            self._nodes[node.name] = node
        self._detach(MONITOR, f"exec pg_autoctl create monitor --pgdata {MONITOR_DATA} --pgport 5432 "
                              f"--hostname {MONITOR} --auth trust --no-ssl --run >> {PGAF_LOG} 2>&1")
        mon = self.node(MONITOR)
        wait_until(lambda: mon.exec(["psql", "-XAtqd", "pg_auto_failover", "-c", "SELECT 1"], timeout=5).exit_code == 0,
                   timeout=60, interval=0.2, what="the pg_auto_failover monitor", describe=lambda: self.node_logs(MONITOR, 15))
        self._open_hba(MONITOR, MONITOR_DATA, own=False)
        wait_until(lambda: self.states() is not None, timeout=10, interval=0.2, what="the monitor to let the harness in",
                   describe=lambda: self.node_logs(MONITOR, 15))
        for key, value in self.settings.monitor_settings().items():
            sql(self.address(MONITOR), f"ALTER SYSTEM SET {key} = {int(value)}", timeout=5)
        sql(self.address(MONITOR), "SELECT pg_reload_conf()", timeout=5)
        try:
            # The first node registers alone and becomes the primary; the others then clone it.
            self._start_keeper(self.names[0], create=True)
            wait_until(lambda: self.leader_or_none() == self.names[0] and port_open(self.address(self.names[0])),
                       timeout=timeout, interval=0.2, what=f"{self.names[0]} to be the single primary",
                       describe=self.describe_view)
            self._open_hba(self.names[0])
            for name in self.names[1:]:
                self._start_keeper(name, create=True)
            self.wait_streaming(timeout=timeout)
            wait_until(self._settled, timeout=timeout, interval=0.2, what="the monitor's assignments to settle",
                       describe=self.describe_view)
            for name in self.names:
                self._tune_keeper(name)
        except WaitTimeout as exc:
            logs = "\n".join(f"--- {n}:\n{self.node_logs(n, 15)}" for n in [MONITOR, *self.names])
            raise WaitTimeout(f"the pg_auto_failover topology did not become healthy: {exc}\n{logs}") from exc
        t1 = now()
        self.bootstrap_s = t1.t - t0.t
        leader = self.address(self.primary)
        table = self.env.probe.table
        sql(leader, f"CREATE TABLE IF NOT EXISTS {table} (seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        sql(leader, "CREATE TABLE IF NOT EXISTS probe_fanout (id bigserial PRIMARY KEY, node text NOT NULL, "
                    "seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())")
        self.started = True
        self.history.add(ActionEvent(at=t0, end=t1, action="topology.start", target=",".join(self.names),
                                     outcome="ok", detail=f"{self.describe()}; healthy in {self.bootstrap_s:.1f} s"))
        s = self.settings
        # The failover checker's "ttl": how long the monitor waits before it acts on a silent node.
        self.history.add(HaSettings(at=now(), manager="pg_auto_failover", ttl=s.unhealthy_timeout_ms / 1000,
                                    settings=asdict(s)))
        self.watch.start()

    @property
    def isolation_peers(self) -> list[str]:
        """Who an isolated node loses (harness.faults.network.Isolate): the others and the monitor."""
        return [*self.names, MONITOR]

    def _settled(self) -> bool:
        """The monitor's assignments all reached: one primary (not wait_primary), the rest secondaries."""
        rows = self.states(max_age=0) or []
        return (len(rows) == len(self.names) and all(rep == goal for _, rep, goal, _, _ in rows)
                and sorted(rep for _, rep, _, _, _ in rows) == ["primary", *["secondary"] * (len(rows) - 1)])

    def _start_keeper(self, name: str, *, create: bool) -> None:
        monitor = f"postgres://autoctl_node@{MONITOR}:5432/pg_auto_failover?sslmode=disable"
        if create:
            cmd = (f"exec pg_autoctl create postgres --pgdata {PGAF_DATA} --pgport 5432 --hostname {name} --name {name} "
                   f"--monitor '{monitor}' --auth trust --no-ssl --run >> {PGAF_LOG} 2>&1")
        else:
            # A kill leaves pid files behind (PostgreSQL's, and pg_autoctl's under /tmp) whose
            # pids may belong to other processes after the boot.
            cmd = (f"rm -f {PGAF_DATA}/postmaster.pid; rm -rf /tmp/pg_autoctl; "
                   f"exec pg_autoctl run --pgdata {PGAF_DATA} >> {PGAF_LOG} 2>&1")
        self._detach(name, cmd)

    def _tune_keeper(self, name: str) -> None:
        """A primary cut off from the monitor and its standbys demotes itself after
        network_partition_timeout (20 s by default): under the monitor's unhealthy timeout, so an
        isolated primary is read-only before the monitor promotes another node."""
        secs = max(1, int(self.settings.unhealthy_timeout_ms / 1000 * 0.6))
        res = self.node(name).exec(["sh", "-c", f"pg_autoctl config set --pgdata {PGAF_DATA} "
                                                f"timeout.network_partition_timeout {secs} >/dev/null && "
                                                f"pg_autoctl reload --pgdata {PGAF_DATA}"], timeout=20)
        if res.exit_code != 0:
            raise SetupError(f"{name}: could not set pg_autoctl's network_partition_timeout: {res.output[-300:]}")

    def _open_hba(self, name: str, pgdata: str = PGAF_DATA, *, own: bool = True) -> None:
        """The harness reaches the nodes from the host: trust on its private network (the
        secondaries copy this pg_hba.conf with their base backup), the team's lines first."""
        lines = [*(self.own.hba if own else []), "host all all 0.0.0.0/0 trust", "host replication all 0.0.0.0/0 trust"]
        body = "\\n".join(lines)
        res = self.node(name).exec(["sh", "-c", f"f={pgdata}/pg_hba.conf && {{ printf '%b\\n' '{body}'; "
                                                f"cat \"$f\"; }} > \"$f.new\" && mv \"$f.new\" \"$f\" && "
                                                f"pg_ctl -D {pgdata} reload >/dev/null"])
        if res.exit_code != 0:
            raise SetupError(f"{name}: could not open pg_hba.conf to the harness: {res.output[-300:]}")
        if own and self.own.settings:
            conf = "\\n".join(f"{k} = '{v}'" for k, v in self.own.settings.items())
            self.node(name).exec(["sh", "-c", f"printf '%b\\n' \"{conf}\" >> {PGAF_DATA}/postgresql.auto.conf "
                                              f"&& pg_ctl -D {PGAF_DATA} reload >/dev/null"])

    def start_again(self, name: str, *, deposed: bool) -> str:
        """Boot the node and run its keeper again: the monitor rejoins it (pg_rewind, catching up)."""
        t0 = now()
        node = self.node(name)
        if not node.is_running():
            node.start()
        if name == MONITOR:
            self._detach(MONITOR, f"rm -f {MONITOR_DATA}/postmaster.pid; rm -rf /tmp/pg_autoctl; "
                                  f"exec pg_autoctl run --pgdata {MONITOR_DATA} >> {PGAF_LOG} 2>&1")
        else:
            self._start_keeper(name, create=False)
        how = "booted, pg_autoctl run (the monitor rejoins it)"
        self.history.add(ActionEvent(at=t0, end=now(), action="restart", target=name, outcome="ok", detail=how))
        return how

    def ha_view(self) -> dict[str, Any] | None:
        rows = self.states(max_age=0)
        return None if rows is None else {"nodes": [dict(zip(("name", "reported", "goal", "timeline", "health"), r,
                                                             strict=True)) for r in rows]}

    def describe(self) -> str:
        s = self.settings
        leader = self.leader_or_none() or "none"
        return (f"pg_auto_failover: primary {leader}, secondaries {', '.join(n for n in self.names if n != leader)}, "
                f"monitor; health check every {s.health_check_period_ms} ms, unhealthy after {s.unhealthy_timeout_ms} ms")

    # -- the monitor's view ------------------------------------------------------------------

    def _monitor_conn(self) -> str:
        return conninfo(self.address(MONITOR), timeout=1, dbname="pg_auto_failover")

    def states(self, *, max_age: float = 0.05) -> list[tuple[str, str, str, int | None, int]] | None:
        """(name, reported state, assigned state, timeline, health) per node; None: no monitor answer."""
        with self._lock:
            t, cached = self._cache
            if cached is not None and time.monotonic() - t < max_age:
                return cached
            try:
                with psycopg.connect(self._monitor_conn(), autocommit=True) as conn:
                    conn.execute("SET statement_timeout = 1000")
                    cur = conn.execute("SELECT nodename, reportedstate::text, goalstate::text, reportedtli, health "
                                       "FROM pgautofailover.node ORDER BY nodename")
                    rows = [(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else int(r[3]), int(r[4]))
                            for r in cur.fetchall()]
            except (psycopg.Error, OSError, SetupError):
                return None
            self._cache = (time.monotonic(), rows)
            return rows

    def events_since(self, event_id: int) -> list[tuple[int, float, str, str]]:
        try:
            with psycopg.connect(self._monitor_conn(), autocommit=True) as conn:
                cur = conn.execute("SELECT eventid, extract(epoch FROM eventtime)::float8, nodename, description "
                                   "FROM pgautofailover.event WHERE eventid > %s ORDER BY eventid", (event_id,))
                return [(int(r[0]), float(r[1]), str(r[2]), str(r[3] or "")) for r in cur.fetchall()]
        except (psycopg.Error, OSError, SetupError):
            return []

    @staticmethod
    def stamp_of(wall: float) -> Stamp:
        """A monitor's wall-clock time on the history's monotonic clock (containers share the host clock)."""
        ref = now()
        return Stamp(t=ref.t - (ref.wall - wall), wall=wall)

    def describe_view(self) -> str:
        return f"pg_auto_failover nodes (name, reported, assigned, timeline, health): {self.states(max_age=0)}"

    @property
    def primary(self) -> str:
        rows = self.states() or []
        leaders = sorted(n for n, rep, goal, _, _ in rows if rep in _PRIMARY_STATES and goal in _PRIMARY_STATES)
        if not leaders:
            raise UnknownTarget("the pg_auto_failover monitor names no primary right now")
        self.roles.observed_leader(leaders[0])
        return leaders[0]

    manager_label = "pg_auto_failover"
    leader_word = "primary"
    streaming_poll_s = 0.2

    @property
    def helper_names(self) -> list[str]:
        return [MONITOR]

    def resolve_special(self, r: str, role: str) -> str | None:
        """"the monitor"; the DCS words are refused (it has none)."""
        if r in ("monitor", "pg_auto_failover monitor"):
            return MONITOR
        if re.fullmatch(r"sync(?:hronous)? (?:replica|standby)|etcd leader|dcs leader", r):
            raise NotAvailable(f"not available on a pg_auto_failover topology: {role} (it has a monitor, no DCS)")
        return None

    def target_help(self) -> str:
        return "say the primary, a replica, replica N, the monitor, or a name"

    # -- nodes -------------------------------------------------------------------------------

    def node_logs(self, name: str, tail: int = 100) -> str:
        try:
            return self.node(name).exec(["tail", "-n", str(tail), PGAF_LOG], user="root", timeout=5).output
        except Exception as exc:  # noqa: BLE001
            return f"(no logs: {exc})"

    # -- observations ------------------------------------------------------------------------

    def streaming_replicas(self, caught_up_to: str | None = None) -> list[str]:
        """Secondaries streaming from the primary, by node name (pg_auto_failover names each
        stream ``pgautofailover_standby_<node id>``; the monitor knows the ids)."""
        with psycopg.connect(self._monitor_conn(), autocommit=True) as conn:
            ids = {int(r[0]): str(r[1]) for r in conn.execute("SELECT nodeid, nodename FROM pgautofailover.node")}
        out = []
        for app in streaming_replicas(self.address(self.primary), caught_up_to):
            m = re.fullmatch(r"pgautofailover_standby_(\d+)", app)
            if m and int(m.group(1)) in ids:
                out.append(ids[int(m.group(1))])
        return sorted(out)


def settings_for(env: Environment, options: Any) -> PgafSettings:
    chosen = options.get("settings") if options else None
    if isinstance(chosen, PgafSettings):
        return chosen
    sect = env.pg_auto_failover
    return PgafSettings(**sect.model_dump()) if sect is not None else PgafSettings()


def use_pgaf(drill: Drill, **settings: Any) -> PgafSettings:
    """Make the drill's lazily started topology pg_auto_failover; ``settings``: PgafSettings fields."""
    chosen = replace(settings_for(drill.env, drill.topology_options("pg_auto_failover")), **settings)
    chosen.check()
    drill.choose_topology("pg_auto_failover", settings=chosen)
    return chosen


def pgaf_of(drill: Drill) -> PgafCluster:
    cluster = drill.cluster
    if not isinstance(cluster, PgafCluster):
        raise NotAvailable(f"not available on a {cluster.kind} topology: this step needs pg_auto_failover "
                           "(Given a pg_auto_failover cluster with N nodes)")
    return cluster


if TYPE_CHECKING:
    from harness.topology.base import Attachable, HaManaged, Restartable, Topology

    def _conforms(p: PgafCluster) -> tuple[Topology, Restartable, HaManaged, Attachable]:
        return p, p, p, p
