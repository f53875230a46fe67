"""Disk faults: fill a node's data or WAL volume with a ballast file, and free it again.

Every node of a topology with volumes (see :mod:`harness.runtime.volumes`) has PGDATA and
pg_wal on two small loop-mounted ext4 filesystems. The fault writes a ballast file at the
root of one of them, on the host, outside the folder the node sees (so pg_basebackup and
pg_rewind never copy it), with ``fallocate``, topped up with plain writes until ENOSPC when
asked for "full". It refuses any path that is not a mounted harness volume.

What PostgreSQL 15 does (observed on these machines):

- WAL disk full: the next WAL segment cannot be created, inside a critical section, so the
  server PANICs ("could not write to file "pg_wal/xlogtemp.N": No space left on device");
  its crash restart needs WAL space too, fails, and the postmaster exits: the server is down
  and stays down until space is freed. A busy primary reaches the end of its current 16 MB
  segment by itself; the fault forces that moment on a primary (``pg_switch_wal()``, then
  one small commit, repeated until the server goes down) so a drill does not wait for 16 MB
  of probe writes.
- WAL disk of a replica full: its WAL receiver cannot create the next segment, exits
  (FATAL) and is restarted over and over; the replica stays up and falls behind. Promoting it
  then PANICs it (a promotion writes WAL).
- data disk full (WAL elsewhere): any write that needs a new block fails with
  "could not extend file ... No space left on device"; the server stays up, reads work, and
  writes that fit in pages already allocated still succeed.

What heal does: it deletes the ballast, and nothing else. It does not restart PostgreSQL: a
server that PANICked stays down until the scenario starts it again ("When I restart the
primary", or "I restart the old primary" after a failover, which rejoins it with pg_rewind);
PostgreSQL then replays its WAL and comes back. A server whose data disk was full never went
down: its next write that needs space simply succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping

import errno
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from harness.errors import ForeignResource, SetupError, TargetMissed, WaitTimeout
from harness.history import ActionEvent, Stamp, now
from harness.runtime.volumes import (
    DiskUsage,
    Kind,
    LoopVolume,
    disk_usage,
    guard,
    mount_source,
)
from harness.topology.pg import conninfo
from harness.topology.base import HasVolumes, ManagedPostgres, Topology, need
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = [
    "BALLAST",
    "FillDisk",
    "expect_availability_below",
    "expect_disk_usage",
    "expect_does_not_start",
    "expect_down",
    "expect_log_contains",
    "expect_stays_up",
    "expect_up",
    "expect_writes_fail",
    "expect_writes_succeed",
    "fill_disk",
    "fill_volume",
    "free_disk",
    "free_volume",
    "space_write_error",
]

log = logging.getLogger(__name__)

BALLAST = "harness-ballast"
_CHUNK = 1 << 20
_DISK_FULL = ("no space left on device", "could not extend file", "could not write to file")


def _label(kind: Kind) -> str:
    return "WAL" if kind == "wal" else "data"


# -- the ballast --------------------------------------------------------------------------------


def ballast_path(vol: LoopVolume) -> Path:
    """Where the ballast of ``vol`` goes, after checking the volume is the harness's own."""
    return guard(vol.mountpoint).mountpoint / BALLAST


def fill_volume(vol: LoopVolume, percent: float | None = None) -> int:
    """Grow the ballast until the volume is ``percent`` used (df's Use%), or full; bytes added."""
    if percent is not None and not 0 < percent <= 100:
        raise SetupError(f"a disk can be filled to between 0 and 100 %, not {percent:g} %")
    path = ballast_path(vol)
    before = disk_usage(vol.mountpoint)
    full = percent is None or percent >= 100
    if percent is None or full:
        want = before.avail
    else:
        want = int(percent / 100 * (before.used + before.avail)) - before.used
    if want <= 0:
        return 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        try:
            os.posix_fallocate(fd, size, want)
        except OSError as exc:
            # Block-map overhead makes "all that is free" a little more than fits.
            if exc.errno != errno.ENOSPC or not full:
                raise
        if full:
            # Top up with plain writes until the filesystem itself says no.
            end = os.fstat(fd).st_size
            for chunk in (_CHUNK, 4096):
                block = b"\0" * chunk
                while True:
                    try:
                        n = os.pwrite(fd, block, end)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
                    end += n
            os.fsync(fd)
    finally:
        os.close(fd)
    return disk_usage(vol.mountpoint).used - before.used


