"""Steps of delayed and cascading replicas (harness.replicas): set-up, the delayed-replica recovery, checks."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pytest_bdd import given, then, when

from harness.drill import Drill
from harness.environment import ReplicaSettings, TopologySpec
from harness.errors import SetupError, TargetMissed, WaitTimeout
from harness.replicas.delayed import recover_table
from harness.replicas.measure import delayed_recovery
from harness.replicas.tree import observe
from harness.steps.types import parse
from harness.topology.base import NotAvailable
from harness.topology.pg import lsn_int, sql, sql_one
from harness.wait import wait_until

__all__ = ["set_replica"]


def set_replica(drill: Drill, replica: int, **changes: Any) -> None:
    """Change one replica's settings (validated: one line names a missing replica, a cycle, a bad delay)."""
    kind = drill.topology_kind
    if kind != "streaming":
        raise NotAvailable(f"not available on a {kind} topology: per-replica delays and cascading "
                           "(they are streaming-replication settings)")
    spec = drill.env.topology
    settings = {n: s.model_dump() for n, s in spec.replica_settings.items()}
    settings[replica] = ReplicaSettings.model_validate(settings.get(replica, {}) | changes).model_dump()
    try:
        TopologySpec.model_validate(spec.model_dump() | {"replica_settings": settings})
    except ValidationError as exc:
        msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise SetupError(msg) from None
    drill.configure(replica_settings=settings)


@given(parse("replica {replica:d} applies WAL {delay:Duration} late"))
def _(drill: Drill, replica: int, delay: float) -> None:
    """recovery_min_apply_delay on the replica: it receives WAL at once and applies it that late."""
    if delay <= 0:
        raise SetupError(f"replica {replica}: an apply delay must be more than 0")
    set_replica(drill, replica, apply_delay=f"{delay:g} s")


@given(parse("replica {replica:d} streams from replica {upstream:d}"))
def _(drill: Drill, replica: int, upstream: int) -> None:
    """Cascading replication: the replica's primary_conninfo points at the other replica."""
    set_replica(drill, replica, streams_from=upstream)


@when(parse('I recover table "{table}" from the delayed replica'))
def _(drill: Drill, table: str) -> None:
    """Pause replay on the delayed replica, roll it forward to just before the drop, copy the table back to the primary."""
    recover_table(drill.cluster, table)


@then(parse("{replica:Target} streams from {upstream:Target} within {timeout:Duration}"))
def _(drill: Drill, replica: str, upstream: str, timeout: float) -> None:
    """The replica's WAL receiver streams from that node, and that node's pg_stat_replication lists it."""
    c = drill.cluster
    a, b = c.resolve(replica), c.resolve(upstream)

    def linked() -> bool:
        return any(x.replica == a and x.receiver_from == b and x.receiver_status == "streaming" and x.sender == b
                   for x in observe(c))

    try:
        wait_until(linked, timeout=timeout, interval=0.1, what=f"{a} streaming from {b}")
    except WaitTimeout:
        seen = next((x for x in observe(c) if x.replica == a), None)
        got = ("not a replica" if seen is None else
               f"its WAL receiver: {seen.receiver_from or 'none'} ({seen.receiver_status or 'no receiver'}), "
               f"listed by {seen.sender or 'no sender'}")
        raise TargetMissed(f"{a}'s upstream", got, f"{b}, within {timeout:g} s") from None


@then(parse("WAL replay on {target:Target} stands still for {duration:Duration}"))
def _(drill: Drill, target: str, duration: float) -> None:
    """The replica's replay position does not move for that long while the primary's WAL grows."""
    c = drill.cluster
    node = c.resolve(target)
    primary = c.address(c.primary)
    start = str(sql_one(c.address(node), "SELECT pg_last_wal_replay_lsn()::text"))
    written = str(sql_one(primary, "SELECT pg_current_wal_lsn()::text"))
    drill.wait(duration)
    end = str(sql_one(c.address(node), "SELECT pg_last_wal_replay_lsn()::text"))
    now_at = str(sql_one(primary, "SELECT pg_current_wal_lsn()::text"))
    if end != start:
        raise TargetMissed(f"WAL replay on {node}", f"moved from {start} to {end}", f"still for {duration:g} s")
    if lsn_int(now_at) <= lsn_int(written):
        raise SetupError(f"the primary wrote no WAL in {duration:g} s ({written}): nothing for {node} to fall behind on")


@then(parse('table "{table}" has {rows:d} rows on {target:Target}'))
def _(drill: Drill, table: str, rows: int, target: str) -> None:
    """The table exists on the node and holds exactly that many rows."""
    from harness.faults.postgres import table_exists

    c = drill.cluster
    node = c.resolve(target)
    if not table_exists(c, node, table):
        raise TargetMissed(f"table {table} on {node}", "absent", f"{rows} rows")
    got = int(sql(c.address(node), f"SELECT count(*) FROM {table}")[0][0])
    if got != rows:
        raise TargetMissed(f"rows of {table} on {node}", str(got), str(rows))


@then(parse("the recovery from the delayed replica took under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """From the decision to the table back on the primary (phases in the replicas section) is under the limit."""
    r = delayed_recovery(drill.history)
    if r is None:
        raise SetupError('no recovery from a delayed replica ran (When I recover table "..." from the delayed replica)')
    if r.total_s is None or r.total_s >= limit:
        got = "never finished" if r.total_s is None else f"{r.total_s:.2f} s ({r.phases_text()})"
        raise TargetMissed("recovery from the delayed replica", got, f"< {limit:g} s")
