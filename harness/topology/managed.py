"""What the HA-managed topologies share: a watch of the manager's view, nodes by name, roles.

Patroni (:mod:`harness.topology.patroni`) and pg_auto_failover (:mod:`harness.topology.pgaf`)
differ in where the leader comes from (Patroni's REST API, the monitor's tables) and in their
helper nodes (etcd members, the monitor); the rest is the same and lives here once:

- :class:`ManagerWatch`: a bounded background loop that calls ``poll()`` (each manager's watch
  writes its view's changes into the history) and is a drill part (stopped on close);
- :class:`ManagedCluster`: the node table, the role words every HA topology understands
  ("the leader", "the old primary", "a replica", "replica N", a name), the observations
  (``in_recovery``, ``writable_nodes``) and the waits (a new leader, exactly one primary, a
  node ready, every replica streaming). A subclass names its ``primary`` (asking its manager),
  its helper nodes, and how to describe the manager's view when a wait times out.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from types import TracebackType
from typing import Any

from harness.errors import UnknownTarget
from harness.history import History
from harness.runtime.base import Node, Runtime
from harness.topology.pg import port_open, sql_one, streaming_replicas, writable_among
from harness.topology.roles import Roles
from harness.wait import wait_until

__all__ = ["LEADER_WORDS", "OLD_LEADER_WORDS", "ManagedCluster", "ManagerWatch"]

log = logging.getLogger(__name__)

#: What a step may call the node the manager names as leader.
LEADER_WORDS = ("leader", "primary", "current primary", "current leader")
#: ... and the leader before the last failover.
OLD_LEADER_WORDS = ("old leader", "old primary", "former primary", "previous primary", "former leader")
_ANY_REPLICA = ("a replica", "replica", "any replica", "random replica", "a secondary")


class ManagerWatch:
    """Polls an HA manager every ``interval_s`` until stopped or ``max_duration_s`` passed.

    Subclasses implement :meth:`poll` (read the manager's view, write what changed into the
    history). A failing poll is logged and the next one tries again: an observer never breaks
    a drill. A drill part: the topology hands it to the drill, which stops it on close.
    """

    #: The thread's name and what the log calls a failed poll.
    thread_name = "ha-watch"

    def __init__(self, *, interval_s: float = 0.2, max_duration_s: float = 3600) -> None:
        self.interval_s = interval_s
        self.max_duration_s = max_duration_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_duration_s
        while not self._stop.is_set() and time.monotonic() < deadline:  # bounded by max_duration_s
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - an observer never breaks a drill; the next poll tries again
                log.exception("%s: a poll failed", self.thread_name)
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ManagerWatch:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class ManagedCluster:
    """The part of an HA-managed topology that does not depend on which manager runs it."""

    kind = "managed"
    #: How errors name the manager ("Patroni", "pg_auto_failover").
    manager_label = "the HA manager"
    #: What the manager calls the node that takes writes (errors and waits say it).
    leader_word = "leader"
    #: How often the streaming wait asks.
    streaming_poll_s = 0.1

    def __init__(self, runtime: Runtime, history: History, names: list[str], *, seed: int | None = None) -> None:
        self.runtime = runtime
        self.history = history
        self.names = names
        self.roles = Roles()
        self._nodes: dict[str, Node] = {}
        self._rng = random.Random(seed)
        self.started = False
        self.watch: ManagerWatch | None = None

    # -- what a subclass says ------------------------------------------------------------------

    @property
    def primary(self) -> str:
        raise NotImplementedError

    @property
    def helper_names(self) -> list[str]:
        """Nodes of the topology that run no PostgreSQL of the cluster (etcd, the monitor)."""
        return []

    def describe_view(self) -> str:
        """The manager's view in one line, for a wait that timed out."""
        return ""

    def resolve_special(self, r: str, role: str) -> str | None:
        """The manager's own role words (``r`` normalised, ``role`` as written); None: not one."""
        return None

    def target_help(self) -> str:
        """The role words :meth:`resolve` accepts, for its error."""
        return "say the leader, a replica, replica N, or a name"

    def replicas_streaming_ready(self, leader: str, expect: list[str] | None) -> bool:
        """A manager's extra condition for "healthy" beyond every replica streaming."""
        return True

    # -- roles ---------------------------------------------------------------------------------

    def leader_or_none(self) -> str | None:
        try:
            return self.primary
        except UnknownTarget:
            return None

    def replicas(self) -> list[str]:
        leader = self.leader_or_none()
        return [n for n in self.names if n != leader]

    def resolve(self, role: str) -> str:
        """"the leader"/"the primary", "the old leader", "a replica", "replica N", a name, and the
        manager's own words (:meth:`resolve_special`)."""
        r = re.sub(r"^the\s+", "", role.strip().lower())
        if r in LEADER_WORDS:
            return self.primary
        special = self.resolve_special(r, role)
        if special is not None:
            return special
        if r in OLD_LEADER_WORDS:
            if self.roles.old_primary is None:
                raise UnknownTarget(f"there is no old {self.leader_word}: no failover happened yet")
            return self.roles.old_primary
        reps = self.replicas()
        if r in _ANY_REPLICA:
            live = [n for n in reps if n not in self.roles.down] or reps
            if not live:
                raise UnknownTarget("the topology has no replica")
            return self._rng.choice(live)
        m = re.fullmatch(r"replica\s*(\d+)", r)
        if m:
            i = int(m.group(1))
            if not 1 <= i <= len(reps):
                raise UnknownTarget(f"there is no replica {i}: replicas are {', '.join(reps)}")
            return reps[i - 1]
        if r in self.names or r in self.helper_names:
            return r
        raise UnknownTarget(f"unknown target {role!r}: {self.target_help()} "
                            f"({', '.join(self.names + self.helper_names)})")

    # -- nodes ---------------------------------------------------------------------------------

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise UnknownTarget(f"no node named {name!r} (nodes: {', '.join(self.names + self.helper_names)})") from None

    def nodes(self) -> list[Node]:
        return [self._nodes[n] for n in self.names]

    def address(self, name: str) -> str:
        return self.node(name).address()

    def disk_usage(self, name: str) -> dict[str, float]:
        return {}  # no loop volumes in an HA-managed topology: PGDATA lives in the container

    def _detach(self, name: str, script: str) -> None:
        self.node(name).exec_detached(["sh", "-c", script], user="postgres")

    # -- lifecycle -----------------------------------------------------------------------------

    def release(self) -> list[str]:
        if self.watch is not None:
            self.watch.stop()
        return []

    def drill_parts(self) -> list[Any]:
        return [self.watch] if self.watch is not None else []

    def attach(self, *, primary: str | None, old_primary: str | None, down: list[str]) -> None:
        """Take over a topology an earlier process started (`harness up`); the manager names the roles."""
        for node in self.runtime.nodes():
            self._nodes[node.name] = node
        missing = [n for n in self.names + self.helper_names if n not in self._nodes]
        if missing:
            raise UnknownTarget(f"the running {self.manager_label} topology has no {', '.join(missing)}")
        self.roles.restore(primary=None, old_primary=old_primary, down=down)
        self.started = True

    def teardown(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        self.runtime.teardown()
        self._nodes.clear()
        self.started = False

    # -- observations and waits ----------------------------------------------------------------

    def in_recovery(self, name: str, timeout: float = 1) -> bool | None:
        try:
            return bool(sql_one(self.address(name), "SELECT pg_is_in_recovery()", timeout=timeout))
        except Exception:  # noqa: BLE001 - down, frozen or not accepting connections
            return None

    def writable_nodes(self) -> list[str]:
        return writable_among(self.names, self.in_recovery)

    def streaming_replicas(self, caught_up_to: str | None = None) -> list[str]:
        """Replicas streaming from the primary (and, if given, flushed at least to that LSN)."""
        return streaming_replicas(self.address(self.primary), caught_up_to)

    def wait_streaming(self, *, timeout: float = 60, expect: list[str] | None = None) -> None:
        """Until the manager names a leader and every (expected) replica streams from it, caught up."""

        def ok() -> bool:
            leader = self.leader_or_none()
            if leader is None or not port_open(self.address(leader)):
                return False
            want = set(expect if expect is not None else [n for n in self.names if n != leader])
            if not self.replicas_streaming_ready(leader, expect):
                return False
            try:
                lsn = str(sql_one(self.address(leader), "SELECT pg_current_wal_lsn()::text"))
                return want <= set(self.streaming_replicas(lsn))
            except Exception:  # noqa: BLE001 - the leader is still starting
                return False

        wait_until(ok, timeout=timeout, interval=self.streaming_poll_s,
                   what=f"a {self.manager_label} {self.leader_word} with every replica streaming",
                   describe=self.describe_view)

    def wait_new_leader(self, old: str, timeout: float) -> str:
        """Until the manager names a leader other than ``old`` and it accepts writes."""

        def elected() -> str | None:
            leader = self.leader_or_none()
            if leader is None or leader == old:
                return None
            return leader if self.in_recovery(leader) is False else None

        return wait_until(elected, timeout=timeout, interval=0.1, what=f"a new {self.leader_word} (not {old})",
                          describe=self.describe_view)

    def wait_one_primary(self, timeout: float) -> str:
        def one() -> str | None:
            w = self.writable_nodes()
            return w[0] if len(w) == 1 else None

        return wait_until(one, timeout=timeout, interval=0.1, what="exactly one writable node",
                          describe=lambda: f"writable nodes: {self.writable_nodes()}")

    def wait_ready(self, name: str, timeout: float = 30) -> None:
        wait_until(lambda: self.in_recovery(name) is not None, timeout=timeout, interval=0.05,
                   what=f"{name} to accept connections", describe=lambda: self.node_logs(name, 20))

    def node_logs(self, name: str, tail: int = 100) -> str:
        raise NotImplementedError