def free_volume(vol: LoopVolume) -> int:
    """Delete the ballast of ``vol``; bytes it held (0 when there was none, or the volume is gone)."""
    try:
        path = ballast_path(vol)
    except ForeignResource:
        if mount_source(vol.mountpoint) is None:
            return 0  # unmounted already (teardown): nothing left to free
        raise
    try:
        size = path.stat().st_blocks * 512
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


# -- the fault ------------------------------------------------------------------------------------


def _volumes(cluster: Topology, node: str) -> Mapping[Kind, LoopVolume]:
    return need(cluster, HasVolumes, "disk faults (nodes with their own data and WAL filesystems)").volumes_of(node)


def _postgres_running(cluster: Topology, node: str) -> bool:
    return need(cluster, ManagedPostgres, "asking whether PostgreSQL runs on a node").postgres_running(node)


class FillDisk:
    """Fill the data or WAL volume of a node to a percentage, or to full."""

    one_shot = False

    def __init__(self, cluster: Topology, target: str, kind: Kind, percent: float | None = None, *,
                 force_wal_switch: bool = True) -> None:
        self.cluster, self.target, self.kind, self.percent = cluster, target, kind, percent
        self.name = f"fill-{kind}-disk"
        self.force_wal_switch = force_wal_switch
        #: Set by inject: the server stopped answering (a PANIC).
        self.took_down = False

    def volume(self) -> LoopVolume:
        """The target's volume of this kind (a SetupError when the node has none)."""
        vol = _volumes(self.cluster, self.target).get(self.kind)
        if vol is None:
            raise SetupError(f"{self.target} has no {_label(self.kind)} volume: disk faults need "
                             "`volumes: {enabled: true}` in the environment")
        return vol

    def inject(self) -> str:
        vol = self.volume()
        added = fill_volume(vol, self.percent)
        usage = disk_usage(vol.mountpoint)
        how = "full" if self.percent is None else f"to {self.percent:g} %"
        detail = (f"filled the {_label(self.kind)} disk of {self.target} {how} with a {added / 2**20:.1f} MB ballast: "
                  f"{usage}")
        if self.kind == "wal" and self.percent is None and self.force_wal_switch \
                and self.target == self.cluster.primary:
            detail += "; " + self._switch_until_down(vol)
        return detail

    def _switch_until_down(self, vol: LoopVolume) -> str:
        """Make the primary need a new WAL segment until it cannot create one (a busy primary would)."""
        limit = vol.size_mb // 16 + 8  # more switches than the volume has segments
        switched = 0
        try:
            with psycopg.connect(conninfo(self.cluster.address(self.target), timeout=5), autocommit=True) as conn:
                conn.execute("SET statement_timeout = 5000")
                for switched in range(1, limit + 1):  # noqa: B007  (the count is reported after the loop)
                    conn.execute("SELECT pg_switch_wal()")
                    conn.execute("SELECT txid_current()")  # a commit: WAL in the next segment, flushed
        except psycopg.Error as exc:
            self.took_down = True
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"after {switched} WAL segment switch(es) the server dropped the connection ({first})"
        return f"the server still answers after {switched} WAL segment switches"

    def heal(self) -> str:
        vol = self.volume()
        freed = free_volume(vol)
        try:
            state = str(disk_usage(vol.mountpoint))
        except OSError:
            state = "volume removed"
        detail = f"deleted the {freed / 2**20:.1f} MB ballast on the {_label(self.kind)} disk of {self.target} ({state})"
        try:
            if not _postgres_running(self.cluster, self.target):
                detail += "; PostgreSQL is down there and is not restarted by this"
        except Exception as exc:  # noqa: BLE001 - the node may be gone (heal at teardown)
            log.debug("no PostgreSQL state of %s: %s", self.target, exc)
        return detail


# -- observations the disk steps assert on ---------------------------------------------------------


def space_write_error(address: str, timeout: float = 5) -> str | None:
    """Try a write that needs a new block (a fresh temp table's first row, rolled back).

    Returns the error when it failed for lack of space, None when it succeeded; raises for any
    other failure (a server that does not answer is not "up with writes failing").
    """
    with psycopg.connect(conninfo(address, timeout=timeout)) as conn:
        conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
        try:
            conn.execute("CREATE TEMP TABLE pgharness_space_check (filler text)")
            conn.execute("INSERT INTO pgharness_space_check VALUES (repeat('x', 100))")
        except psycopg.errors.DatabaseError as exc:
            text = str(exc).strip()
            if any(k in text.lower() for k in _DISK_FULL) or getattr(exc, "sqlstate", None) == "53100":
                return text.splitlines()[0]
            raise
        finally:
            conn.rollback()
    return None


