"""The monitor: samples every node at a fixed interval into the history and runs the alert rules.

Each sample is one short SQL round trip per node (in parallel), plus the primary's view of
its replicas (lag in bytes and seconds). A node that does not answer within the timeout is
``up = 0``. The loop is bounded in time like the probes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from concurrent.futures import ThreadPoolExecutor

from harness.history import History, Sample, now
from harness.monitor.rules import AlertRules, RuleEngine
from harness.topology.pg import port_open, sql
from harness.topology.base import Topology

__all__ = ["Monitor", "NODE_QUERY"]

log = logging.getLogger(__name__)

NODE_QUERY = """
SELECT pg_is_in_recovery(),
       (SELECT count(*) FROM pg_stat_activity)::float8 * 100 / current_setting('max_connections')::float8,
       (SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database)::float8,
       (SELECT coalesce(sum(checksum_failures), 0) FROM pg_stat_database)::float8,
       (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming')::float8,
       (SELECT failed_count FROM pg_stat_archiver)::float8,
       (SELECT (last_failed_time > coalesce(last_archived_time, '-infinity'))::int FROM pg_stat_archiver)::float8,
       (SELECT md5(coalesce(string_agg(name || '=' || setting, ',' ORDER BY name), '')) FROM pg_settings
         WHERE source IN ('configuration file', 'command line')),
       (SELECT md5(coalesce(string_agg(c.oid::text || ':' || c.relname || ':' || c.relnatts, ',' ORDER BY c.oid), ''))
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'p', 'v', 'm'))
"""
LAG_QUERY = """
SELECT application_name,
       pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(replay_lsn, '0/0'))::float8,
       coalesce(extract(epoch FROM replay_lag), 0)::float8
FROM pg_stat_replication
"""

DiskUsage = Callable[[str], dict[str, float]]


class Monitor:
    def __init__(self, cluster: Topology, history: History, rules: AlertRules, *,
                 interval_s: float = 1.0, timeout_s: float = 1.0, max_duration_s: float = 3600,
                 disk_usage: DiskUsage | None = None) -> None:
        self.cluster = cluster
        self.history = history
        self.engine = RuleEngine(rules)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_duration_s = max_duration_s
        self.disk_usage = disk_usage
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_commits: dict[str, tuple[float, float]] = {}
        self._last_hashes: dict[str, tuple[str, str]] = {}
        self.error: BaseException | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s * 3 + 5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # A drill part: the drill adds it when the probes start and stops it on close.
    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            with ThreadPoolExecutor(max_workers=len(self.cluster.names) + 1) as pool:
                while not self._stop.is_set() and time.monotonic() - t0 < self.max_duration_s:
                    started = time.monotonic()
                    self.sample_once(pool)
                    self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the drill
            self.error = exc
            log.exception("monitor crashed")

    def sample_once(self, pool: ThreadPoolExecutor) -> list[Sample]:
        names = list(self.cluster.names)
        lag_future = pool.submit(self._lags)
        samples = list(pool.map(self._sample_node, names))
        lags = lag_future.result()
        out = []
        for s in samples:
            if s.node in lags and s.role == "replica":
                s = s.model_copy(update={"metrics": s.metrics | lags[s.node]})
            self.history.add(s)
            for alert in self.engine.feed(s):
                self.history.add(alert)
            out.append(s)
        return out

    def _lags(self) -> dict[str, dict[str, float]]:
        try:
            addr = self.cluster.address(self.cluster.primary)
            if not port_open(addr, timeout=self.timeout_s):
                return {}
            rows = sql(addr, LAG_QUERY, timeout=self.timeout_s)
        except Exception:  # noqa: BLE001 - the primary being down is what "database down" reports
            return {}
        return {str(r[0]): {"lag_bytes": float(r[1]), "lag_s": float(r[2])} for r in rows}

    def _sample_node(self, name: str) -> Sample:
        at = now()
        metrics: dict[str, float] = {}
        if self.disk_usage is not None:
            try:
                metrics.update(self.disk_usage(name))
            except Exception:  # noqa: BLE001 - no disk numbers this time
                pass
        try:
            t = time.monotonic()
            addr = self.cluster.address(name)
            # libpq waits at least 2 s to connect; a plain TCP check tells a dead host sooner.
            if not port_open(addr, timeout=self.timeout_s):
                raise ConnectionError(f"{name}: port 5432 does not answer")
            row = sql(addr, NODE_QUERY, timeout=self.timeout_s)[0]
            query_ms = (time.monotonic() - t) * 1000
        except Exception:  # noqa: BLE001 - not answering is the finding
            return Sample(at=at, node=name, role="down", metrics=metrics | {"up": 0.0})
        (in_recovery, conn_pct, commits, checksum_failures, receiving, archive_failed, archive_failing, conf_hash,
         schema_hash) = row
        metrics |= {
            "up": 1.0, "is_replica": 1.0 if in_recovery else 0.0, "connections_pct": float(conn_pct),
            "checksum_failures": float(checksum_failures), "query_ms": query_ms,
            "archive_failed": float(archive_failed or 0),
            # 1 while the archiver's last attempt failed (resolves once a segment is archived again).
            "archive_failing": float(archive_failing or 0),
        }
        if in_recovery:
            metrics["receiving"] = float(receiving)
        # Info: the applied configuration or the schema differs from this node's last sample.
        before = self._last_hashes.get(name)
        if before is not None:
            metrics["config_changed"] = float(before[0] != conf_hash)
            metrics["schema_changed"] = float(before[1] != schema_hash)
        self._last_hashes[name] = (str(conf_hash), str(schema_hash))
        prev = self._last_commits.get(name)
        if prev is not None and at.t > prev[0]:
            metrics["tps"] = max(0.0, (float(commits) - prev[1]) / (at.t - prev[0]))
        self._last_commits[name] = (at.t, float(commits))
        return Sample(at=at, node=name, role="replica" if in_recovery else "primary", metrics=metrics)
