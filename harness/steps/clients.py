"""Steps of the client path: how the probes and the load reach the database, its faults, its numbers."""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.clients import checks
from harness.clients.part import use_client_path
from harness.drill import Drill
from harness.steps.types import parse


@given(parse("clients connect through HAProxy"))
def _(drill: Drill) -> None:
    """The probes and the load connect through HAProxy's read-write listener."""
    use_client_path(drill, "haproxy")


@given(parse("clients connect through PgBouncer and HAProxy"))
@given(parse("clients connect through PgBouncer"))
def _(drill: Drill) -> None:
    """The probes and the load connect through PgBouncer, which pools to HAProxy."""
    use_client_path(drill, "pgbouncer+haproxy")


@given(parse("clients connect through PgBouncer in front of the primary"))
@given(parse("clients connect through PgBouncer alone"))
def _(drill: Drill) -> None:
    """The probes and the load connect through PgBouncer pooling to the primary itself; a failover repoints it."""
    use_client_path(drill, "pgbouncer")


@given(parse("clients connect with a multi-host connection string"))
def _(drill: Drill) -> None:
    """The probes and the load connect with one libpq string listing every node (target_session_attrs=read-write)."""
    use_client_path(drill, "libpq")


@given(parse("clients connect directly to the primary"))
def _(drill: Drill) -> None:
    """The probes go straight to the primary the harness knows (the ideal)."""
    use_client_path(drill, "direct")


@given(parse('clients connect through the client path "{path}"'))
def _(drill: Drill, path: str) -> None:
    """Choose the client path by name: direct, libpq, haproxy, pgbouncer+haproxy or pgbouncer."""
    use_client_path(drill, path)


@given(parse("HAProxy checks every {interval:Duration} and marks a server down after {fall:d} failed checks"))
def _(drill: Drill, interval: float, fall: int) -> None:
    """HAProxy's check interval and the failed checks that mark a server down."""
    use_client_path(drill, haproxy={"inter_ms": round(interval * 1000), "fall": fall})


@given(parse("PgBouncer allows {size:d} server connections"))
def _(drill: Drill, size: int) -> None:
    """PgBouncer's pool size (server connections per pool)."""
    use_client_path(drill, pgbouncer={"default_pool_size": size})


@when(parse("I kill HAProxy"))
def _(drill: Drill) -> None:
    """SIGKILL HAProxy's container (healed by starting it again)."""
    checks.path_fault(drill, "kill", "haproxy")


@when(parse("I kill PgBouncer"))
def _(drill: Drill) -> None:
    """SIGKILL PgBouncer's container (healed by starting it again)."""
    checks.path_fault(drill, "kill", "pgbouncer")


@when(parse("I freeze HAProxy"))
def _(drill: Drill) -> None:
    """Freeze HAProxy's container (docker pause)."""
    checks.path_fault(drill, "freeze", "haproxy")


@when(parse("I freeze PgBouncer"))
def _(drill: Drill) -> None:
    """Freeze PgBouncer's container (docker pause)."""
    checks.path_fault(drill, "freeze", "pgbouncer")


@when(parse("I restart PgBouncer"))
def _(drill: Drill) -> None:
    """Restart PgBouncer: every session through it is cut."""
    checks.path_fault(drill, "restart", "pgbouncer")


@when(parse("I restart HAProxy"))
def _(drill: Drill) -> None:
    """Restart HAProxy: every session through it is cut."""
    checks.path_fault(drill, "restart", "haproxy")


@when(parse("HAProxy runs again"))
@when(parse("I start HAProxy again"))
@when(parse("I thaw HAProxy"))
def _(drill: Drill) -> None:
    """Undo the fault on HAProxy (start or thaw it)."""
    checks.heal_component(drill, "haproxy")


@when(parse("PgBouncer runs again"))
@when(parse("I start PgBouncer again"))
@when(parse("I thaw PgBouncer"))
def _(drill: Drill) -> None:
    """Undo the fault on PgBouncer (start or thaw it, give its pool back)."""
    checks.heal_component(drill, "pgbouncer")


@when(parse("all server connections of PgBouncer are taken"))
def _(drill: Drill) -> None:
    """Sessions idle in a transaction take every server connection of PgBouncer's pool."""
    checks.take_pool(drill)


@when(parse("the server connections of PgBouncer are given back"))
def _(drill: Drill) -> None:
    """Undo the fault on PgBouncer (start or thaw it, give its pool back)."""
    checks.heal_component(drill, "pgbouncer")


@then(parse("the write RTO through the client path is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """The write RTO through the drill's client path is under the limit."""
    checks.require_path_rto(drill, limit)


@then(parse("the client path added at most {limit:Duration} to the write RTO"))
def _(drill: Drill, limit: float) -> None:
    """The path's write RTO minus the ideal's beside it is at most the limit."""
    checks.require_path_added(drill, limit)


@then(parse("the write RTO through the client path is at least {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """The write RTO through the drill's client path is at least the limit."""
    checks.require_path_rto(drill, limit, at_least=True)


@then(parse('the write RTO through the "{path}" path is under {limit:Duration}'))
def _(drill: Drill, path: str, limit: float) -> None:
    """The write RTO through the named path (e.g. the ideal, direct) is under the limit."""
    checks.require_path_rto(drill, limit, path=path)


@then(parse("the client path added at least {limit:Duration} to the write RTO"))
def _(drill: Drill, limit: float) -> None:
    """The path's write RTO minus the ideal's beside it is at least the limit."""
    checks.require_path_added(drill, limit, at_least=True)


@then(parse("the writes through the client path after the failover went to the new primary"))
@then(parse("the writes through the client path after the fault went to the primary"))
def _(drill: Drill) -> None:
    """Every write the path acknowledged after the fault was run by the primary (each names its server)."""
    checks.require_writes_to_primary(drill)


@then(parse('the write downtime through the "{path}" path is under {limit:Duration}'))
def _(drill: Drill, path: str, limit: float) -> None:
    """The total write outage through the named path is under the limit."""
    checks.require_path_downtime(drill, limit, path=path)


@then(parse("the client path sent writes to the deposed primary"))
def _(drill: Drill) -> None:
    """After another node became primary, the path still sent acknowledged writes to the old one."""
    checks.require_writes_to_deposed(drill, expected=True)


@then(parse("the client path sent no write to the deposed primary"))
def _(drill: Drill) -> None:
    """After another node became primary, the path sent no acknowledged write to the old one."""
    checks.require_writes_to_deposed(drill, expected=False)


@then(parse("the writes the client path sent to the deposed primary are on it and not on the new primary"))
def _(drill: Drill) -> None:
    """Read back on each node with connections of its own: those writes are on the deposed primary only."""
    checks.require_deposed_writes_only_there(drill)
