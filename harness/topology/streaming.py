"""Streaming replication: one primary and N replicas, asynchronous or synchronous.

Every node boots from the same pre-initialised data directory in the image, so a replica
is a clone of the primary's starting state and streams at once: no initdb, no base backup.
Roles are kept in a :class:`~harness.topology.roles.Roles` as the harness changes them
(failover, rejoin) and checked against the nodes themselves (``pg_is_in_recovery``) whenever a
step asks.

Per replica (``topology.replica_settings``, :mod:`harness.replicas.plan`), a replica may stream
from another replica (cascading: its ``primary_conninfo`` names that node, and the Roles know
its upstream) and apply WAL late (``recovery_min_apply_delay``).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable, Mapping
from typing import Any

from psycopg import sql as psql

from harness.environment import Environment
from harness.errors import CommandFailed, UnknownTarget, WaitTimeout
from harness.history import ActionEvent, History, now
from harness.images.choose import image_for
from harness.ownconfig import apply_hba, own_config
from harness.replicas.plan import NodePlan, delay_setting, plan
from harness.runtime.base import Node, Runtime
from harness.runtime.volumes import Kind, LoopVolume, VolumeSizes, volume_metrics
from harness.topology.pg import port_open, sql, sql_one, streaming_replicas, writable_among
from harness.topology.roles import Roles
from harness.wait import wait_until

__all__ = ["PGDATA", "StreamingCluster"]

log = logging.getLogger(__name__)
PGDATA = "/var/lib/postgresql/data"
LOGFILE = "/var/log/postgresql/postgresql.log"


# With harness volumes pg_wal is a link to the WAL volume. A rebuild from a base backup (the
# data directory emptied, then pg_basebackup -X stream) makes pg_wal a plain folder on the data
# volume: move its files back onto the (emptied) WAL volume and link it again.
_WAL_BACK_ON_ITS_VOLUME = (
    f'{{ W="${{HARNESS_WAL_DIR:-}}"; P={PGDATA}/pg_wal; '
    'if [ -n "$W" ] && [ -d "$P" ] && [ ! -L "$P" ]; then '
    'find "$W" -mindepth 1 -delete && find "$P" -mindepth 1 -maxdepth 1 -exec mv -t "$W" {} + '
    '&& rmdir "$P" && ln -s "$W" "$P"; fi; }'
)


def _sync_names(names: Iterable[str], quorum: int) -> str:
    names = sorted(names)
    if not names:
        return ""
    return f"ANY {min(quorum, len(names))} ({', '.join(names)})"


class StreamingCluster:
    """The live topology: which node is primary, which are replicas, how to reach them."""

    kind = "streaming"
    data_directory = PGDATA

    def __init__(self, runtime: Runtime, env: Environment, history: History, *, seed: int | None = None) -> None:
        self.runtime = runtime
        self.env = env
        self.history = history
        self.spec = env.topology
        self.names = self._node_names()
        self.roles = Roles(self.names[0])
        self.sync = self.spec.replication == "sync"
        #: Each node's upstream and apply delay as it starts (cascading, delayed replicas).
        self.plan: dict[str, NodePlan] = plan(self.spec.replicas, self.spec.replica_settings)
        for p in self.plan.values():
            if p.cascaded and p.upstream is not None:
                self.roles.streams_from(p.name, p.upstream)
        self._nodes: dict[str, Node] = {}
        self._rng = random.Random(seed)
        self.started = False

    def _node_names(self) -> list[str]:
        return [f"node{i + 1}" for i in range(self.spec.replicas + 1)]

    @property
    def primary(self) -> str:
        p = self.roles.primary
        assert p is not None  # set from the start
        return p

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, timeout: float = 60) -> None:
        t0 = now()
        image = image_for(self.env)
        vol = self.env.volumes
        sizes = VolumeSizes(vol.data_mb, vol.wal_mb) if vol.enabled else None
        own = own_config(self.env, image, self.history)  # stacks: the team's own files, validated
        settings = dict(self.spec.settings) | own.settings
        if sizes is not None:
            # Sized to the WAL disk as a DBA would: the 1 GB default lets a busy run fill it unasked.
            settings.setdefault("max_wal_size", f"{max(32, sizes.wal_mb // 4)}MB")
        specs = []
        for name in self.names:
            role = "primary" if name == self.primary else "replica"
            mine = dict(settings)
            node_plan = self.plan.get(name)
            if node_plan is not None and node_plan.apply_delay_s > 0:
                mine["recovery_min_apply_delay"] = delay_setting(node_plan.apply_delay_s)
            extra = "\\n".join(f"{k} = '{v}'" for k, v in mine.items())
            env = {
                "HARNESS_NODE": name,
                "HARNESS_ROLE": role,
                "HARNESS_PRIMARY_HOST": self.roles.upstream_of(name) or self.primary,
                "HARNESS_SYNC_NAMES": self.sync_setting(self.primary) if self.sync else "",
                "HARNESS_EXTRA_CONF": extra,
            }
            specs.append((name, image, env))
        for node in self.runtime.create_nodes(specs, volumes=sizes):
            self._nodes[node.name] = node
        try:
            self.wait_streaming(timeout=timeout)
        except WaitTimeout as exc:
            # The error carries what the nodes said, so a failed start explains itself.
            logs = "\n".join(f"--- {n}:\n{self.node_logs(n, 15)}" for n in self.names)
            raise WaitTimeout(f"the topology did not start: {exc}\n{logs}") from exc
        if own.hba:
            apply_hba(self.nodes(), own.hba, PGDATA, own.files["pg_hba"])
        table = self.env.probe.table
        sql(self.address(self.primary),
            f"CREATE TABLE IF NOT EXISTS {table} (seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        self.started = True
        self.history.add(ActionEvent(at=t0, end=now(), action="topology.start", target=",".join(self.names),
                                     outcome="ok", detail=self.describe()))

    def attach(self, *, primary: str | None, old_primary: str | None, down: list[str]) -> None:
        """Take over a topology an earlier process started (roles as that process left them)."""
        for node in self.runtime.nodes():
            self._nodes[node.name] = node
        missing = [n for n in self.names if n not in self._nodes]
        if missing:
            raise UnknownTarget(f"the running topology has no {', '.join(missing)}")
        self.roles.restore(primary=primary or self.names[0], old_primary=old_primary, down=down)
        self.started = True

    def describe(self) -> str:
        rep = f"{self.spec.replication}" + (f" (ANY {self.spec.sync_quorum})" if self.sync else "")
        extra = "".join(f", {n} streams from {u}" for n, u in sorted(self.roles.upstreams.items()))
        extra += "".join(f", {p.name} applies WAL {p.apply_delay_s:g} s late" for p in self.plan.values()
                         if p.apply_delay_s > 0)
        return f"streaming: primary {self.primary}, replicas {', '.join(self.replicas())}, {rep}{extra}"

    def apply_delay_s(self, name: str) -> float:
        """The node's recovery_min_apply_delay as it started (0: it applies WAL at once)."""
        p = self.plan.get(name)
        return p.apply_delay_s if p is not None else 0.0

    # -- nodes and roles ---------------------------------------------------------------------

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise UnknownTarget(f"no node named {name!r} in this topology (nodes: {', '.join(self.names)})") from None

    def nodes(self) -> list[Node]:
        return [self._nodes[n] for n in self.names]

    def address(self, name: str) -> str:
        return self.node(name).address()

    def disk_usage(self, name: str) -> dict[str, float]:
        """Use % of a node's data and WAL volumes (the monitor's ``disk_*_pct``; {} without volumes)."""
        return volume_metrics(self.volumes_of(name))

    def volumes_of(self, name: str) -> Mapping[Kind, LoopVolume]:
        vols: Mapping[Kind, LoopVolume] = getattr(self.node(name), "volumes", {})
        return vols

    def replicas(self) -> list[str]:
        return [n for n in self.names if n != self.primary]

    def resolve(self, role: str) -> str:
        """A role as written in a step ("the primary", "a replica", "replica 2", "node3") → node name."""
        r = role.strip().lower()
        r = re.sub(r"^the\s+", "", r)
        if r in ("primary", "leader", "current primary"):
            return self.primary
        if r in ("old primary", "former primary", "previous primary"):
            if self.roles.old_primary is None:
                raise UnknownTarget("there is no old primary: no failover or primary fault happened yet")
            return self.roles.old_primary
        reps = self.replicas()
        if r in ("a replica", "replica", "any replica", "random replica"):
            reps = [n for n in reps if n not in self.roles.down] or reps
            if not reps:
                raise UnknownTarget("the topology has no replica")
            return self._rng.choice(reps)
        m = re.fullmatch(r"replica\s*(\d+)", r)
        if m:
            i = int(m.group(1))
            if not 1 <= i <= len(reps):
                raise UnknownTarget(f"there is no replica {i}: the topology has {len(reps)} replicas ({', '.join(reps)})")
            return reps[i - 1]
        m = re.fullmatch(r"(?:a|the)?\s*sync(?:hronous)? (?:replica|standby)", r)
        if m and self.sync:
            return self.sync_standbys()[0] if self.sync_standbys() else reps[0]
        if r in self.names:
            return r
        raise UnknownTarget(
            f"unknown target {role!r}: say the primary, the old primary, a replica, replica N "
            f"(1..{len(reps)}), or a node name ({', '.join(self.names)})"
        )

    def sync_standbys(self) -> list[str]:
        rows = sql(self.address(self.primary),
                   "SELECT application_name FROM pg_stat_replication WHERE sync_state IN ('sync','quorum') ORDER BY 1")
        return [r[0] for r in rows]

    def sync_setting(self, primary: str) -> str:
        # A cascaded replica streams from another replica: it can never confirm a commit to ``primary``.
        # (The current primary itself, upstream None, stays: it follows ``primary`` after a failover.)
        direct = [n for n in self.names
                  if n != primary and self.roles.upstream_of(n) in (None, primary, self.roles.primary)]
        return _sync_names(direct, self.spec.sync_quorum)

    # -- observations ------------------------------------------------------------------------

    def in_recovery(self, name: str, timeout: float = 1) -> bool | None:
        """True for a standby, False for a writable primary, None when it does not answer."""
        node = self._nodes[name]
        try:
            if not node.is_running():
                return None
            return bool(sql_one(node.address(), "SELECT pg_is_in_recovery()", timeout=timeout))
        except Exception:  # noqa: BLE001 - down or not accepting connections
            return None

    def writable_nodes(self) -> list[str]:
        return writable_among(self.names, self.in_recovery)

    def streaming_replicas(self, caught_up_to: str | None = None) -> list[str]:
        """Replicas streaming from the primary (and, if given, flushed at least to that LSN)."""
        return streaming_replicas(self.address(self.primary), caught_up_to)

    def wait_streaming(self, *, timeout: float = 30, expect: list[str] | None = None) -> None:
        """Wait until every expected replica streams from its upstream AND has caught up with the primary.

        "Streaming" alone is not enough: a replica on a forked timeline reconnects, streams
        for a moment and is cut off again, over and over. A cascaded replica is asked for on
        its upstream replica's pg_stat_replication, not the primary's.
        """
        want = sorted(expect if expect is not None else self.replicas())
        target: list[str] = []  # the primary's position when it first answers
        by_upstream: dict[str, set[str]] = {}
        for n in want:
            by_upstream.setdefault(self.roles.upstream_of(n) or self.primary, set()).add(n)

        def senders(lsn: str | None) -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for up in by_upstream:
                try:
                    out[up] = streaming_replicas(self.address(up), lsn)
                except Exception:  # noqa: BLE001 - an upstream down or starting: nobody streams from it
                    out[up] = []
            return out

        def ok() -> bool:
            if not target:
                if not port_open(self.address(self.primary)):
                    return False
                target.append(str(sql_one(self.address(self.primary), "SELECT pg_current_wal_lsn()::text")))
            got = senders(target[0])
            return all(group <= set(got[up]) for up, group in by_upstream.items())

        def state() -> str:
            lsn = target[0] if target else None
            return f"streaming (by upstream): {senders(None)}, caught up to {lsn}: {senders(lsn)}"

        wait_until(ok, timeout=timeout, interval=0.02,
                   what=f"replicas {', '.join(want)} streaming from {self.primary} and caught up", describe=state)

    def node_logs(self, name: str, tail: int = 100) -> str:
        try:
            return self.node(name).logs(tail)
        except Exception as exc:  # noqa: BLE001
            return f"(no logs: {exc})"

    # -- actions used by faults and recovery -------------------------------------------------

    def pg_ctl(self, name: str, *args: str, timeout: float = 60) -> str:
        node = self.node(name)
        cmd = ["pg_ctl", "-D", PGDATA, "-l", LOGFILE, *args]
        res = node.exec(cmd, timeout=timeout)
        if res.exit_code != 0:
            raise CommandFailed(name, " ".join(cmd), res.exit_code, res.output + "\n" + self.node_logs(name, 30))
        return res.output

    def postgres_running(self, name: str) -> bool:
        node = self.node(name)
        if not node.is_running():
            return False
        return node.exec(["pg_ctl", "-D", PGDATA, "status"], timeout=5).exit_code == 0

    def start_postgres(self, name: str) -> None:
        node = self.node(name)
        if not node.is_running():
            node.start()
        if not self.postgres_running(name):
            self.pg_ctl(name, "-w", "-t", "60", "start")

    def configure_standby(self, name: str, primary: str, *, host: str | None = None) -> None:
        """Make a stopped node a standby of node ``primary`` (files only; start it afterwards),
        reaching it by ``host`` (default: its name on the run's network)."""
        conf = (f"cluster_name = '{name}'\n"
                f"primary_conninfo = 'host={host or primary} port=5432 user=postgres application_name={name}'\n")
        script = (f"printf %s \"$0\" > {PGDATA}/conf.d/node.conf && touch {PGDATA}/standby.signal "
                  f"&& sed -i '/^primary_conninfo\\|^synchronous_standby_names/d' {PGDATA}/postgresql.auto.conf"
                  f" && {_WAL_BACK_ON_ITS_VOLUME}")
        res = self.node(name).exec(["sh", "-c", script, conf])
        if res.exit_code != 0:
            raise CommandFailed(name, "configure standby", res.exit_code, res.output)
        self.roles.streams_from(name, primary)

    def wait_ready(self, name: str, timeout: float = 30) -> None:
        wait_until(lambda: self.in_recovery(name) is not None, timeout=timeout, interval=0.02,
                   what=f"{name} to accept connections", describe=lambda: self.node_logs(name, 20))

    def repoint(self, name: str, primary: str) -> None:
        """A running standby follows ``primary`` (by host name, on the run's network)."""
        conninfo = f"host={primary} port=5432 user=postgres application_name={name}"
        addr = self.address(name)
        sql(addr, "ALTER SYSTEM SET primary_conninfo = %s" % psql.quote(conninfo))
        sql(addr, "SELECT pg_reload_conf()")
        self.roles.streams_from(name, primary)

    def start_again(self, name: str, *, deposed: bool) -> str:
        """Boot a killed or stopped node; a deposed primary rejoins as a replica (pg_rewind)."""
        if deposed:
            return self.rejoin(name)
        t0 = now()
        self.start_postgres(name)
        self.wait_ready(name)
        self.history.add(ActionEvent(at=t0, end=now(), action="restart", target=name, outcome="ok", detail="started"))
        return "started"

    def release(self) -> list[str]:
        return []

    def drill_parts(self) -> list[Any]:
        """A watcher of the cascaded and delayed replicas, when there are any (harness.replicas.tree)."""
        from harness.replicas.tree import ReplicaWatch

        watched = [p.name for p in self.plan.values() if p.cascaded or p.apply_delay_s > 0]
        return [ReplicaWatch(self, watched, max_duration_s=self.env.probe.max_duration_s)] if watched else []

    def rejoin(self, name: str) -> str:
        """Bring a deposed primary back as a standby of the current primary (pg_rewind, else rebuild)."""
        t0 = now()
        primary = self.primary
        node = self.node(name)
        if not node.is_running():
            node.start()
        if self.postgres_running(name):
            self.pg_ctl(name, "-m", "fast", "-w", "stop")
        source = f"host={primary} port=5432 user=postgres dbname=postgres"
        # A just-promoted primary records its new timeline in pg_control only at its next
        # checkpoint; without one pg_rewind sees one timeline and wrongly says "no rewind required".
        sql(self.address(primary), "CHECKPOINT", timeout=60)
        res = node.exec(["pg_rewind", "--target-pgdata", PGDATA, "--source-server", source, "--no-sync"], timeout=300)
        how = "pg_rewind"
        if res.exit_code != 0:
            log.warning("pg_rewind of %s failed, rebuilding from a base backup: %s", name, res.output[-500:])
            how = "rebuild (pg_rewind failed)"
            rebuild = node.exec(["sh", "-c",
                                 f"find {PGDATA} -mindepth 1 -delete && "
                                 f"pg_basebackup --no-sync -X stream -D {PGDATA} -d '{source}'"], timeout=600)
            if rebuild.exit_code != 0:
                self.history.add(ActionEvent(at=t0, end=now(), action="rejoin", target=name, outcome="failed",
                                             detail=rebuild.output[-500:]))
                raise CommandFailed(name, "pg_basebackup", rebuild.exit_code, rebuild.output)
        elif "no rewind required" in res.output:
            how = "pg_rewind (no rewind required)"
        self.configure_standby(name, primary)
        self.pg_ctl(name, "-w", "-t", "60", "start")
        try:
            self.wait_streaming(timeout=60, expect=[name])
        except Exception as exc:
            self.history.add(ActionEvent(at=t0, end=now(), action="rejoin", target=name, outcome="failed",
                                         detail=f"{how}, but it does not stream: {exc}"))
            raise
        self.history.add(ActionEvent(at=t0, end=now(), action="rejoin", target=name, outcome="ok",
                                     detail=f"{how} onto {primary}"))
        return how

    def wait_one_primary(self, timeout: float) -> str:
        def one() -> str | None:
            w = self.writable_nodes()
            return w[0] if len(w) == 1 else None

        return wait_until(one, timeout=timeout, interval=0.05, what="exactly one primary",
                          describe=lambda: f"writable nodes: {self.writable_nodes()}")

    def teardown(self) -> None:
        self.runtime.teardown()
        self._nodes.clear()
        self.started = False

