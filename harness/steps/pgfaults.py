"""Steps of freezes, PostgreSQL-specific failures and fault schedules.

Each step delegates to :mod:`harness.faults.freeze`, :mod:`harness.faults.postgres` or
:mod:`harness.faults.schedule`. Sizes are parameters ({size:Size}: "1 MB", "64MB", "512 kB",
"2 GB"; kB, MB and GB are powers of 1024, as in PostgreSQL's own settings).

The pause/freeze steps use ``docker pause`` (cgroup freezer: the whole host stops); "freeze
PostgreSQL on ..." uses SIGSTOP of the postmaster and its children (the host still answers).
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_bdd import given, then, when

from harness.drill import Drill
from harness.errors import SetupError, TargetMissed, WaitTimeout
from harness.faults import Fault
from harness.faults.freeze import FREEZE_FAULTS, PauseNode, SigstopProcesses
from harness.faults.postgres import (
    AbandonedSlot,
    BreakArchiving,
    CorruptPage,
    DropTable,
    PauseReplay,
    archive_settings,
    archiver_stats,
    create_table,
    enable_checksums,
    format_size,
    generate_wal,
    read_table,
    recovery_targets,
    replication_lag_bytes,
    table_exists,
    wal_retention,
    watch_metric,
)
from harness.faults.schedule import (
    cycle_recoveries,
    heal_and_converge,
    parse_action,
    plan_cycles,
    plan_random,
    run_schedule,
)
from harness.history import MetricReading, now
from harness.steps.types import parse
from harness.units import parse_size
from harness.wait import wait_until

__all__ = ["parse_size"]  # re-exported: it lives in harness.units


def _active(drill: Drill, node: str, names: tuple[str, ...]) -> list[Fault]:
    return [f for f in drill.faults.active if f.target == node and f.name in names]


def _heal_active(drill: Drill, role: str, names: tuple[str, ...], what: str) -> None:
    node = drill.target(role)
    faults = _active(drill, node, names)
    if not faults:
        raise SetupError(f"nothing to undo on {node}: no active {what} there")
    for fault in reversed(faults):
        drill.faults.heal(fault)


# -- freezes -----------------------------------------------------------------------------------


@when(parse("I pause {target:Target} for {duration:Duration}"))
@when(parse("I freeze {target:Target} for {duration:Duration}"))
def _(drill: Drill, target: str, duration: float) -> None:
    """Freeze the whole node (docker pause); it thaws after the duration while later steps run."""
    fault = drill.apply(PauseNode(drill.cluster, drill.target(target)))
    drill.faults.heal_after(fault, duration)  # later steps run while it is frozen


@when(parse("I pause {target:Target}"))
@when(parse("I freeze {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Freeze the whole node (docker pause) until healed."""
    drill.apply(PauseNode(drill.cluster, drill.target(target)))


@when(parse("I freeze PostgreSQL on {target:Target} for {duration:Duration}"))
def _(drill: Drill, target: str, duration: float) -> None:
    """SIGSTOP every PostgreSQL process of the node; SIGCONT after the duration."""
    fault = drill.apply(SigstopProcesses(drill.cluster, drill.target(target)))
    drill.faults.heal_after(fault, duration)