def _record(drill: Drill, t0: Stamp, action: str, target: str, ok: bool, detail: str) -> None:
    drill.history.add(ActionEvent(at=t0, end=now(), action=action, target=target,
                                  outcome="ok" if ok else "failed", detail=detail))


def fill_disk(drill: Drill, role: str, kind: Kind, percent: float | None = None) -> FillDisk:
    cluster = drill.cluster
    target = cluster.resolve(role)
    fault = FillDisk(cluster, target, kind, percent)
    drill.apply(fault)
    if fault.took_down:
        # As for a crash: the node is down until something brings it back.
        drill.took_down(target)
    return fault


def free_disk(drill: Drill, role: str, kind: Kind | None = None) -> list[str]:
    """Heal the disk faults on a node (of one kind, or both); without any, delete stray ballast."""
    cluster = drill.cluster
    target = cluster.resolve(role)
    healed = []
    for fault in list(drill.faults.active):
        if isinstance(fault, FillDisk) and fault.target == target and (kind is None or fault.kind == kind):
            drill.faults.heal(fault)
            healed.append(fault.name)
    if not healed:
        kinds: list[Kind] = [kind] if kind is not None else ["data", "wal"]
        freed = sum(free_volume(v) for k, v in _volumes(cluster, target).items() if k in kinds)
        drill.history.note("disk.free", f"no disk fault active on {target}; {freed / 2**20:.1f} MB of ballast deleted")
    return healed


def _usage(drill: Drill, target: str, kind: Kind) -> DiskUsage:
    vol = _volumes(drill.cluster, target).get(kind)
    if vol is None:
        raise SetupError(f"{target} has no {_label(kind)} volume (volumes are disabled in the environment)")
    return disk_usage(guard(vol.mountpoint).mountpoint)


def expect_disk_usage(drill: Drill, role: str, kind: Kind, *, at_least: float | None = None,
                      at_most: float | None = None) -> float:
    """The volume's Use % against a bound; the measured number goes into the history."""
    t0 = now()
    target = drill.cluster.resolve(role)
    usage = _usage(drill, target, kind)
    ok = (at_least is None or usage.percent >= at_least) and (at_most is None or usage.percent <= at_most)
    want = f"≥ {at_least:g} %" if at_least is not None else f"≤ {at_most:g} %"
    _record(drill, t0, f"expect.disk_{kind}_usage", target, ok, f"{usage} (want {want})")
    if not ok:
        raise TargetMissed(f"{_label(kind)} disk use on {target}", f"{usage.percent:.1f} %", want)
    return usage.percent


def _answers(drill: Drill, target: str) -> bool:
    return drill.cluster.in_recovery(target, timeout=2) is not None


def expect_down(drill: Drill, role: str, timeout: float) -> str:
    """PostgreSQL on the node stops answering and its postmaster is gone."""
    t0 = now()
    c = drill.cluster
    target = c.resolve(role)

    def down() -> bool:
        return not _answers(drill, target) and not _postgres_running(c, target)

    try:
        wait_until(down, timeout=timeout, interval=0.1, what=f"PostgreSQL on {target} to be down")
    except WaitTimeout as exc:
        _record(drill, t0, "expect.down", target, False, str(exc))
        raise TargetMissed(f"{target}", f"still up after {timeout:g} s", f"down within {timeout:g} s") from exc
    _record(drill, t0, "expect.down", target, True, "does not answer; no postmaster")
    return target


def expect_up(drill: Drill, role: str, timeout: float = 5) -> str:
    t0 = now()
    target = drill.cluster.resolve(role)
    try:
        wait_until(lambda: _answers(drill, target), timeout=timeout, interval=0.1, what=f"{target} to answer")
    except WaitTimeout as exc:
        _record(drill, t0, "expect.up", target, False, str(exc))
        raise TargetMissed(f"{target}", f"does not answer within {timeout:g} s:\n{drill.cluster.node_logs(target, 15)}",
                           "up") from exc
    _record(drill, t0, "expect.up", target, True, "answers")
    return target


def expect_stays_up(drill: Drill, role: str, seconds: float) -> str:
    """The node answers during the whole period (sampled every 0.2 s)."""
    t0 = now()
    target = drill.cluster.resolve(role)
    try:
        wait_until(lambda: not _answers(drill, target), timeout=seconds, interval=0.2, what=f"{target} to go down")
    except WaitTimeout:
        _record(drill, t0, "expect.stays_up", target, True, f"answered throughout {seconds:g} s")
        return target
    _record(drill, t0, "expect.stays_up", target, False, "stopped answering")
    raise TargetMissed(f"{target}", f"went down within {seconds:g} s", f"up for {seconds:g} s")


