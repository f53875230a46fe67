"""The RPO exposure sampler of a two-region topology.

At a fixed interval it stamps a round, then asks each running standby of the region that
does not hold the primary for the highest probe sequence it has replayed, and the primary
for its WAL position (the standby's unreceived bytes). Each answer is a ``Sample`` with
``dr_replayed_seq`` and ``dr_lag_bytes``; :func:`harness.checkers.exposure.rpo_exposure`
turns them into the exposure. The stamp comes before the questions, so a write acknowledged
before it and present at the standby is never counted (with ``remote_apply`` none is).
Bounded in time like the probes; a standby or primary that does not answer is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from harness.checkers.exposure import LAG_BYTES, REPLAYED_SEQ
from harness.errors import SetupError
from harness.history import History, Sample, now
from harness.topology.pg import lsn_int, port_open, sql

if TYPE_CHECKING:
    from harness.topology.regions import RegionCluster

__all__ = ["ExposureSampler"]

log = logging.getLogger(__name__)


class ExposureSampler:
    def __init__(self, cluster: RegionCluster, history: History, *, table: str, interval_s: float = 0.5,
                 timeout_s: float = 1.0, max_duration_s: float = 3600) -> None:
        self.cluster, self.history, self.table = cluster, history, table
        self.interval_s, self.timeout_s, self.max_duration_s = interval_s, timeout_s, max_duration_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rpo-exposure", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s * 4 + 5)

    # A drill part (the two-region topology hands it to the drill): stopped on close, and a
    # sampler that crashed says so, since its samples stopped early.
    def __enter__(self) -> ExposureSampler:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        if self.error is not None:
            raise SetupError(f"RPO exposure sampler crashed: {self.error!r}")

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() - t0 < self.max_duration_s:
                started = time.monotonic()
                self.sample_once()
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        except BaseException as exc:  # noqa: BLE001 - reported on stop by the topology
            self.error = exc
            log.exception("exposure sampler crashed")

    def _ask(self, name: str) -> tuple[bool, str, int] | None:
        try:
            addr = self.cluster.address(name)
            if not port_open(addr, timeout=self.timeout_s):
                return None
            row = sql(addr, "SELECT pg_is_in_recovery(), "
                            "coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text, "
                            f"(SELECT coalesce(max(seq), 0) FROM {self.table})", timeout=self.timeout_s)[0]
        except Exception:  # noqa: BLE001 - a standby that does not answer is not sampled
            return None
        return bool(row[0]), str(row[1]), int(row[2])

    def sample_once(self) -> list[Sample]:
        c = self.cluster
        primary = c.primary
        if primary in c.roles.down:
            return []
        standbys = [n for n in c.members[c.dr_region()] if n not in c.roles.down and n != primary]
        at = now()
        try:
            current = str(sql(c.address(primary), "SELECT pg_current_wal_lsn()::text", timeout=self.timeout_s)[0][0])
        except Exception:  # noqa: BLE001 - no primary to be exposed (it is what failed)
            return []
        out = []
        for name in standbys:
            got = self._ask(name)
            if got is None or not got[0]:
                continue
            _, received, seq = got
            lag = max(0, lsn_int(current) - lsn_int(received))
            out.append(self.history.add(Sample(at=at, node=name, role="replica",
                                               metrics={"up": 1.0, REPLAYED_SEQ: float(seq), LAG_BYTES: float(lag)})))
        return out

