"""Logical replication: the lag under the write probe, and the partition drill's conflicts.

    .venv/bin/python bench/logical.py [--seconds 10] [--keys 3] [--no-conflicts]

One-way (the default stack): a 1 primary + 1 replica cluster and the logical replica, the
write probe every 50 ms, the lag sampled twice a second for ``--seconds`` (the slot's
``pg_current_wal_lsn() - confirmed_flush_lsn`` on the publisher). Then, on the trixie stack,
the two clusters replicating to each other: cut apart, the same ``--keys`` keys written on
both, joined again, and every conflict skipped until both subscriptions catch up: how long
that took, how many apply errors the servers counted. A benchmark, not a test: it prints.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.drill import Drill
from harness.environment import load_environment
from harness.images import build_images
from harness.labels import new_run_id
from harness.logical.replica import LogicalReplica, Mode
from harness.logical.use import cut_clusters, expect_conflicts_reported, heal_cut, use_logical


@contextmanager
def _started(stack: str, mode: Mode) -> Iterator[tuple[Drill, LogicalReplica]]:
    """A 1 primary + 1 replica cluster with its logical replica, the write probe every 50 ms."""
    env = load_environment("streaming").with_topology(replicas=1).model_copy(update={"stack": stack})
    d = Drill("b" + new_run_id(), "logical", Path(tempfile.mkdtemp()) / "drill", env)
    try:
        t0 = time.monotonic()
        replica = use_logical(d, mode)
        print(f"{mode}: topology and logical replica up in {time.monotonic() - t0:.1f} s")
        d.start_probes(0.05)
        yield d, replica
    finally:
        d.close()


def lag(seconds: float) -> None:
    with _started("bookworm", "one-way") as (_, replica):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            replica.sample_lag()
            time.sleep(0.5)
        got = [s.slot_lag_bytes for s in replica.lags if s.slot_lag_bytes is not None]
        print(f"one-way lag over {seconds:g} s ({len(got)} samples): min {min(got)} B, "
              f"median {statistics.median(got):.0f} B, max {max(got)} B")


def conflicts(keys: int) -> None:
    build_images(stack="trixie")
    with _started("trixie", "bidirectional") as (d, replica):
        cut_clusters(d)
        replica.write_same_keys(keys)
        heal_cut(d)
        t1 = time.monotonic()
        r = expect_conflicts_reported(d, timeout=180)
        print(f"conflicts: {len(r.reported_keys)} keys reported ({r.skipped_transactions} transactions skipped), "
              f"{len(r.differing_keys)} differ, apply_error_count {r.apply_error_count}, "
              f"resolved {time.monotonic() - t1:.1f} s after the heal")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--no-conflicts", action="store_true")
    a = ap.parse_args()
    build_images()
    lag(a.seconds)
    if not a.no_conflicts:
        conflicts(a.keys)


if __name__ == "__main__":
    main()
