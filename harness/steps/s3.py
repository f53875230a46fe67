"""S3 repository steps: pgBackRest's repo1 in a bucket, faults on the endpoint, the archive backlog.

Backups, restores and PITR use the backup steps unchanged (:mod:`harness.steps.backup`).
"""

from __future__ import annotations

import time

import psycopg
import pytest
from pytest_bdd import given, then, when

from harness.backup.s3part import S3Part
from harness.backup.session import BackupSession
from harness.checkers.archive import backlog_windows
from harness.drill import Drill
from harness.errors import TargetMissed, WaitTimeout
from harness.history import ArchiveBacklog, RecoveryTargetMarked
from harness.steps.types import parse
from harness.wait import wait_until


@given(parse("WAL archiving to an S3 repository"))
@given(parse("backups go to an S3 repository"))
@given(parse("an S3 repository"))
def _(drill: Drill) -> None:
    """pgBackRest's repository in an S3 bucket (the environment's backup.s3, else the run's own endpoint)."""
    BackupSession.of(drill).enable(tool="pgbackrest", repository="s3")


@when(parse("the S3 endpoint goes down"))
@when(parse("the S3 endpoint is down"))
def _(drill: Drill) -> None:
    """Every connection to the run's S3 endpoint is reset until it recovers."""
    S3Part.of(drill).down()


@when(parse("the S3 endpoint freezes"))
def _(drill: Drill) -> None:
    """The run's S3 endpoint is paused: connections hang until it recovers."""
    S3Part.of(drill).freeze()


@when(parse("the S3 endpoint answers {delay:Duration} late"))
@when(parse("the S3 endpoint is slow by {delay:Duration}"))
def _(drill: Drill, delay: float) -> None:
    """Latency on every packet the run's S3 endpoint sends."""
    S3Part.of(drill).slow(delay)


@when(parse("the S3 endpoint answers 503 to {percent:Percent} % of requests"))
@when(parse("the S3 endpoint fails {percent:Percent} % of requests"))
def _(drill: Drill, percent: float) -> None:
    """HAProxy in front of the run's S3 endpoint answers 503 SlowDown to that share of requests."""
    S3Part.of(drill).errors(max(1, round(percent)))


@when(parse("the S3 endpoint recovers"))
@when(parse("the S3 endpoint comes back"))
def _(drill: Drill) -> None:
    """Heal every fault on the S3 endpoint."""
    for fault in [f for f in drill.faults.active if f.name.startswith("s3-endpoint-")]:
        drill.faults.heal(fault)
    S3Part.of(drill).wake_archiver()


def _latest(drill: Drill) -> ArchiveBacklog:
    """The sampler's newest sample (it runs from the first fault to the end of the drill)."""
    return drill.history.of(ArchiveBacklog)[-1]


@then(parse("the WAL archive backlog grows within {limit:Duration}"))
@then(parse("WAL piles up for the archive within {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """Segments wait to be archived (.ready files) and archive attempts fail, measured on the primary."""
    part = S3Part.of(drill)
    part.start_sampling()
    first = drill.history.of(ArchiveBacklog)[0]
    try:
        wait_until(lambda: (s := _latest(drill)).ready > 0 and s.failed_count > first.failed_count,
                   timeout=limit, interval=0.5, what="the WAL archive backlog to grow")
    except WaitTimeout:
        s = _latest(drill)
        raise TargetMissed("WAL archive backlog", f"{s.ready} .ready segments, {s.failed_count - first.failed_count} "
                           "failed archive attempts", f"> 0 of each within {limit:g} s") from None


@then(parse("the WAL archive backlog drains within {limit:Duration}"))
@then(parse("the archive catches up within {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """No segment is left waiting for the archive (.ready files) within the limit."""
    S3Part.of(drill).start_sampling()
    try:
        wait_until(lambda: _latest(drill).ready == 0, timeout=limit, interval=0.5,
                   what="the WAL archive backlog to drain")
    except WaitTimeout:
        s = _latest(drill)
        raise TargetMissed("WAL archive backlog", f"{s.ready} .ready segments left", f"0 within {limit:g} s") from None
    windows = backlog_windows(drill.history.events())
    drill.history.note("s3.backlog", "; ".join(
        f"{w.fault}: peak {w.ready_peak} .ready, {w.failed_archives} failed archive attempts, "
        f"drained {'?' if w.drain_s is None else f'{w.drain_s:.1f} s'} after the heal" for w in windows))


@then(parse("archive attempts failed during the fault"))
def _(drill: Drill) -> None:
    """pg_stat_archiver counted failed archive attempts while a repository fault was on."""
    windows = backlog_windows(drill.history.events())
    if not windows or windows[-1].failed_archives <= 0:
        got = f"{windows[-1].failed_archives} failed" if windows else "no fault was measured"
        raise TargetMissed("failed archive attempts during the fault", got, "> 0")


# -- the test's own client: rows it writes and reads back itself, apart from the probe's history --

LEDGER = "test_client_ledger"


@pytest.fixture
def client_ledger() -> list[tuple[int, float, float]]:
    """Rows the test's own client wrote: (id, wall clock before its insert, after its commit)."""
    return []


def _connect(address: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(host=address, user="postgres", dbname="postgres", connect_timeout=5, autocommit=True)


@when(parse("the test client writes {count:d} rows of its own"))
def _(drill: Drill, client_ledger: list[tuple[int, float, float]], count: int) -> None:
    """A client of the test's own (not the probe) commits that many rows on the primary, each timed."""
    with _connect(drill.cluster.address(drill.cluster.primary)) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER} (id int PRIMARY KEY)")
        for _ in range(count):
            i = len(client_ledger) + 1
            t0 = time.time()
            conn.execute(f"INSERT INTO {LEDGER} VALUES (%s)", (i,))
            client_ledger.append((i, t0, time.time()))


@then(parse("the test client finds on the restored node exactly its rows written before the target"))
def _(drill: Drill, client_ledger: list[tuple[int, float, float]]) -> None:
    """The test's own client reads the restored node: exactly its rows committed before the recovery target."""
    marks = drill.history.of(RecoveryTargetMarked)
    if not marks or marks[-1].wall_before is None or marks[-1].wall_after is None:
        raise TargetMissed("the test client's rows", "no recovery target was noted", "a noted target")
    target = marks[-1]
    assert target.wall_before is not None and target.wall_after is not None
    before = {i for i, _, done in client_ledger if done < target.wall_before}
    after = {i for i, began, _ in client_ledger if began > target.wall_after}
    if not before or not after:
        raise TargetMissed("the test client's rows", f"{len(before)} before and {len(after)} after the target",
                           "rows on both sides of it")
    node = BackupSession.of(drill).last_restore().node
    with _connect(drill.cluster.runtime.node(node).address()) as conn:
        got = {int(str(r[0])) for r in conn.execute(f"SELECT id FROM {LEDGER}").fetchall()}
    drill.history.note("s3.test_client", f"{node}: {len(got)} of the test client's rows; it committed "
                       f"{len(before)} before the target and {len(after)} after")
    if got != before:
        raise TargetMissed(f"the test client's rows on {node}", f"ids {sorted(got)}",
                           f"exactly {sorted(before)} (committed before the target; {sorted(after)} after it)")
