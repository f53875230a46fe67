"""The streaming tree as the nodes report it, and the drill part that watches cascaded and delayed replicas.

:func:`observe` asks every replica's ``pg_stat_wal_receiver`` (whom it receives from, and in
what state) and every node's ``pg_stat_replication`` (whom it sends to), beside the upstream the
harness planned (the topology's Roles). :class:`ReplicaWatch` (handed to the drill by the
streaming topology when a replica cascades or is delayed) journals the tree when the probes
start and when the window ends, samples each such replica's replay position twice a second
(``MetricReading``: ``replay_lsn``, ``replay_lag_bytes`` behind the primary, ``replay_age_ms``
since the last replayed commit) and reports the numbers of :mod:`harness.replicas.measure`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.history import MetricReading, ReplicationLink, StreamingTree, now
from harness.parts import PartBase
from harness.replicas.measure import ReplicaSection, replica_section
from harness.replicas.plan import NodePlan
from harness.topology.pg import lsn_int, sql, sql_one

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.topology.base import Topology

__all__ = ["ReplicaKinds", "ReplicaWatch", "observe", "record_tree", "sample_replay"]


@runtime_checkable
class ReplicaKinds(Protocol):
    """A topology whose replicas may cascade or apply WAL late (the streaming topology)."""

    plan: dict[str, NodePlan]

    def apply_delay_s(self, name: str) -> float: ...


def _receiver(cluster: Topology, name: str) -> tuple[str | None, str | None]:
    try:
        rows = sql(cluster.address(name), "SELECT sender_host, status FROM pg_stat_wal_receiver", timeout=1)
    except Exception:  # noqa: BLE001 - down or frozen: no receiver seen
        return None, "not answering"
    return (str(rows[0][0]), str(rows[0][1])) if rows else (None, None)


def _senders(cluster: Topology) -> dict[str, str]:
    """replica -> the node whose pg_stat_replication lists it streaming."""
    out: dict[str, str] = {}
    for name in cluster.names:
        try:
            rows = sql(cluster.address(name),
                       "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'", timeout=1)
        except Exception:  # noqa: BLE001 - a node down sends to nobody
            continue
        for (app,) in rows:
            out[str(app)] = name
    return out


def observe(cluster: Topology) -> list[ReplicationLink]:
    """Every replica's stream now: planned upstream, what its receiver says, who sends to it."""
    senders = _senders(cluster)
    delay = cluster.apply_delay_s if isinstance(cluster, ReplicaKinds) else (lambda _n: 0.0)
    links = []
    for name in cluster.names:
        if name == cluster.primary:
            continue
        frm, status = _receiver(cluster, name)
        links.append(ReplicationLink(replica=name, planned=cluster.roles.upstream_of(name), receiver_from=frm,
                                     receiver_status=status, sender=senders.get(name), apply_delay_s=delay(name)))
    return links


def record_tree(cluster: Topology) -> StreamingTree:
    at = now()
    return cluster.history.add(StreamingTree(at=at, primary=cluster.primary, links=observe(cluster)))


def sample_replay(cluster: Topology, names: list[str]) -> None:
    """One MetricReading each of replay position, lag behind the primary and age of the last replayed commit."""
    try:
        current = lsn_int(str(sql_one(cluster.address(cluster.primary), "SELECT pg_current_wal_lsn()::text",
                                      timeout=1)))
    except Exception:  # noqa: BLE001 - no primary: no lag to measure against
        current = None
    for name in names:
        try:
            row = sql(cluster.address(name),
                      "SELECT pg_last_wal_replay_lsn()::text, "
                      "coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000, -1)"
                      "::bigint", timeout=1)[0]
        except Exception:  # noqa: BLE001 - down, frozen, or promoted away: no sample
            continue
        if row[0] is None:
            continue
        at = now()
        replayed = lsn_int(str(row[0]))
        cluster.history.add(MetricReading(at=at, metric="replay_lsn", node=name, value=replayed))
        if current is not None:
            cluster.history.add(MetricReading(at=at, metric="replay_lag_bytes", node=name,
                                              value=max(0, current - replayed)))
        if int(row[1]) >= 0:
            cluster.history.add(MetricReading(at=at, metric="replay_age_ms", node=name, value=int(row[1])))


class ReplicaWatch(PartBase):
    """Journals the streaming tree and samples the cascaded and delayed replicas during the window."""

    section = "replicas"

    def __init__(self, cluster: Topology, watched: list[str], *, interval_s: float = 0.5,
                 max_duration_s: float = 3600) -> None:
        self.cluster = cluster
        self.watched = watched
        self.interval_s = interval_s
        self.max_duration_s = max_duration_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def probes_started(self, drill: Drill) -> None:
        record_tree(self.cluster)
        if self._thread is None and self.watched:
            self._thread = threading.Thread(target=self._run, name="replica-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        t0 = now().t
        while not self._stop.is_set() and now().t - t0 < self.max_duration_s:
            names = [n for n in self.watched if n != self.cluster.primary and n not in self.cluster.roles.paused]
            sample_replay(self.cluster, names)
            self._stop.wait(self.interval_s)

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def window_ending(self, drill: Drill) -> None:
        self._halt()
        try:
            record_tree(self.cluster)
        except Exception as exc:  # noqa: BLE001 - no primary to ask: said in the journal
            self.cluster.history.note("replicas.tree_unknown", str(exc)[:300])

    def close(self) -> None:
        self._halt()

    def result_section(self) -> ReplicaSection | None:
        return replica_section(self.cluster.history.events())
