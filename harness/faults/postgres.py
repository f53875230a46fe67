"""PostgreSQL-specific faults, and the server-side numbers that show their effect.

Faults:

- ``BreakArchiving``: ``archive_command`` switched to a failing command (reload, no restart);
  completed WAL segments stay ``.ready`` in ``pg_wal`` and pile up. ``archive_mode`` itself
  needs a restart: enable it before the topology starts (:func:`archive_settings`, the
  "WAL archiving is enabled" Given); otherwise the fault's setup turns it on with a restart
  of the target and says so in its detail. Heal restores the previous command.
- ``AbandonedSlot``: a physical slot that reserves WAL at once and that nobody consumes, so
  the server keeps every segment from its ``restart_lsn`` on. Heal drops the slot.
- ``CorruptPage``: bytes flipped in the middle of one page of a table's file, on a node whose
  data checksums are on (enabled by the setup with ``pg_checksums --enable`` on the stopped
  server when the image's cluster has none). A read of that page fails with "invalid page".
  Heal writes the saved bytes back while the server runs: a page that failed verification is
  never left in shared buffers, so the next read takes it from the file again.
- ``DropTable``: an accidental ``DROP TABLE``. One-shot: it cannot be undone in place; the
  history gets the xid, LSNs and times a point-in-time recovery needs to stop before it.
- ``PauseReplay``: ``pg_wal_replay_pause()`` on a standby (its lag grows while it streams).

Observations (:func:`replication_lag_bytes`, :func:`wal_retention`, :func:`archiver_stats`)
are sampled into the history as ``metric`` notes by :func:`watch_metric`, and the verdicts
come from those notes (:func:`metric_samples`), never from a stopwatch in a step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql as psql

from harness.errors import CommandFailed, SetupError, WaitTimeout
from harness.history import ActionEvent, Event, History, MetricReading, Stamp, TableDropped, now
from harness.topology.pg import conninfo, sql, sql_one
from harness.topology.base import ManagedPostgres, Topology, need
from harness.topology.streaming import PGDATA
from harness.wait import wait_until

__all__ = [
    "ARCHIVE_DIR",
    "FAILING_ARCHIVE_COMMAND",
    "WORKING_ARCHIVE_COMMAND",
    "AbandonedSlot",
    "ArchiverStats",
    "BreakArchiving",
    "CorruptPage",
    "DropTable",
    "MetricSample",
    "PauseReplay",
    "ReadResult",
    "WalRetention",
    "archive_settings",
    "archiver_stats",
    "create_table",
    "enable_checksums",
    "first_crossing",
    "format_size",
    "generate_wal",
    "metric_samples",
    "read_table",
    "recovery_targets",
    "replication_lag_bytes",
    "table_exists",
    "wal_retention",
    "watch_metric",
]

ARCHIVE_DIR = "/var/lib/postgresql/archive"
# A local folder per node: enough to make archiving real (segments are copied and marked done).
WORKING_ARCHIVE_COMMAND = f"mkdir -p {ARCHIVE_DIR} && cp %p {ARCHIVE_DIR}/%f"
FAILING_ARCHIVE_COMMAND = "exit 1  # harness: WAL archiving broken on purpose"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(table: str) -> str:
    # Table names come from feature files; only plain lower-case identifiers are accepted.
    if not _IDENT.fullmatch(table):
        raise SetupError(f"table name {table!r} must be a plain identifier (a-z, 0-9, _)")
    return table


def archive_settings() -> dict[str, str]:
    """postgresql.conf lines that turn archiving on from the first start (no restart later)."""
    return {"archive_mode": "on", "archive_command": WORKING_ARCHIVE_COMMAND}


def format_size(n: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def _alter_system(cluster: Topology, node: str, setting: str, value: str) -> None:
    # Composed, without parameters: psycopg would read the %p and %f of a command as placeholders.
    query = psql.SQL("ALTER SYSTEM SET {} = {}").format(psql.Identifier(setting), psql.Literal(value))
    with psycopg.connect(conninfo(cluster.address(node), timeout=5), autocommit=True) as conn:
        conn.execute(query)


def _reload_and_wait(cluster: Topology, node: str, setting: str, value: str) -> None:
    addr = cluster.address(node)
    sql(addr, "SELECT pg_reload_conf()")
    # The reload is asynchronous: a new session sees the value once the postmaster re-read it.
    wait_until(lambda: sql_one(addr, f"SHOW {setting}") == value, timeout=10, interval=0.05,
               what=f"{setting} to be reloaded on {node}")


# -- archiving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiverStats:
    archived_count: int
    failed_count: int
    last_failed_wal: str | None
    ready_segments: int  # completed segments not archived yet (.ready files)


def archiver_stats(cluster: Topology, node: str) -> ArchiverStats:
    row = sql(cluster.address(node),
              "SELECT archived_count, failed_count, last_failed_wal, "
              "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%%.ready') FROM pg_stat_archiver")[0]
    return ArchiverStats(int(row[0]), int(row[1]), row[2], int(row[3]))


class BreakArchiving:
    """``archive_command`` fails on the target; heal restores the command it had."""

    name = "archive-failure"
    one_shot = False

    def __init__(self, cluster: Topology, target: str) -> None:
        self.cluster, self.target = cluster, target
        self.saved: str | None = None
        self.baseline: ArchiverStats | None = None

    def _enable_archive_mode(self) -> str:
        t0 = now()
        _alter_system(self.cluster, self.target, "archive_mode", "on")
        _alter_system(self.cluster, self.target, "archive_command", WORKING_ARCHIVE_COMMAND)
        need(self.cluster, ManagedPostgres, "turning archive_mode on (a restart)").pg_ctl(
            self.target, "-m", "fast", "-w", "-t", "60", "restart")
        self.cluster.wait_ready(self.target)
        self.cluster.history.add(ActionEvent(at=t0, end=now(), action="archive_mode.enable", target=self.target,
                                             outcome="ok", detail="ALTER SYSTEM archive_mode = on and a restart"))
        return "archive_mode was off: turned on with a restart (enable it before the start to avoid that); "

    def inject(self) -> str:
        addr = self.cluster.address(self.target)
        setup = ""
        if sql_one(addr, "SHOW archive_mode") == "off":
            setup = self._enable_archive_mode()
        self.saved = str(sql_one(addr, "SHOW archive_command"))
        self.baseline = archiver_stats(self.cluster, self.target)
        _alter_system(self.cluster, self.target, "archive_command", FAILING_ARCHIVE_COMMAND)
        _reload_and_wait(self.cluster, self.target, "archive_command", FAILING_ARCHIVE_COMMAND)
        return (f"{setup}archive_command on {self.target} fails now (was {self.saved!r}; "
                f"archived {self.baseline.archived_count}, failed {self.baseline.failed_count} so far)")

    def heal(self) -> str:
        if self.saved is None:
            return f"archiving on {self.target} was not broken"
        _alter_system(self.cluster, self.target, "archive_command", self.saved)
        _reload_and_wait(self.cluster, self.target, "archive_command", self.saved)
        restored, self.saved = self.saved, None
        return f"archive_command on {self.target} restored to {restored!r}"


# -- replication slots and WAL retention ------------------------------------------------------


@dataclass(frozen=True)
class WalRetention:
    slot_bytes: int  # WAL from the oldest slot's restart_lsn to the current position
    unarchived_bytes: int  # completed segments waiting for the archiver
    pg_wal_bytes: int  # what pg_wal holds on disk

    @property
    def retained_bytes(self) -> int:
        """WAL kept only because of a slot or the archiver (not wal_keep_size)."""
        return max(self.slot_bytes, self.unarchived_bytes)


def wal_retention(cluster: Topology, node: str) -> WalRetention:
    row = sql(cluster.address(node), """
        SELECT coalesce((SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))
                           FROM pg_replication_slots WHERE restart_lsn IS NOT NULL), 0)::bigint,
               (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%%.ready')
                 * (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
               (SELECT coalesce(sum(size), 0) FROM pg_ls_waldir())::bigint""")[0]
    return WalRetention(int(row[0]), int(row[1]), int(row[2]))


class AbandonedSlot:
    """A physical replication slot that reserves WAL and that no consumer ever reads."""

    name = "abandoned-slot"
    one_shot = False

    def __init__(self, cluster: Topology, target: str, slot: str = "harness_abandoned") -> None:
        self.cluster, self.target, self.slot = cluster, target, _ident(slot)
        self.created = False

    def inject(self) -> str:
        lsn = sql_one(self.cluster.address(self.target),
                      "SELECT lsn::text FROM pg_create_physical_replication_slot(%s, true)", (self.slot,))
        self.created = True
        return f"physical slot {self.slot} on {self.target} reserves WAL from {lsn}; nobody consumes it"

    def heal(self) -> str:
        if not self.created:
            return f"no slot {self.slot} on {self.target}"
        rows = sql(self.cluster.address(self.target),
                   "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                   (self.slot,))
        self.created = False
        return f"slot {self.slot} dropped on {self.target}" if rows else f"slot {self.slot} was already gone"


def generate_wal(cluster: Topology, node: str, nbytes: int, *, chunk: int = 1 << 20) -> tuple[str, str]:
    """Write about ``nbytes`` of WAL (1 MB logical messages: no table grows). Returns LSNs before, after."""
    if not 0 < nbytes <= 8 << 30:
        raise SetupError(f"WAL to generate must be between 1 byte and 8 GB, not {nbytes}")
    addr = cluster.address(node)
    t0 = now()
    with psycopg.connect(conninfo(addr, timeout=5), autocommit=True) as conn:
        before = str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]
        left = nbytes
        for _ in range(nbytes // chunk + 1):  # bounded: one message per chunk
            if left <= 0:
                break
            size = min(chunk, left)
            conn.execute("SELECT pg_logical_emit_message(false, 'harness', repeat('x', %s))", (size,))
            left -= size
        # No pg_switch_wal() at the end: a standby's replay position after a switch stays short
        # of the next segment's start until new WAL comes, which would read as lag.
        after = str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]
    cluster.history.add(ActionEvent(at=t0, end=now(), action="wal.generate", target=node, outcome="ok",
                                    detail=f"{format_size(nbytes)} of WAL: {before} -> {after}"))
    return before, after


def replication_lag_bytes(cluster: Topology, replica: str) -> int | None:
    """Bytes of WAL the primary has written that ``replica`` has not replayed (None: unknown)."""
    primary = cluster.address(cluster.primary)
    current = str(sql_one(primary, "SELECT pg_current_wal_lsn()::text", timeout=2))
    try:
        replayed = sql_one(cluster.address(replica), "SELECT pg_last_wal_replay_lsn()::text", timeout=1)
    except Exception:  # noqa: BLE001 - a frozen replica does not answer: ask its sender instead
        replayed = sql_one(primary, "SELECT replay_lsn::text FROM pg_stat_replication WHERE application_name = %s",
                           (replica,), timeout=2)
    if replayed is None:
        return None
    return int(sql_one(primary, "SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)::bigint", (current, replayed)))


class PauseReplay:
    """``pg_wal_replay_pause()`` on a standby: it keeps receiving WAL but applies none."""

    name = "replay-pause"
    one_shot = False

    def __init__(self, cluster: Topology, target: str) -> None:
        self.cluster, self.target = cluster, target
        self.paused = False

    def inject(self) -> str:
        addr = self.cluster.address(self.target)
        if not sql_one(addr, "SELECT pg_is_in_recovery()"):
            raise SetupError(f"{self.target} is not a standby: there is no WAL replay to pause")
        sql(addr, "SELECT pg_wal_replay_pause()")
        self.paused = True
        state = sql_one(addr, "SELECT pg_get_wal_replay_pause_state()")
        return f"WAL replay on {self.target}: {state}"

    def heal(self) -> str:
        if not self.paused:
            return f"replay on {self.target} was not paused"
        addr = self.cluster.address(self.target)
        if sql_one(addr, "SELECT pg_is_in_recovery()"):
            sql(addr, "SELECT pg_wal_replay_resume()")
        self.paused = False
        return f"WAL replay on {self.target} resumed"


# -- data checksums and page corruption -------------------------------------------------------


def enable_checksums(cluster: Topology, node: str) -> str:
    """Data checksums on ``node`` (stop, ``pg_checksums --enable``, start) unless already on."""
    addr = cluster.address(node)
    if sql_one(addr, "SHOW data_checksums") == "on":
        return "already on"
    pg = need(cluster, ManagedPostgres, "enabling data checksums (pg_checksums on the stopped server)")
    t0 = now()
    pg.pg_ctl(node, "-m", "fast", "-w", "stop")
    res = cluster.node(node).exec(["pg_checksums", "--enable", "--no-sync", "-D", PGDATA], timeout=300)
    pg.start_postgres(node)
    cluster.wait_ready(node)
    if res.exit_code != 0:
        raise CommandFailed(node, "pg_checksums --enable", res.exit_code, res.output)
    took = now().t - t0.t
    # Only this node: its standbys keep their own (checksum-less) files, which streaming allows.
    cluster.history.add(ActionEvent(at=t0, end=now(), action="checksums.enable", target=node, outcome="ok",
                                    detail=f"stop, pg_checksums --enable, start: {took:.2f} s"))
    return f"enabled with pg_checksums in {took:.2f} s (server stopped meanwhile)"


_FLIP = """
import os, sys
path, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, 'r+b') as f:
    f.seek(off); old = f.read(n)
    if len(old) != n: sys.exit('short read')
    f.seek(off); f.write(bytes(b ^ 0xFF for b in old)); f.flush(); os.fsync(f.fileno())
print(old.hex())
"""

_RESTORE = """
import os, sys
path, off, want, old = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
with open(path, 'r+b') as f:
    f.seek(off); cur = f.read(len(want))
    if cur != want: print('changed'); sys.exit(3)
    f.seek(off); f.write(old); f.flush(); os.fsync(f.fileno())
print('restored')
"""


class CorruptPage:
    """Flip ``length`` bytes in the middle of one block of ``table`` (checksums on first)."""

    name = "corrupt-page"
    one_shot = False

    def __init__(self, cluster: Topology, target: str, table: str, *, block: int = 0,
                 length: int = 64) -> None:
        self.cluster, self.target, self.table = cluster, target, _ident(table)
        self.block, self.length = block, length
        self.path: str | None = None
        self.offset = 0
        self.original: bytes | None = None

    def inject(self) -> str:
        c, node = self.cluster, self.target
        checksums = enable_checksums(c, node)
        addr = c.address(node)
        rel, size, bs = sql(addr, "SELECT pg_relation_filepath(%s::regclass), pg_relation_size(%s::regclass), "
                                  "current_setting('block_size')::int", (self.table, self.table))[0]
        blocks = int(size) // int(bs)
        if blocks == 0:
            raise SetupError(f"table {self.table} on {node} has no page on disk to corrupt (insert rows first)")
        block = min(self.block, blocks - 1)
        self.path = f"{PGDATA}/{rel}"
        self.offset = block * int(bs) + int(bs) // 2  # the middle of the page: neither header nor line pointers
        # Stopped while the bytes change: the shutdown checkpoint has written every dirty buffer,
        # so nothing overwrites the damage, and the restart leaves no copy of the page in memory.
        pg = need(c, ManagedPostgres, "corrupting a page (the server is stopped while its bytes change)")
        pg.pg_ctl(node, "-m", "fast", "-w", "stop")
        try:
            res = c.node(node).exec(["python3", "-c", _FLIP, self.path, str(self.offset), str(self.length)])
            if res.exit_code != 0:
                raise CommandFailed(node, f"flip bytes in {self.path}", res.exit_code, res.output)
            self.original = bytes.fromhex(res.output.strip().splitlines()[-1])
        finally:
            pg.start_postgres(node)
            c.wait_ready(node)
        return (f"{self.length} bytes flipped at offset {self.offset} (block {block} of {blocks}) of "
                f"{self.table} ({rel}) on {node}; data checksums {checksums}")

    def heal(self) -> str:
        if self.original is None or self.path is None:
            return f"no page of {self.table} corrupted on {self.target}"
        node = self.cluster.node(self.target)
        if not node.is_running():
            raise SetupError(f"{self.target} is down: the page of {self.table} cannot be restored "
                             f"(the node needs a restore from a backup or a replica)")
        damaged = bytes(b ^ 0xFF for b in self.original)
        res = node.exec(["python3", "-c", _RESTORE, self.path, str(self.offset), damaged.hex(), self.original.hex()])
        if res.exit_code == 3:
            # Something rewrote the page since (a rewind, a restore): writing old bytes would damage it.
            self.original = None
            return f"the page of {self.table} on {self.target} was rewritten since: left as it is"
        if res.exit_code != 0:
            raise CommandFailed(self.target, f"restore bytes in {self.path}", res.exit_code, res.output)
        self.original = None
        return f"saved bytes written back to {self.path} on {self.target} (online: the bad page was never cached)"


@dataclass(frozen=True)
class ReadResult:
    ok: bool
    rows: int | None
    error: str | None
    sqlstate: str | None

    @property
    def checksum_error(self) -> bool:
        # XX001 data_corrupted: "invalid page in block N of relation ..." after a checksum mismatch.
        text = (self.error or "").lower()
        return self.sqlstate == "XX001" or "invalid page" in text or "checksum" in text


def read_table(cluster: Topology, node: str, table: str) -> ReadResult:
    """Read every row of ``table`` from its heap (a sequential scan: indexes cannot hide a bad page)."""
    t0 = now()
    try:
        with psycopg.connect(conninfo(cluster.address(node), timeout=5), autocommit=True) as conn:
            conn.execute("SET statement_timeout = 30000")
            for off in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                conn.execute(f"SET {off} = off")
            rows = conn.execute(f"SELECT count(*) FROM (SELECT * FROM {_ident(table)}) t").fetchone()
        result = ReadResult(True, int(rows[0]) if rows else 0, None, None)
    except psycopg.Error as exc:
        result = ReadResult(False, None, str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc),
                            exc.sqlstate)
    cluster.history.add(ActionEvent(at=t0, end=now(), action="read_table", target=node,
                                    outcome="ok" if result.ok else "failed",
                                    detail=f"{table}: {result.rows} rows" if result.ok
                                    else f"{table}: [{result.sqlstate}] {result.error}"))
    return result


# -- tables ------------------------------------------------------------------------------------


def create_table(cluster: Topology, table: str, rows: int) -> None:
    """A table with ``rows`` rows on the primary (for the drop and corruption scenarios)."""
    if not 0 <= rows <= 10_000_000:
        raise SetupError(f"rows must be between 0 and 10 000 000, not {rows}")
    t = _ident(table)
    addr = cluster.address(cluster.primary)
    t0 = now()
    sql(addr, f"CREATE TABLE {t} (id bigint PRIMARY KEY, payload text NOT NULL)", timeout=30)
    sql(addr, f"INSERT INTO {t} SELECT g, md5(g::text) FROM generate_series(1, %s) g", (rows,), timeout=120)
    cluster.history.add(ActionEvent(at=t0, end=now(), action="table.create", target=cluster.primary, outcome="ok",
                                    detail=f"{t}: {rows} rows"))


def table_exists(cluster: Topology, node: str, table: str) -> bool:
    return sql_one(cluster.address(node), "SELECT to_regclass(%s) IS NOT NULL", (_ident(table),)) is True


class DropTable:
    """An accidental ``DROP TABLE``; the history gets what a point-in-time recovery needs."""

    name = "drop-table"
    one_shot = True  # nothing to heal in place: a dropped table comes back only from a backup

    def __init__(self, cluster: Topology, target: str, table: str) -> None:
        self.cluster, self.target, self.table = cluster, target, _ident(table)
        self.xid: int | None = None

    def inject(self) -> str:
        with psycopg.connect(conninfo(self.cluster.address(self.target), timeout=5), autocommit=True) as conn:
            with conn.transaction():
                row = conn.execute("SELECT pg_current_wal_lsn()::text, clock_timestamp(), "
                                   "extract(epoch FROM clock_timestamp())::float8, txid_current()").fetchone()
                assert row is not None
                conn.execute(f"DROP TABLE {self.table}")
            after = conn.execute("SELECT pg_current_wal_lsn()::text, clock_timestamp()").fetchone()
            assert after is not None
        lsn_before, time_before, wall_before, xid = str(row[0]), row[1], float(row[2]), int(row[3])
        self.xid = xid
        # For the recovery scenarios: stop replay before this transaction (xid, exclusive) or LSN.
        self.cluster.history.add(TableDropped(
            at=now(), table=self.table, node=self.target, xid=xid, lsn_before=lsn_before, lsn_after=str(after[0]),
            time_before=time_before.isoformat(), time_after=after[1].isoformat(), wall_before=wall_before))
        return (f"DROP TABLE {self.table} on {self.target} committed in xid {xid} "
                f"between {time_before.isoformat()} and {after[1].isoformat()} (WAL {lsn_before} -> {after[0]}); "
                f"recover with recovery_target_xid = {xid}, recovery_target_inclusive = off")

    def heal(self) -> str:
        return (f"DROP TABLE {self.table} cannot be undone in place: restore from a backup "
                f"(point in time before xid {self.xid})")


def recovery_targets(events: Iterable[Event]) -> list[TableDropped]:
    """What the journal says a point-in-time recovery must stop before (one per dropped table)."""
    return [e for e in events if isinstance(e, TableDropped)]


# -- sampled numbers in the history ------------------------------------------------------------


@dataclass(frozen=True)
class MetricSample:
    at: Stamp
    what: str
    node: str
    value: int


def metric_samples(events: Iterable[Event], what: str, node: str, *, since: float | None = None) -> list[MetricSample]:
    """The samples of one metric on one node recorded in the history (optionally from ``since``, monotonic)."""
    out = []
    for e in events:
        if isinstance(e, MetricReading) and e.metric == what and e.node == node and (since is None or e.at.t >= since):
            out.append(MetricSample(e.at, what, node, e.value))
    return out


def first_crossing(samples: Iterable[MetricSample], threshold: int, *, below: bool = False) -> MetricSample | None:
    """The first sample strictly above ``threshold`` (strictly below it with ``below``)."""
    return next((s for s in samples if (s.value < threshold if below else s.value > threshold)), None)


def watch_metric(history: History, what: str, node: str, sample: Callable[[], int | None], *, threshold: int,
                 timeout: float, interval: float = 0.25,
                 below: bool = False) -> tuple[MetricSample | None, list[MetricSample]]:
    """Sample into the history until a value crosses ``threshold`` or ``timeout`` passes.

    Crossing is "above" (or "below" with ``below``). Returns the first crossing (None if none)
    and every sample taken, both read back from the history, so the verdict can be re-derived
    from the journal.
    """
    t0 = now().t

    def check() -> bool:
        value = sample()
        if value is None:
            return False
        history.add(MetricReading(at=now(), metric=what, node=node, value=value))
        return value < threshold if below else value > threshold

    side = "below" if below else "above"
    try:
        wait_until(check, timeout=timeout, interval=interval, what=f"{what} on {node} {side} {threshold}")
    except WaitTimeout:
        pass
    samples = metric_samples(history, what, node, since=t0)
    return first_crossing(samples, threshold, below=below), samples