@when(parse("I freeze PostgreSQL on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """SIGSTOP every PostgreSQL process of the node until thawed."""
    drill.apply(SigstopProcesses(drill.cluster, drill.target(target)))


@when(parse("I freeze the WAL receiver on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """SIGSTOP only the walreceiver of a replica."""
    drill.apply(SigstopProcesses(drill.cluster, drill.target(target), "walreceiver"))


@when(parse("I thaw {target:Target}"))
@when(parse("I unpause {target:Target}"))
@when(parse("I thaw PostgreSQL on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Undo the node's freezes and pauses."""
    _heal_active(drill, target, FREEZE_FAULTS, "freeze")


# -- WAL replay, archiving, slots --------------------------------------------------------------


@when(parse("I pause WAL replay on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """pg_wal_replay_pause() on a replica: it receives WAL but stops applying it."""
    drill.apply(PauseReplay(drill.cluster, drill.target(target)))


@when(parse("I resume WAL replay on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Resume WAL replay on the replica."""
    _heal_active(drill, target, (PauseReplay.name,), "replay pause")


@given(parse("WAL archiving is enabled"))
def _(drill: Drill) -> None:
    """archive_mode on from the first start, copying WAL to a local archive."""
    settings = {**drill.env.topology.settings, **archive_settings()}
    drill.configure(settings=settings)


@when(parse("I break WAL archiving on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Make archive_command fail on the node."""
    drill.apply(BreakArchiving(drill.cluster, drill.target(target)))


@when(parse("I repair WAL archiving on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Undo the archiving failure on the node."""
    _heal_active(drill, target, (BreakArchiving.name,), "archiving failure")


@when(parse("a replication slot on {target:Target} is abandoned"))
@when(parse("I abandon a replication slot on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Create a physical slot nobody consumes: WAL piles up behind it."""
    drill.apply(AbandonedSlot(drill.cluster, drill.target(target)))


@when(parse("I generate {size:Size} of WAL on {target:Target}"))
def _(drill: Drill, size: int, target: str) -> None:
    """Write that much WAL on the node."""
    generate_wal(drill.cluster, drill.target(target), size)


def _watch(drill: Drill, what: str, label: str, node: str, sample: Callable[[], int | None], size: int,
           timeout: float, *, below: bool, interval: float = 0.25) -> None:
    crossed, samples = watch_metric(drill.history, what, node, sample, threshold=size, timeout=timeout,
                                    interval=interval, below=below)
    if crossed is None:
        if not samples:
            got = "no sample"
        elif below:
            got = f"never under; at least {format_size(min(s.value for s in samples))} ({len(samples)} samples)"
        else:
            got = f"at most {format_size(max(s.value for s in samples))} ({len(samples)} samples)"
        side = "<" if below else ">"
        raise TargetMissed(f"{label} on {node}", got, f"{side} {format_size(size)} within {timeout:g} s")


def _lag(drill: Drill, target: str, size: int, timeout: float, *, below: bool) -> None:
    node = drill.target(target)
    _watch(drill, "replication_lag_bytes", "replication lag", node,
           lambda: replication_lag_bytes(drill.cluster, node), size, timeout, below=below)


def _retained(drill: Drill, target: str, size: int, timeout: float, *, below: bool) -> None:
    node = drill.target(target)

    def sample() -> int:
        r = wal_retention(drill.cluster, node)
        # pg_wal's size on disk is recorded beside it, for the report.
        drill.history.add(MetricReading(at=now(), metric="pg_wal_bytes", node=node, value=r.pg_wal_bytes))
        return r.retained_bytes

    _watch(drill, "wal_retained_bytes", "WAL retained", node, sample, size, timeout, below=below, interval=0.5)


@then(parse("replication lag on {target:Target} exceeds {size:Size} within {timeout:Duration}"))
def _(drill: Drill, target: str, size: int, timeout: float) -> None:
    """The replica's replication lag, sampled, crosses that size within the timeout."""
    _lag(drill, target, size, timeout, below=False)


@then(parse("replication lag on {target:Target} is below {size:Size} within {timeout:Duration}"))
def _(drill: Drill, target: str, size: int, timeout: float) -> None:
    """The replica's replication lag, sampled, drops under that size within the timeout."""
    _lag(drill, target, size, timeout, below=True)


@then(parse("WAL retained on {target:Target} exceeds {size:Size} within {timeout:Duration}"))
def _(drill: Drill, target: str, size: int, timeout: float) -> None:
    """The WAL the node keeps (slots, wal_keep_size) crosses that size within the timeout."""
    _retained(drill, target, size, timeout, below=False)


@then(parse("WAL retained on {target:Target} is below {size:Size} within {timeout:Duration}"))
def _(drill: Drill, target: str, size: int, timeout: float) -> None:
    """The WAL the node keeps drops under that size within the timeout."""
    _retained(drill, target, size, timeout, below=True)


@then(parse("WAL archiving on {target:Target} fails within {timeout:Duration}"))
def _(drill: Drill, target: str, timeout: float) -> None:
    """pg_stat_archiver's failed count on the node grows within the timeout."""
    node = drill.target(target)
    broken = [f for f in _active(drill, node, (BreakArchiving.name,)) if isinstance(f, BreakArchiving)]
    base = broken[0].baseline.failed_count if broken and broken[0].baseline else 0
    crossed, samples = watch_metric(drill.history, "archive_failed_count", node,
                                    lambda: archiver_stats(drill.cluster, node).failed_count, threshold=base,
                                    timeout=timeout, interval=0.5)
    if crossed is None:
        raise TargetMissed(f"failed archive attempts on {node}", f"none after {len(samples)} samples",
                           f"more than {base} within {timeout:g} s")


# -- data pages and tables ---------------------------------------------------------------------


@given(parse("data checksums are enabled on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Data checksums on the node (stop, pg_checksums --enable, start) unless already on."""
    enable_checksums(drill.cluster, drill.target(target))


@given(parse('a table "{table}" with {rows:d} rows'))
def _(drill: Drill, table: str, rows: int) -> None:
    """Create a table on the primary filled with that many rows."""
    create_table(drill.cluster, table, rows)


@when(parse('I corrupt a data page of table "{table}" on {target:Target}'))
def _(drill: Drill, table: str, target: str) -> None:
    """Flip bytes in the middle of one data block of the table on disk."""
    drill.apply(CorruptPage(drill.cluster, drill.target(target), table))


@when(parse('someone drops table "{table}" on {target:Target}'))
@when(parse('I drop table "{table}" on {target:Target}'))
def _(drill: Drill, table: str, target: str) -> None:
    """Drop the table, journaling its transaction id and LSN as recovery targets."""
    drill.apply(DropTable(drill.cluster, drill.target(target), table))


@then(parse('reading table "{table}" on {target:Target} fails with a checksum error'))
def _(drill: Drill, table: str, target: str) -> None:
    """A full read of the table reports an invalid page."""
    r = read_table(drill.cluster, drill.target(target), table)
    if not r.checksum_error:
        got = f"{r.rows} rows read without error" if r.ok else f"a different error: [{r.sqlstate}] {r.error}"
        raise TargetMissed(f"corruption detection on {table}", got, "a checksum error (invalid page)")


@then(parse('reading table "{table}" on {target:Target} succeeds'))
def _(drill: Drill, table: str, target: str) -> None:
    """Every row of the table can be read on the node."""
    r = read_table(drill.cluster, drill.target(target), table)
    if not r.ok:
        raise TargetMissed(f"reading {table}", f"[{r.sqlstate}] {r.error}", "every row readable")


@then(parse('table "{table}" is gone from {target:Target} within {timeout:Duration}'))
def _(drill: Drill, table: str, target: str, timeout: float) -> None:
    """The table no longer exists on the node within the timeout."""
    node = drill.target(target)
    try:
        wait_until(lambda: not table_exists(drill.cluster, node, table), timeout=timeout, interval=0.1,
                   what=f"table {table} to be gone from {node}")
    except WaitTimeout as exc:
        raise TargetMissed(f"table {table} on {node}", "still there", f"gone within {timeout:g} s") from exc


@then(parse('the journal holds a recovery target before the drop of table "{table}"'))
def _(drill: Drill, table: str) -> None:
    """The drop of the table left its transaction id and LSN in the journal."""
    found = [t for t in recovery_targets(drill.history) if t.table == table]
    if not found or not found[-1].lsn_before:
        raise SetupError(f"no recovery target for the drop of {table} in the journal")


@then(parse("the write RTO is between {low:Number} and {high:Number} seconds"))
def _(drill: Drill, low: float, high: float) -> None:
    """The write RTO is under the upper bound, and at least the lower one (the fault took effect)."""
    # The upper bound is a target like any other; the lower one proves the fault took effect.
    m = drill.require(max_rto_write_s=high)
    if m.rto_write_s is None or m.rto_write_s < low:
        raise TargetMissed("write RTO", "not measured" if m.rto_write_s is None else f"{m.rto_write_s:.2f} s",
                           f"between {low:g} and {high:g} s (the fault did not take effect as long as asked)")


# -- schedules ---------------------------------------------------------------------------------


@when(parse('I run {cycles:d} cycles of "{action}" every {period:Duration}'))
def _(drill: Drill, cycles: int, action: str, period: float) -> None:
    """Repeat a fault ("kill the primary") that many times, healing and converging between cycles."""
    run_schedule(drill, plan_cycles(parse_action(action), cycles, period))


@when(parse("I run a random fault schedule with seed {seed:d} for {duration:Duration}"))
def _(drill: Drill, seed: int, duration: float) -> None:
    """A seeded random schedule of faults over that duration; the same seed plays the same schedule."""
    replicas = drill.env.topology.replicas
    run_schedule(drill, plan_random(seed, duration, replicas=replicas))


@when(parse("I heal all faults"))
def _(drill: Drill) -> None:
    """Heal every active fault and wait for the cluster to converge."""
    heal_and_converge(drill)


@then(parse("every cycle recovered within {limit:Duration}"))
@then(parse("every cycle recovers within {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """Each cycle of the schedule recovered writes within the limit."""
    cycles = cycle_recoveries(drill.history)
    if not cycles:
        raise SetupError("no fault schedule ran in this scenario")
    listed = ", ".join(f"#{c.index} " + ("n/a" if c.write_rto_s is None else f"{c.write_rto_s:.2f} s")
                       for c in cycles)
    drill.history.note("schedule.recoveries", listed)
    bad = [c for c in cycles if c.outcome != "ok" or c.write_rto_s is None or c.write_rto_s >= limit]
    if bad:
        b = bad[0]
        raise TargetMissed(f"recovery of cycle {b.index} ({b.action})", f"{listed}; {b.reason}",
                           f"every cycle under {limit:g} s")


@then(parse("the MTTR over the cycles is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """The mean write recovery time over the schedule's cycles is under the limit."""
    values = [c.write_rto_s for c in cycle_recoveries(drill.history)]
    got = [v for v in values if v is not None]
    if not values or len(got) != len(values):
        raise TargetMissed("MTTR", f"not measured for every cycle ({values})", f"< {limit:g} s")
    mttr = sum(got) / len(got)
    drill.history.note("mttr", f"{mttr:.3f} s over {len(got)} cycles: " + ", ".join(f"{v:.2f}" for v in got))
    if mttr >= limit:
        raise TargetMissed("MTTR", f"{mttr:.2f} s (cycles: {', '.join(f'{v:.2f}' for v in got)})", f"< {limit:g} s")
