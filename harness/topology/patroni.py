"""Patroni + etcd: N PostgreSQL nodes each managed by Patroni, etcd in its own containers.

The same interface as :class:`~harness.topology.streaming.StreamingCluster` where the drill,
probes and faults use it, but the roles come from Patroni, not from the harness: ``primary``
is the leader named by Patroni's REST API (``GET /cluster`` on port 8008), asked of a live
member at the moment it is needed. Patroni bootstraps with initdb into a fresh PGDATA
(``/var/lib/postgresql/patroni``); the image's pre-initialised data directory is only for the
streaming topology. The containers run the node image with ``HARNESS_ROLE=patroni`` (node-init
then starts nothing) and the harness starts ``etcd``/``patroni`` in them as postgres.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness.environment import Environment
from harness.errors import SetupError, UnknownTarget, WaitTimeout
from harness.topology.base import NotAvailable
from harness.history import ActionEvent, HaSettings, HaView, History, Stamp, now
from harness.images.choose import image_for
from harness.images.versions import ImageVersions, image_versions
from harness.ownconfig import OwnConfig, deep_merge, own_config
from harness.runtime.base import Runtime
from harness.topology.pg import sql
from harness.topology.managed import ManagedCluster, ManagerWatch
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["PATRONI_DATA", "PatroniCluster", "PatroniSettings", "PatroniWatch", "patroni_of", "settings_for",
           "use_patroni"]

log = logging.getLogger(__name__)
PATRONI_DATA = "/var/lib/postgresql/patroni"
CONFIG = "/var/lib/postgresql/patroni.yml"
PATRONI_LOG = "/var/log/postgresql/patroni.log"
ETCD_LOG = "/var/log/postgresql/etcd.log"
#: pgrep -f pattern of the Patroni daemon (the brackets keep pgrep from matching the shell running it).
PATRONI_PROCESS = "[b]in/patroni "
REST_PORT = 8008
ETCD_PORT = 2379


def effective_ttl(ttl: int, patroni_version: str) -> int:
    """The leader-key TTL Patroni applies: from Patroni 4 on it raises any ttl below 20 s to 20
    (its log: "ttl=10 can't be smaller than 20, adjusting..."); 3.x takes what it is given."""
    major = patroni_version.split(".", 1)[0]
    return max(ttl, 20) if major.isdigit() and int(major) >= 4 else ttl


@dataclass
class PatroniSettings:
    """What the environment and the steps may set (Patroni's DCS settings)."""

    nodes: int = 3
    etcd_members: int = 1
    ttl: int = 10
    loop_wait: int = 1
    retry_timeout: int = 3
    synchronous_mode: bool = False
    maximum_lag_on_failover: int = 1048576
    use_pg_rewind: bool = True
    parameters: dict[str, str] = field(default_factory=dict)
    source: str = "debian"  # or "pypi": the image then has Patroni `version` from PyPI (harness.images.pypi)
    version: str | None = None

    def check(self) -> None:
        # Patroni's own rule: the leader must be able to renew its key (loop_wait + 2 retries) in ttl.
        if self.loop_wait + 2 * self.retry_timeout > self.ttl:
            raise SetupError(f"Patroni needs loop_wait + 2*retry_timeout <= ttl "
                             f"({self.loop_wait} + 2*{self.retry_timeout} > {self.ttl})")
        if self.etcd_members not in (1, 3, 5):
            raise SetupError(f"an etcd of {self.etcd_members} members: use 1, 3 or 5")
        if not 1 <= self.nodes <= 5:
            raise SetupError(f"a Patroni cluster of {self.nodes} nodes: use 1 to 5 (this machine has 2 cores)")


def _yaml(obj: Any) -> str:
    # JSON is YAML: no yaml dumper quirks (on/off, quoting) in the config Patroni reads.
    return json.dumps(obj, indent=1)


def _http_json(url: str, *, data: bytes | None = None, timeout: float = 0.5) -> Any:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the run's own containers only
        return json.loads(resp.read().decode() or "null")


class PatroniWatch(ManagerWatch):
    """Polls Patroni's ``/cluster`` and writes every change of the view into the history.

    A change is a different leader (or none: the leader key expired or was released), or a
    member's role, state or timeline that changed, or a member that appeared or vanished.
    Each one is a :class:`~harness.history.HaView` event (leader, and each member's role,
    state and timeline); the failover checker reads detection, new leader, rejoin and timeline forks from them. Resolution is
    the poll interval plus one REST answer (a frozen member can hold a poll for 0.4 s).
    """

    thread_name = "patroni-watch"

    def __init__(self, cluster: PatroniCluster, *, interval_s: float = 0.2, max_duration_s: float = 3600) -> None:
        super().__init__(interval_s=interval_s, max_duration_s=max_duration_s)
        self.cluster = cluster
        self._last: tuple[str | None, dict[str, tuple[str, str, int | None]], bool] | None = None

    def view(self) -> HaView:
        """Patroni's view now, stamped when it was asked for (not when a slow member answered)."""
        at, data = self.cluster.members_at(max_age=self.interval_s / 2)
        if data is None:
            return HaView(at=at, leader=None, unreachable=True)
        members: dict[str, tuple[str, str, int | None]] = {}
        for m in data.get("members", []):
            tl = m.get("timeline")
            members[str(m.get("name"))] = (str(m.get("role")), str(m.get("state")), None if tl is None else int(tl))
        leaders = sorted(n for n, v in members.items() if v[0] in ("leader", "standby_leader"))
        return HaView(at=at, leader=leaders[0] if leaders else None, members=dict(sorted(members.items())))

    def poll(self) -> None:
        view = self.view()
        seen = (view.leader, view.members, view.unreachable)
        if seen != self._last:
            before = self._last[0] if self._last is not None else None
            self._last = seen
            self.cluster.history.add(view)
            leader, at = view.leader, view.at
            if leader != before and not view.unreachable:
                # An HA event on the timeline: the leader key went away, or a member took it.
                tl = view.members[leader][2] if leader in view.members else None
                self.cluster.history.add(ActionEvent(
                    at=at, end=at, action=f"patroni: {leader} leads" if leader else "patroni: no leader",
                    target=leader or "", outcome="ok",
                    detail=f"{leader} holds the leader key (timeline {tl})" if leader
                    else f"the leader key of {before} expired or was released"))

class PatroniCluster(ManagedCluster):
    """The live Patroni topology: roles read from Patroni's REST API, nodes by name."""

    kind = "patroni"
    scope = "pgh"
    config_path = CONFIG
    data_directory = PATRONI_DATA

    def __init__(self, runtime: Runtime, env: Environment, history: History,
                 settings: PatroniSettings | None = None, *, seed: int | None = None) -> None:
        self.env = env
        self.settings = settings or PatroniSettings()
        self.settings.check()
        super().__init__(runtime, history, [f"node{i + 1}" for i in range(self.settings.nodes)], seed=seed)
        self.etcd_names = [f"etcd{i + 1}" for i in range(self.settings.etcd_members)]
        self.sync = self.settings.synchronous_mode
        # The probes ask for the primary every attempt: one REST round per 50 ms at most.
        self._cache: tuple[Stamp, dict[str, Any] | None] = (Stamp(t=0.0, wall=0.0), None)
        self._lock = threading.Lock()
        self._unanswered: dict[str, float] = {}  # member -> when it last failed to answer (monotonic)
        self.bootstrap_s: float | None = None
        self.versions: ImageVersions | None = None
        self.own = OwnConfig()
        self.watch: PatroniWatch = PatroniWatch(self, max_duration_s=env.probe.max_duration_s)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, timeout: float = 90) -> None:
        t0 = now()
        image = image_for(self.env)
        self.versions = image_versions(image)  # PostgreSQL's bin dir and Patroni's version: the image's own
        self.own = own_config(self.env, image, self.history)  # stacks: the team's own files, validated
        specs = [(n, image, {"HARNESS_NODE": n, "HARNESS_ROLE": "patroni"}) for n in self.etcd_names + self.names]
        # No loop volumes: Patroni's PGDATA lives in the container (the disk faults are streaming-only).
        for node in self.runtime.create_nodes(specs, volumes=None):
            self._nodes[node.name] = node
        for name in self.etcd_names:
            self._start_etcd(name)
        wait_until(self._etcd_healthy, timeout=30, interval=0.1, what="etcd to answer",
                   describe=lambda: "\n".join(self.node_logs(n, 10) for n in self.etcd_names))
        for name in self.names:
            self._start_patroni(name)
        try:
            self.wait_streaming(timeout=timeout)
        except WaitTimeout as exc:
            logs = "\n".join(f"--- {n}:\n{self.node_logs(n, 15)}" for n in self.names)
            raise WaitTimeout(f"the Patroni topology did not become healthy: {exc}\n{logs}") from exc
        t1 = now()
        self.bootstrap_s = t1.t - t0.t
        table = self.env.probe.table
        leader = self.address(self.primary)
        sql(leader, f"CREATE TABLE IF NOT EXISTS {table} (seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        sql(leader, "CREATE TABLE IF NOT EXISTS probe_fanout (id bigserial PRIMARY KEY, node text NOT NULL, "
                    "seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())")
        self.started = True
        self.history.add(ActionEvent(at=t0, end=t1, action="topology.start", target=",".join(self.names),
                                     outcome="ok", detail=f"{self.describe()}; healthy in {self.bootstrap_s:.1f} s"))
        self.history.note("patroni.bootstrap", f"bootstrap to healthy (all replicas streaming): {self.bootstrap_s:.2f} s")
        ttl = self.ttl
        if ttl != self.settings.ttl:
            self.history.note("patroni.ttl", f"Patroni {self.versions.patroni if self.versions else ''} raises ttl "
                                             f"{self.settings.ttl} to {ttl:g} (its floor): the drill runs at ttl {ttl:g}")
        self.history.add(HaSettings(at=now(), manager="patroni", ttl=float(ttl), settings=asdict(self.settings)))
        self.watch.start()

    @property
    def ttl(self) -> int:
        """The ttl Patroni applies (the configured one, raised to Patroni 4's floor)."""
        return effective_ttl(self.settings.ttl, self.versions.patroni if self.versions else "")

    def _start_etcd(self, name: str) -> None:
        peers = ",".join(f"{n}=http://{n}:2380" for n in self.etcd_names)
        cmd = (f"exec etcd --name {name} --data-dir /var/lib/postgresql/etcd "
               f"--listen-client-urls http://0.0.0.0:{ETCD_PORT} --advertise-client-urls http://{name}:{ETCD_PORT} "
               f"--listen-peer-urls http://0.0.0.0:2380 --initial-advertise-peer-urls http://{name}:2380 "
               f"--initial-cluster {peers} --initial-cluster-state new --initial-cluster-token {self.scope} "
               f"--enable-v2=true >> {ETCD_LOG} 2>&1")
        self._detach(name, cmd)

    def _config(self, name: str) -> dict[str, Any]:
        s = self.settings
        if self.versions is None:
            raise SetupError("the Patroni config is written once the image is known (start)")
        params = {"wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on", "max_wal_senders": 10,
                  "max_replication_slots": 10, "wal_keep_size": "128MB", "fsync": "off",
                  "synchronous_commit": "on", "wal_retrieve_retry_interval": "500ms"} | dict(s.parameters)
        params |= self.own.settings
        hba = [*self.own.hba, "local all all trust", "host all all 0.0.0.0/0 trust", "host replication all 0.0.0.0/0 trust"]
        return deep_merge(self._generated(name, s, params, hba), self.own.patroni)

    def _generated(self, name: str, s: PatroniSettings, params: dict[str, Any], hba: list[str]) -> dict[str, Any]:
        assert self.versions is not None
        return {
            "scope": self.scope,
            "name": name,
            "restapi": {"listen": f"0.0.0.0:{REST_PORT}", "connect_address": f"{name}:{REST_PORT}"},
            "etcd3": {"hosts": [f"{n}:{ETCD_PORT}" for n in self.etcd_names]},
            "bootstrap": {
                "dcs": {"ttl": s.ttl, "loop_wait": s.loop_wait, "retry_timeout": s.retry_timeout,
                        "maximum_lag_on_failover": s.maximum_lag_on_failover,
                        "synchronous_mode": s.synchronous_mode,
                        "postgresql": {"use_pg_rewind": s.use_pg_rewind, "use_slots": True, "parameters": params}},
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "no-sync"],
            },
            "postgresql": {
                "listen": "0.0.0.0:5432",
                "connect_address": f"{name}:5432",
                "data_dir": PATRONI_DATA,
                "bin_dir": self.versions.pg_bin,
                "pgpass": "/tmp/pgpass",
                "authentication": {"superuser": {"username": "postgres"},
                                   "replication": {"username": "postgres"},
                                   "rewind": {"username": "postgres"}},
                "parameters": {"unix_socket_directories": "/var/run/postgresql"},
                "pg_hba": hba,
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }

    def _start_patroni(self, name: str) -> None:
        node = self.node(name)
        res = node.exec(["sh", "-c", f'printf %s "$0" > {CONFIG}', _yaml(self._config(name))])
        if res.exit_code != 0:
            raise SetupError(f"could not write the Patroni config on {name}: {res.output}")
        self._detach(name, f"exec patroni {CONFIG} >> {PATRONI_LOG} 2>&1")

    def start_patroni_daemon(self, name: str) -> None:
        """Start Patroni in a running node whose PostgreSQL may still run (it adopts it)."""
        self._detach(name, f"exec patroni {CONFIG} >> {PATRONI_LOG} 2>&1")

    def rest_post(self, name: str, path: str, body: bytes, *, timeout: float = 30) -> str:
        """POST to a member's REST API (``/switchover``, ``/failover``); its answer as text."""
        req = urllib.request.Request(f"http://{self.address(name)}:{REST_PORT}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the run's own containers only
            return str(resp.read().decode(errors="replace"))[:500]

    def restart_patroni(self, name: str) -> None:
        """Boot a killed node again and start Patroni in it (it rejoins by itself: rewind or reinit)."""
        node = self.node(name)
        if not node.is_running():
            node.start()
        if name in self.etcd_names:
            self._start_etcd(name)
        else:
            node.exec(["rm", "-f", f"{PATRONI_DATA}/postmaster.pid"])
            self._detach(name, f"exec patroni {CONFIG} >> {PATRONI_LOG} 2>&1")

    def patroni_running(self, name: str) -> bool:
        node = self.node(name)
        return node.is_running() and node.exec(["pgrep", "-f", PATRONI_PROCESS], user="root",
                                                timeout=10).exit_code == 0

    def start_again(self, name: str, *, deposed: bool) -> str:
        """Boot the node and start Patroni in it: Patroni rejoins it by itself (rewind or reinit),
        deposed leader or not. A node whose Patroni still runs (only its postmaster was killed)
        gets PostgreSQL back from Patroni: the harness waits for it."""
        t0 = now()
        if name in self.names and self.patroni_running(name):
            self.wait_ready(name, timeout=60)
            how = "Patroni was running: it started PostgreSQL again"
        else:
            self.restart_patroni(name)
            how = "booted, Patroni started (it rejoins by itself)"
        self.history.add(ActionEvent(at=t0, end=now(), action="restart", target=name, outcome="ok", detail=how))
        return how

    def ha_view(self) -> dict[str, Any] | None:
        return self.members(max_age=0)

    def describe(self) -> str:
        s = self.settings
        try:
            leader = self.primary
        except UnknownTarget:
            leader = "none"
        return (f"patroni: leader {leader}, replicas {', '.join(n for n in self.names if n != leader)}, "
                f"etcd x{len(self.etcd_names)}, ttl {s.ttl}, loop_wait {s.loop_wait}, retry_timeout {s.retry_timeout}"
                + (", synchronous mode" if s.synchronous_mode else ""))

    # -- Patroni's view ----------------------------------------------------------------------

    def members(self, *, max_age: float = 0.05) -> dict[str, Any] | None:
        """Patroni's ``/cluster`` answer, asked of the first live member that replies (None: none did)."""
        return self.members_at(max_age=max_age)[1]

    def members_at(self, *, max_age: float = 0.05) -> tuple[Stamp, dict[str, Any] | None]:
        """:meth:`members` with the moment the answer was asked for (a cached one keeps its own)."""
        with self._lock:
            at, cached = self._cache
            if cached is not None and time.monotonic() - at.t < max_age:
                return at, cached
            asked = now()
            # Members believed up first, those that did not answer lately and the last known
            # leader last: a frozen member accepts the connection and hangs until the timeout.
            quiet = {n for n, t in self._unanswered.items() if asked.t - t < 5}
            order = sorted(self.names, key=lambda n: (n in self.roles.down, n in quiet, n == self.roles.leader))
            for name in order:
                try:
                    data = _http_json(f"http://{self.address(name)}:{REST_PORT}/cluster", timeout=0.4)
                except (OSError, ValueError, SetupError):
                    self._unanswered[name] = now().t
                    continue
                self._unanswered.pop(name, None)
                if isinstance(data, dict):
                    self._cache = (asked, data)
                    return asked, data
            return asked, None

    def _with_role(self, *roles: str) -> list[str]:
        data = self.members() or {}
        return sorted(m["name"] for m in data.get("members", []) if m.get("role") in roles)

    @property
    def primary(self) -> str:
        leaders = self._with_role("leader", "standby_leader")
        if not leaders:
            raise UnknownTarget("Patroni names no leader right now")
        leader = leaders[0]
        self.roles.observed_leader(leader)
        return leader

    def sync_standbys(self) -> list[str]:
        return self._with_role("sync_standby")

    def etcd_leader(self) -> str:
        for name in self.etcd_names:
            try:
                st = _http_json(f"http://{self.address(name)}:{ETCD_PORT}/v3/maintenance/status", data=b"{}")
            except (OSError, ValueError, SetupError):
                continue
            if str(st.get("leader")) == str(st.get("header", {}).get("member_id")):
                return name
        raise UnknownTarget("no etcd member says it is the leader")

    def _etcd_healthy(self) -> bool:
        try:
            self.etcd_leader()
            return True
        except UnknownTarget:
            return False

    @property
    def helper_names(self) -> list[str]:
        return self.etcd_names

    manager_label = "Patroni"

    def resolve_special(self, r: str, role: str) -> str | None:
        """"the Patroni leader", "the etcd leader", "the sync standby"."""
        if r == "patroni leader":
            return self.primary
        if r in ("etcd leader", "dcs leader"):
            return self.etcd_leader()
        if re.fullmatch(r"sync(?:hronous)? (?:replica|standby)", r):
            sync = self.sync_standbys()
            if not sync:
                raise UnknownTarget("Patroni names no sync standby (is synchronous mode on?)")
            return sync[0]
        return None

    def target_help(self) -> str:
        return "say the leader, the sync standby, a replica, replica N, the etcd leader, or a name"

    def describe_view(self) -> str:
        return f"Patroni members: {self.members(max_age=0)}"

    # -- nodes -------------------------------------------------------------------------------

    def node_logs(self, name: str, tail: int = 100) -> str:
        log_file = ETCD_LOG if name in self.etcd_names else PATRONI_LOG
        try:
            res = self.node(name).exec(["tail", "-n", str(tail), log_file], user="root", timeout=5)
            return res.output
        except Exception as exc:  # noqa: BLE001
            return f"(no logs: {exc})"

    def replicas_streaming_ready(self, leader: str, expect: list[str] | None) -> bool:
        # Synchronous mode: healthy once Patroni has named a sync standby.
        return not (self.sync and expect is None and len(self.names) > 1 and not self.sync_standbys())


def settings_for(env: Environment, options: Any) -> PatroniSettings:
    """The environment's ``patroni:`` section, then what the steps chose (``options["settings"]``)."""
    chosen = options.get("settings") if options else None
    if isinstance(chosen, PatroniSettings):
        return chosen
    return PatroniSettings(**env.patroni.model_dump()) if env.patroni else PatroniSettings()


def use_patroni(drill: Drill, **settings: Any) -> PatroniSettings:
    """Make the drill's lazily started topology Patroni + etcd; ``settings`` are PatroniSettings
    fields, applied over the environment's ``patroni:`` section and earlier Givens."""
    current = settings_for(drill.env, drill.topology_options("patroni"))
    chosen = replace(current, **settings)
    chosen.check()
    drill.choose_topology("patroni", settings=chosen)
    return chosen


def patroni_of(drill: Drill) -> PatroniCluster:
    """The drill's running Patroni topology (starting it); NotAvailable on any other."""
    cluster = drill.cluster
    if not isinstance(cluster, PatroniCluster):
        raise NotAvailable(f"not available on a {cluster.kind} topology: this step needs Patroni "
                           "(Given a Patroni cluster with N nodes and a M-member etcd)")
    return cluster