def expect_writes_fail(drill: Drill, role: str, timeout: float = 10) -> str:
    """Writes that need space fail for lack of it, and the server still answers afterwards."""
    t0 = now()
    c = drill.cluster
    target = c.resolve(role)
    try:
        error = wait_until(lambda: space_write_error(c.address(target)), timeout=timeout, interval=0.2,
                           what=f"a write on {target} to fail for lack of space")
    except WaitTimeout as exc:
        _record(drill, t0, "expect.writes_fail", target, False, str(exc))
        raise TargetMissed(f"writes on {target}", f"did not fail for lack of space within {timeout:g} s ({exc})",
                           "fail with 'No space left on device'") from exc
    state = c.in_recovery(target, timeout=2)
    if state is None:
        _record(drill, t0, "expect.writes_fail", target, False, f"{error}; and then it stopped answering")
        raise TargetMissed(f"{target}", f"went down after the failed write ({error})", "stays up")
    _record(drill, t0, "expect.writes_fail", target, True,
            f"{error}; still answers (pg_is_in_recovery = {str(state).lower()})")
    return error


def expect_writes_succeed(drill: Drill, role: str, timeout: float = 5) -> str:
    """A write that needs a new block succeeds (within ``timeout``)."""
    t0 = now()
    c = drill.cluster
    target = c.resolve(role)
    last: list[str] = []

    def ok() -> bool:
        err = space_write_error(c.address(target))
        if err is not None:
            last[:] = [err]
        return err is None

    try:
        wait_until(ok, timeout=timeout, interval=0.2, what=f"a write on {target} to succeed")
    except WaitTimeout as exc:
        _record(drill, t0, "expect.writes_succeed", target, False, str(exc))
        raise TargetMissed(f"writes on {target}", f"still failing after {timeout:g} s ({last[0] if last else exc})",
                           "succeed") from exc
    _record(drill, t0, "expect.writes_succeed", target, True, "a write needing a new block succeeded")
    return target


def expect_log_contains(drill: Drill, role: str, text: str, lines: int = 400) -> str:
    t0 = now()
    target = drill.cluster.resolve(role)
    logs = drill.cluster.node_logs(target, lines)
    hits = [ln for ln in logs.splitlines() if text.lower() in ln.lower()]
    _record(drill, t0, "expect.log", target, bool(hits), hits[0][:300] if hits else f"no line has {text!r}")
    if not hits:
        raise TargetMissed(f"log of {target}", f"no line contains {text!r} (last {lines} lines)", f"contains {text!r}")
    return hits[0]


def expect_does_not_start(drill: Drill, role: str, timeout: float = 15) -> str:
    """Starting PostgreSQL fails (e.g. no WAL space for crash recovery); nothing is left running."""
    t0 = now()
    c = drill.cluster
    target = c.resolve(role)
    node = c.node(target)
    if not node.is_running():
        node.start()
    res = node.exec(["pg_ctl", "-D", "/var/lib/postgresql/data", "-l", "/var/log/postgresql/postgresql.log",
                     "-w", "-t", str(int(timeout)), "start"], timeout=timeout + 10)
    if res.exit_code == 0 or _postgres_running(c, target):
        up = _answers(drill, target)
        _record(drill, t0, "expect.no_start", target, False, f"started (answers: {up})")
        if not up:
            node.exec(["pg_ctl", "-D", "/var/lib/postgresql/data", "-m", "immediate", "stop"], timeout=30)
        raise TargetMissed(f"{target}", "PostgreSQL started", "does not start")
    tail = [ln for ln in c.node_logs(target, 30).splitlines() if "PANIC" in ln or "FATAL" in ln or "space" in ln]
    detail = tail[-1][:300] if tail else res.output.strip()[-300:]
    _record(drill, t0, "expect.no_start", target, True, detail)
    return detail


def expect_availability_below(drill: Drill, percent: float) -> float:
    """The probe's availability over the window fell below ``percent`` (the fault was felt)."""
    m = drill.measurements()
    value = m.availability
    drill.history.note("expect.availability_below", f"{'n/a' if value is None else f'{value * 100:.1f} %'} "
                                                    f"(want < {percent:g} %)")
    if value is None or value * 100 >= percent:
        got = "unknown" if value is None else f"{value * 100:.1f} %"
        raise TargetMissed("availability", got, f"< {percent:g} % (the fault should be felt by clients)")
    return value
