"""A second PostgreSQL cluster fed by logical replication from the drill's primary.

::

    the drill's topology (cluster "first")            the logical replica (cluster "second")
      node1 (primary, wal_level = logical)  ── pub_first ──>  sub1 (its own primary)
      node2 (standby)                       <── pub_second ── (bidirectional only)

The second cluster is one node (``sub1``) on the run's Docker network, so it reaches the
first by host name; the run's teardown and the reaper remove it with the rest. The
publications carry the probe's table, the workload's tables and a table of the conflict
drill (``logical_conflicts``); their definitions are copied with ``pg_dump --schema-only``
because logical replication does not carry DDL.

Bidirectional replication uses ``origin = none`` (PostgreSQL 16+): each side sends only the
rows written on it, not the ones it received from the other, so rows do not go round in a
loop. A conflict (an INSERT whose key exists on the receiving side) stops that side's apply
worker; the launcher restarts it every ``wal_retrieve_retry_interval`` and it fails on the
same remote transaction each time. :meth:`LogicalReplica.resolve_conflicts` reads each error
in the subscriber's log, records it, and skips that remote transaction
(``ALTER SUBSCRIPTION ... SKIP (lsn = ...)``, PostgreSQL 15+), which keeps the local row: the
keys then differ between the clusters, and are reported.

Failover: a subscription's slot lives on the publisher's primary. A promoted standby has no
copy of it on PostgreSQL 15, nor on 17 unless the subscription was made with
``failover = true`` and the standby runs ``sync_replication_slots`` (with its own physical
slot on the primary, ``hot_standby_feedback`` and a ``dbname`` in ``primary_conninfo``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from psycopg import sql as psql
from pydantic import BaseModel, ConfigDict

from harness.errors import CommandFailed, SetupError, TargetMissed, WaitTimeout
from harness.history import ActionEvent, LogicalConflict, LogicalLag, ProbeOp, now
from harness.logical.conflicts import apply_errors, differing_keys, key_value
from harness.parts import PartBase
from harness.topology.base import NotAvailable
from harness.topology.pg import port_open, sql
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.history import History
    from harness.runtime.base import Node, Runtime
    from harness.topology.base import Topology

__all__ = ["CONFLICT_TABLE", "ConflictReport", "LogicalReplica", "LogicalSectionResult", "Mode", "Sql", "check_available",
           "lag_within", "pg_major_of"]

log = logging.getLogger(__name__)

Mode = Literal["one-way", "bidirectional"]
Sql = Callable[..., list[tuple[Any, ...]]]

SUBSCRIBER = "sub1"
CONFLICT_TABLE = "logical_conflicts"
WORKLOAD_TABLES = ("pgbench_accounts", "pgbench_history")
FORWARD = "sub_from_first"  # on the second cluster, from the first's primary
BACKWARD = "sub_from_second"  # on the first cluster's primary, from the second (bidirectional)
PUB_FIRST, PUB_SECOND = "pub_first", "pub_second"
LOGFILE = "/var/log/postgresql/postgresql.log"
#: Topologies whose nodes the harness configures itself (wal_level = logical at first boot).
PUBLISHERS = ("streaming",)


def pg_major_of(env: Environment) -> int:
    """The PostgreSQL major version the environment's image runs (its stack's, for the default image)."""
    from harness.images.build import load_stack, stack_of

    return load_stack(stack_of(env)).pg_major


def check_available(kind: str, mode: Mode, failover_slots: bool, pg_major: int) -> None:
    """One clear line when this topology or PostgreSQL version cannot do what was asked."""
    if kind not in PUBLISHERS:
        raise NotAvailable(f"not available on a {kind} topology: a logical replica cluster (the harness sets "
                           f"wal_level = logical itself only on a {' or '.join(PUBLISHERS)} topology)")
    if mode == "bidirectional" and pg_major < 16:
        raise NotAvailable(f"two clusters replicating to each other are not available on PostgreSQL {pg_major}: "
                           "a subscription's origin = none (send only the rows written locally, so that rows do "
                           "not loop between the clusters) came in PostgreSQL 16; use the trixie stack "
                           "(PostgreSQL 17)")
    if failover_slots and pg_major < 17:
        raise NotAvailable(f"failover slots are not available on PostgreSQL {pg_major}: a subscription's "
                           "failover = true and a standby's sync_replication_slots came in PostgreSQL 17; "
                           "use the trixie stack")


def lag_within(samples: Sequence[LogicalLag], bound_bytes: int, subscription: str = FORWARD) -> LogicalLag | None:
    """The first sample of ``subscription`` at most ``bound_bytes`` behind (a missing slot never is)."""
    for s in samples:
        if s.subscription == subscription and s.slot_lag_bytes is not None and s.slot_lag_bytes <= bound_bytes:
            return s
    return None


class ConflictReport(BaseModel):
    """What the conflict drill found: the apply errors the servers logged, and the rows that differ."""

    model_config = ConfigDict(frozen=True)
    reported_keys: list[str]  # keys of the apply errors (either direction), as values: ["1", "2"]
    by_subscription: dict[str, list[str]]
    apply_error_count: dict[str, int]  # pg_stat_subscription_stats: every failed attempt, retries included
    differing_keys: list[str]  # the harness's own comparison of the two clusters' rows
    unreported: list[str]  # differ, but no apply error named them
    skipped_transactions: int
    resolution: str
    caught_up: bool


class LogicalSectionResult(BaseModel):
    """The logical replica's section of the scenario's result."""

    model_config = ConfigDict(frozen=True)
    mode: Mode
    pg_major: int
    publisher: str
    subscriber: str
    subscriptions: list[str]
    failover_slots: bool
    lag_samples: int
    last_lag_bytes: int | None
    max_lag_bytes: int | None
    conflicts: ConflictReport | None = None
    after_failover: list[str] = []


@dataclass(frozen=True)
class _Direction:
    subscription: str
    subscriber: str  # node name
    subscriber_addr: str
    publisher: str
    publisher_addr: str


class LogicalReplica(PartBase):
    """The second cluster and its subscription(s); a drill part (section ``logical``)."""

    section = "logical"

    def __init__(self, publisher: Topology, env: Environment, history: History, *, mode: Mode = "one-way",
                 failover_slots: bool = False, run_sql: Sql = sql) -> None:
        self.publisher, self.env, self.history = publisher, env, history
        self.runtime: Runtime = publisher.runtime
        self.mode: Mode = mode
        self.failover_slots = failover_slots
        self.sql = run_sql
        self.node: Node | None = None
        self.pg_major = 0
        self.lags: list[LogicalLag] = []
        self.conflicts: ConflictReport | None = None
        self.after_failover: list[str] = []
        self.tables = (env.probe.table, *WORKLOAD_TABLES, CONFLICT_TABLE)
        self._skipped: set[tuple[str, str]] = set()
        self._logs_read: dict[str, list[int | str]] = {}  # address -> [bytes read, text]

    # -- where things are --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return SUBSCRIBER

    def address(self) -> str:
        if self.node is None:
            raise SetupError("the logical replica cluster is not running")
        return self.node.address()

    def subscriptions(self) -> list[str]:
        return [FORWARD, BACKWARD] if self.mode == "bidirectional" else [FORWARD]

    def _directions(self) -> list[_Direction]:
        p = self.publisher.primary
        out = [_Direction(FORWARD, SUBSCRIBER, self.address(), p, self.publisher.address(p))]
        if self.mode == "bidirectional":
            out.append(_Direction(BACKWARD, p, self.publisher.address(p), SUBSCRIBER, self.address()))
        return out

    @staticmethod
    def conninfo(host: str, application_name: str, *, hostaddr: str | None = None) -> str:
        """A connection string to ``host``. With ``hostaddr`` libpq does not resolve the name: a
        killed container's name is no longer in Docker's DNS, which then asks the host's resolvers,
        and an apply worker waits out their timeouts in getaddrinfo (connect_timeout does not cover
        it) without seeing an ALTER SUBSCRIPTION. connect_timeout bounds a blocking connect (the table
        copy's); the apply worker's asynchronous one ignores it (see :meth:`follow_primary`)."""
        addr = f" hostaddr={hostaddr}" if hostaddr else ""
        return (f"host={host}{addr} port=5432 user=postgres dbname=postgres connect_timeout=2 "
                f"application_name={application_name}")

    def _run(self, host: str, query: str, params: tuple[Any, ...] = (), timeout: float = 30) -> list[tuple[Any, ...]]:
        return self.sql(host, query, params, timeout=timeout)

    def _one(self, host: str, query: str, params: tuple[Any, ...] = (), timeout: float = 10) -> Any:
        rows = self._run(host, query, params, timeout)
        return rows[0][0] if rows else None

    # -- start -------------------------------------------------------------------------------

    def start(self, *, timeout: float = 60) -> None:
        """Create the second cluster, copy the tables' definitions, publish and subscribe, wait
        until the tables are copied and the subscription streams. A failure stops the node."""
        from harness.images.choose import image_for
        from harness.workload.load import create_schema

        t0 = now()
        pub = self.publisher
        paddr = pub.address(pub.primary)
        self.pg_major = int(self._one(paddr, "SHOW server_version_num")) // 10000
        check_available(pub.kind, self.mode, self.failover_slots, self.pg_major)
        level = self._one(paddr, "SHOW wal_level")
        if level != "logical":
            raise SetupError(f"the primary {pub.primary} runs wal_level = {level}, not logical: say 'Given a logical "
                             "replica cluster ...' before anything starts the topology (the write probe, a fault)")
        create_schema(paddr)  # the workload's tables exist before the subscription, so its rows have a target
        self._run(paddr, f"CREATE TABLE IF NOT EXISTS {CONFLICT_TABLE} (k int PRIMARY KEY, side text NOT NULL, "
                         "at timestamptz NOT NULL DEFAULT now())")
        self.node = self.runtime.create_node(SUBSCRIBER, image=image_for(self.env), env={
            "HARNESS_NODE": SUBSCRIBER, "HARNESS_ROLE": "primary", "HARNESS_PRIMARY_HOST": SUBSCRIBER,
            "HARNESS_SYNC_NAMES": "", "HARNESS_EXTRA_CONF": "wal_level = 'logical'"})
        try:
            self._wait_ready(timeout)
            self._copy_schema()
            self._publish_and_subscribe(timeout)
        except BaseException as exc:
            logs = self._logs(20)
            try:
                self.node.kill()  # nothing left running; the run's teardown removes the container
            except Exception:  # noqa: BLE001 - the start's error is what the user needs
                log.exception("could not stop %s", SUBSCRIBER)
            self.history.add(ActionEvent(at=t0, end=now(), action="logical.start", target=SUBSCRIBER,
                                         outcome="failed", detail=str(exc)[:500]))
            if isinstance(exc, SetupError):
                raise SetupError(f"the logical replica cluster did not start: {str(exc).splitlines()[0]}\n{logs}") from exc
            raise
        self.history.add(ActionEvent(at=t0, end=now(), action="logical.start", target=SUBSCRIBER, outcome="ok",
                                     detail=self.describe()))

    def describe(self) -> str:
        how = "each subscribed to the other (origin = none)" if self.mode == "bidirectional" else \
            f"{SUBSCRIBER} subscribed to {self.publisher.primary}"
        slots = ", failover slots" if self.failover_slots else ""
        return f"logical replication on PostgreSQL {self.pg_major}: {how}{slots}; tables {', '.join(self.tables)}"

    def _logs(self, tail: int) -> str:
        try:
            return self.node.logs(tail) if self.node is not None else ""
        except Exception as exc:  # noqa: BLE001 - the logs of a node that is gone
            return f"(no logs: {exc})"

    def _wait_ready(self, timeout: float) -> None:
        def ready() -> bool:
            addr = self.address()
            return port_open(addr) and self._one(addr, "SELECT 1", timeout=2) == 1

        wait_until(ready, timeout=timeout, interval=0.05, what=f"{SUBSCRIBER} to accept connections",
                   describe=lambda: self._logs(10))

    def _exec(self, script: str, what: str, timeout: float = 120) -> str:
        assert self.node is not None
        res = self.node.exec(["bash", "-c", script], timeout=timeout)
        if res.exit_code != 0:
            raise CommandFailed(SUBSCRIBER, what, res.exit_code, res.output[-1000:])
        return res.output

    def _copy_schema(self) -> None:
        tables = " ".join(f"-t {t}" for t in self.tables)
        self._exec(f"set -o pipefail; pg_dump --schema-only --no-publications --no-subscriptions {tables} "
                   f"-h {self.publisher.primary} -U postgres postgres | psql -q -v ON_ERROR_STOP=1 -U postgres postgres",
                   "copy the tables' definitions (pg_dump | psql)")

    def _publication(self, host: str, name: str) -> None:
        self._run(host, f"CREATE PUBLICATION {name} FOR TABLE {', '.join(self.tables)}")

    def subscription_options(self, *, copy_data: bool) -> str:
        opts = [f"copy_data = {'true' if copy_data else 'false'}"]
        if self.mode == "bidirectional":
            opts.append("origin = none")
        if self.failover_slots:
            opts.append("failover = true")
        return ", ".join(opts)

    def _subscribe(self, on: str, name: str, publisher_host: str, publication: str, *, copy_data: bool) -> None:
        addr = self.address() if publisher_host == SUBSCRIBER else self.publisher.address(publisher_host)
        conn = self.conninfo(publisher_host, name, hostaddr=addr)
        self._run(on, psql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH ({})").format(
            psql.Identifier(name), psql.Literal(conn), psql.Identifier(publication),
            psql.SQL(self.subscription_options(copy_data=copy_data))).as_string(), timeout=60)

    def _publish_and_subscribe(self, timeout: float) -> None:
        pub = self.publisher
        paddr, saddr = pub.address(pub.primary), self.address()
        if self.failover_slots:
            self._standbys_sync_slots()
        self._publication(paddr, PUB_FIRST)
        self._subscribe(saddr, FORWARD, pub.primary, PUB_FIRST, copy_data=True)
        if self.mode == "bidirectional":
            self._publication(saddr, PUB_SECOND)
            # The second cluster's rows came from the first: nothing to copy back.
            self._subscribe(paddr, BACKWARD, SUBSCRIBER, PUB_SECOND, copy_data=False)
        for d in self._directions():
            self._wait_synced(d, timeout)
        if self.failover_slots:
            self._wait_slot_synced(timeout)

    def _wait_synced(self, d: _Direction, timeout: float) -> None:
        def synced() -> bool:
            pending = self._one(d.subscriber_addr, "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s "
                                "ON s.oid = r.srsubid WHERE s.subname = %s AND r.srsubstate <> 'r'", (d.subscription,))
            worker = self._one(d.subscriber_addr, "SELECT pid FROM pg_stat_subscription WHERE subname = %s "
                               "AND relid IS NULL", (d.subscription,))
            return pending == 0 and worker is not None

        wait_until(synced, timeout=timeout, interval=0.1, what=f"subscription {d.subscription} on {d.subscriber} to "
                   "copy its tables and stream", describe=lambda: self._logs(10))

    # -- failover slots (PostgreSQL 17) -------------------------------------------------------

    def _standbys_sync_slots(self) -> None:
        """Each standby keeps copies of the primary's failover slots: a physical slot of its own on
        the primary, hot_standby_feedback, a dbname in primary_conninfo and the slot sync worker; the
        primary holds logical walsenders back until those standbys have the WAL (synchronized_standby_slots)."""
        pub = self.publisher
        paddr = pub.address(pub.primary)
        slots = []
        for name in pub.replicas():
            slot = f"{name}_physical"
            slots.append(slot)
            self._run(paddr, "SELECT pg_create_physical_replication_slot(%s, true) WHERE NOT EXISTS "
                             "(SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)", (slot, slot))
            addr = pub.address(name)
            for setting, value in (("primary_slot_name", slot), ("hot_standby_feedback", "on"),
                                   ("sync_replication_slots", "on"),
                                   ("primary_conninfo", self.conninfo(pub.primary, name))):
                self._run(addr, psql.SQL("ALTER SYSTEM SET {} = {}").format(
                    psql.Identifier(setting), psql.Literal(value)).as_string())
            self._run(addr, "SELECT pg_reload_conf()")
        self._run(paddr, psql.SQL("ALTER SYSTEM SET synchronized_standby_slots = {}").format(
            psql.Literal(",".join(slots))).as_string())
        self._run(paddr, "SELECT pg_reload_conf()")

    def _wait_slot_synced(self, timeout: float) -> None:
        pub = self.publisher

        def everywhere() -> bool:
            return all(self._one(pub.address(n), "SELECT synced AND NOT temporary FROM pg_replication_slots "
                                 "WHERE slot_name = %s", (FORWARD,)) is True for n in pub.replicas())

        wait_until(everywhere, timeout=timeout, interval=0.2,
                   what=f"the failover slot {FORWARD} synchronised to {', '.join(pub.replicas())}")

    # -- lag -----------------------------------------------------------------------------------

    def sample_lag(self) -> list[LogicalLag]:
        """Each subscription's lag, read on its publisher, recorded in the history."""
        out = []
        for d in self._directions():
            slot_lag = self._one(d.publisher_addr, "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint "
                                 "FROM pg_replication_slots WHERE slot_name = %s", (d.subscription,))
            replay = self._one(d.publisher_addr, "SELECT (pg_current_wal_lsn() - replay_lsn)::bigint "
                               "FROM pg_stat_replication WHERE application_name = %s", (d.subscription,))
            ev = LogicalLag(at=now(), subscription=d.subscription, publisher=d.publisher, subscriber=d.subscriber,
                            slot_lag_bytes=None if slot_lag is None else int(slot_lag),
                            replay_lag_bytes=None if replay is None else int(replay))
            self.history.add(ev)
            self.lags.append(ev)
            out.append(ev)
        return out

    def expect_lag(self, bound_bytes: int, timeout: float) -> LogicalLag:
        """Until the logical replica is at most ``bound_bytes`` behind; TargetMissed with the last lag."""
        first = len(self.lags)

        def within() -> LogicalLag | None:
            self.sample_lag()
            return lag_within(self.lags[first:], bound_bytes)

        try:
            return wait_until(within, timeout=timeout, interval=0.2, what="the logical replica's lag")
        except WaitTimeout as exc:
            last = next((s for s in reversed(self.lags) if s.subscription == FORWARD), None)
            measured = "no slot on the publisher" if last is None or last.slot_lag_bytes is None else \
                f"{last.slot_lag_bytes} bytes behind after {timeout:g} s"
            raise TargetMissed("logical replica lag", measured, f"<= {bound_bytes} bytes") from exc

    # -- conflicts (bidirectional) ----------------------------------------------------------

    def write_same_keys(self, count: int, *, extra: int = 3) -> None:
        """Both clusters write rows with the keys 1..count (one transaction each), and ``extra``
        rows of keys only they write (which must replicate whatever the conflicts do)."""
        t0 = now()
        pub = self.publisher
        sides = {"first": pub.address(pub.primary), "second": self.address()}
        base = {"first": 1000, "second": 2000}
        for side, addr in sides.items():
            for k in [*range(1, count + 1), *range(base[side] + 1, base[side] + extra + 1)]:
                self._run(addr, f"INSERT INTO {CONFLICT_TABLE} (k, side) VALUES (%s, %s)", (k, side), timeout=5)
        self.history.add(ActionEvent(at=t0, end=now(), action="logical.write_same_keys", target="both clusters",
                                     outcome="ok", detail=f"keys 1..{count} on both, {extra} of their own each"))

    def _origin(self, d: _Direction) -> str:
        return str(self._one(d.subscriber_addr, "SELECT 'pg_' || oid FROM pg_subscription WHERE subname = %s",
                             (d.subscription,)))

    def _log_text(self, addr: str) -> str:
        """The server's log so far, read over SQL from where the last read ended (pg_read_file: one
        round trip, where a ``docker exec cat`` costs a process and a second on a loaded machine)."""
        buf = self._logs_read.setdefault(addr, [0, ""])
        while True:
            chunk = self._one(addr, "SELECT pg_read_file(%s, %s, 1048576, true)", (LOGFILE, buf[0]))
            if not chunk:
                return str(buf[1])
            buf[0] = int(buf[0]) + len(str(chunk).encode())
            buf[1] = str(buf[1]) + str(chunk)

    def _caught_up(self, d: _Direction, target: str) -> bool:
        return self._one(d.publisher_addr, "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                         "WHERE slot_name = %s", (target, d.subscription)) is True

    def resolve_conflicts(self, timeout: float = 60) -> ConflictReport:
        """Record every apply error and skip its remote transaction, until each subscription has
        applied everything its publisher had when this began; then compare the clusters' rows."""
        t0 = now()
        dirs = self._directions()
        origins = {d.subscription: self._origin(d) for d in dirs}
        targets = {d.subscription: str(self._one(d.publisher_addr, "SELECT pg_current_wal_lsn()::text")) for d in dirs}
        found: dict[str, list[str]] = {d.subscription: [] for d in dirs}

        def step() -> bool:
            for d in dirs:
                for e in apply_errors(self._log_text(d.subscriber_addr)):
                    if e.origin != origins[d.subscription] or not e.finish_lsn:
                        continue
                    if (d.subscription, e.finish_lsn) in self._skipped:
                        continue
                    self._run(d.subscriber_addr, psql.SQL("ALTER SUBSCRIPTION {} SKIP (lsn = {})").format(
                        psql.Identifier(d.subscription), psql.Literal(e.finish_lsn)).as_string())
                    self._skipped.add((d.subscription, e.finish_lsn))
                    found[d.subscription].append(key_value(e.key))
                    self.history.add(LogicalConflict(at=now(), subscription=d.subscription, subscriber=d.subscriber,
                                                     relation=e.relation, key=e.key, finish_lsn=e.finish_lsn,
                                                     error=e.error, resolution="skipped"))
            return all(self._caught_up(d, targets[d.subscription]) for d in dirs)

        caught_up = True
        try:
            wait_until(step, timeout=timeout, interval=0.2, what="both subscriptions past every conflict")
        except WaitTimeout:
            caught_up = False
        counts = {d.subscription: int(self._one(d.subscriber_addr, "SELECT apply_error_count FROM "
                                                "pg_stat_subscription_stats WHERE subname = %s",
                                                (d.subscription,)) or 0) for d in dirs}
        differ = differing_keys(self.rows(self.publisher.address(self.publisher.primary)), self.rows(self.address()))
        reported = sorted({k for keys in found.values() for k in keys}, key=lambda k: (len(k), k))
        report = ConflictReport(
            reported_keys=reported, by_subscription=found, apply_error_count=counts, differing_keys=differ,
            unreported=[k for k in differ if k not in reported], skipped_transactions=sum(len(v) for v in found.values()),
            resolution="each apply error's remote transaction skipped (ALTER SUBSCRIPTION ... SKIP): each side keeps "
                       "its own row for a conflicting key", caught_up=caught_up)
        self.conflicts = report
        self.history.add(ActionEvent(at=t0, end=now(), action="logical.conflicts", target="both clusters",
                                     outcome="ok" if caught_up else "failed",
                                     detail=f"{len(reported)} conflicting keys reported, {len(differ)} differ"))
        return report

    def rows(self, host: str) -> dict[str, object]:
        return {str(k): side for k, side in self._run(host, f"SELECT k, side FROM {CONFLICT_TABLE}")}

    # -- failover of the publisher -----------------------------------------------------------

    def follow_primary(self) -> str:
        """Point the subscription at the first cluster's primary now (after a failover)."""
        t0 = now()
        new = self.publisher.primary
        self._run(self.address(), psql.SQL("ALTER SUBSCRIPTION {} CONNECTION {}").format(
            psql.Identifier(FORWARD),
            psql.Literal(self.conninfo(new, FORWARD, hostaddr=self.publisher.address(new)))).as_string())
        # The worker reads its new connection string only between attempts; one still waiting on a
        # connect() to the dead publisher (libpq's asynchronous connect has no connect_timeout)
        # would keep at it for the kernel's SYN retries. Restart it, as an operator would.
        self._run(self.address(), "SELECT pg_terminate_backend(pid) FROM pg_stat_subscription WHERE subname = %s "
                                  "AND pid IS NOT NULL", (FORWARD,))
        slot = self._one(self.publisher.address(new), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                         (FORWARD,))
        detail = (f"{FORWARD} now connects to {new} (its apply worker restarted); its slot is "
                  f"{'there' if slot else 'missing'} on {new}")
        self.history.add(ActionEvent(at=t0, end=now(), action="logical.follow", target=new, outcome="ok",
                                     detail=detail))
        return detail

    def recreate(self, timeout: float = 60) -> None:
        """Drop the subscription (its slot is gone with the old primary) and subscribe again to the
        new primary, copying the tables anew (emptied first: the copy would collide with the rows)."""
        t0 = now()
        saddr = self.address()
        for q in (f"ALTER SUBSCRIPTION {FORWARD} DISABLE", f"ALTER SUBSCRIPTION {FORWARD} SET (slot_name = NONE)",
                  f"DROP SUBSCRIPTION {FORWARD}", f"TRUNCATE {', '.join(self.tables)}"):
            self._run(saddr, q)
        self._subscribe(saddr, FORWARD, self.publisher.primary, PUB_FIRST, copy_data=True)
        self._wait_synced(self._directions()[0], timeout)
        self.history.add(ActionEvent(at=t0, end=now(), action="logical.recreate", target=self.publisher.primary,
                                     outcome="ok", detail="subscription dropped and made again with copy_data"))

    def rows_after_failover(self) -> tuple[int, int, int]:
        """(first probe seq the new primary acknowledged, rows from it on on the new primary, on the replica)."""
        new = self.publisher.primary
        acked = [e.seq for e in self.history.of(ProbeOp)
                 if e.probe == "write" and e.outcome == "ok" and e.node == new]
        if not acked:
            raise SetupError(f"no probe write was acknowledged by {new} yet: start the write probe and fail over first")
        first = min(acked)
        table = self.env.probe.table
        on_primary = int(self._one(self.publisher.address(new), f"SELECT count(*) FROM {table} WHERE seq >= %s", (first,)))
        on_replica = int(self._one(self.address(), f"SELECT count(*) FROM {table} WHERE seq >= %s", (first,)))
        return first, on_primary, on_replica

    def expect_missing_after_failover(self, wait_s: float) -> str:
        """The replica received none of the rows the new primary took; the reason, for the report."""
        from time import sleep

        sleep(wait_s)  # a window in which rows would have arrived
        first, on_primary, on_replica = self.rows_after_failover()
        new = self.publisher.primary
        slot = self._one(self.publisher.address(new), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                         (FORWARD,))
        self.sample_lag()
        what = (f"{on_replica} of the {on_primary} rows written on {new} since the failover (probe seq >= {first}) "
                f"reached the logical replica; slot {FORWARD} is {'present' if slot else 'missing'} on {new}")
        self.after_failover.append(what)
        if on_replica:
            raise TargetMissed("rows after the failover", what, "none (the slot did not follow)")
        return what

    def expect_received_after_failover(self, timeout: float) -> str:
        def arrived() -> tuple[int, int, int] | None:
            first, on_primary, on_replica = self.rows_after_failover()
            return (first, on_primary, on_replica) if on_primary and on_replica >= on_primary else None

        try:
            first, on_primary, on_replica = wait_until(arrived, timeout=timeout, interval=0.2,
                                                       what="rows of the new primary on the logical replica")
        except WaitTimeout as exc:
            first, on_primary, on_replica = self.rows_after_failover()
            raise TargetMissed("rows after the failover", f"{on_replica} of {on_primary} arrived in {timeout:g} s",
                               "all") from exc
        self.sample_lag()
        what = f"all {on_primary} rows written on {self.publisher.primary} since the failover (seq >= {first}) arrived"
        self.after_failover.append(what)
        return what

    # -- the report --------------------------------------------------------------------------

    def result_section(self) -> LogicalSectionResult:
        fwd = [s.slot_lag_bytes for s in self.lags if s.subscription == FORWARD and s.slot_lag_bytes is not None]
        return LogicalSectionResult(
            mode=self.mode, pg_major=self.pg_major, publisher=self.publisher.primary, subscriber=SUBSCRIBER,
            subscriptions=self.subscriptions(), failover_slots=self.failover_slots, lag_samples=len(self.lags),
            last_lag_bytes=fwd[-1] if fwd else None, max_lag_bytes=max(fwd) if fwd else None,
            conflicts=self.conflicts, after_failover=self.after_failover)
