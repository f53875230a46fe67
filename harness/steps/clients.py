"""Steps of the client path: how the probes and the load reach the database, its faults, its numbers."""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.clients import checks
from harness.clients.part import use_client_path
from harness.drill import Drill
from harness.steps.types import parse


@given(parse("clients connect through HAProxy"))
def _(drill: Drill) -> None:
    use_client_path(drill, "haproxy")


@given(parse("clients connect through PgBouncer and HAProxy"))
@given(parse("clients connect through PgBouncer"))
def _(drill: Drill) -> None:
    use_client_path(drill, "pgbouncer+haproxy")


@given(parse("clients connect with a multi-host connection string"))
def _(drill: Drill) -> None:
    use_client_path(drill, "libpq")


@given(parse("clients connect directly to the primary"))
def _(drill: Drill) -> None:
    use_client_path(drill, "direct")


@given(parse('clients connect through the client path "{path}"'))
def _(drill: Drill, path: str) -> None:
    use_client_path(drill, path)


@given(parse("HAProxy checks every {interval:Duration} and marks a server down after {fall:d} failed checks"))
def _(drill: Drill, interval: float, fall: int) -> None:
    use_client_path(drill, haproxy={"inter_ms": round(interval * 1000), "fall": fall})


@given(parse("PgBouncer allows {size:d} server connections"))
def _(drill: Drill, size: int) -> None:
    use_client_path(drill, pgbouncer={"default_pool_size": size})


@when(parse("I kill HAProxy"))
def _(drill: Drill) -> None:
    checks.path_fault(drill, "kill", "haproxy")


@when(parse("I kill PgBouncer"))
def _(drill: Drill) -> None:
    checks.path_fault(drill, "kill", "pgbouncer")


@when(parse("I freeze HAProxy"))
def _(drill: Drill) -> None:
    checks.path_fault(drill, "freeze", "haproxy")


@when(parse("I freeze PgBouncer"))
def _(drill: Drill) -> None:
    checks.path_fault(drill, "freeze", "pgbouncer")


@when(parse("I restart PgBouncer"))
def _(drill: Drill) -> None:
    checks.path_fault(drill, "restart", "pgbouncer")


@when(parse("I restart HAProxy"))
def _(drill: Drill) -> None:
    checks.path_fault(drill, "restart", "haproxy")


@when(parse("HAProxy runs again"))
@when(parse("I start HAProxy again"))
@when(parse("I thaw HAProxy"))
def _(drill: Drill) -> None:
    checks.heal_component(drill, "haproxy")


@when(parse("PgBouncer runs again"))
@when(parse("I start PgBouncer again"))
@when(parse("I thaw PgBouncer"))
def _(drill: Drill) -> None:
    checks.heal_component(drill, "pgbouncer")


@when(parse("all server connections of PgBouncer are taken"))
def _(drill: Drill) -> None:
    checks.take_pool(drill)


@when(parse("the server connections of PgBouncer are given back"))
def _(drill: Drill) -> None:
    checks.heal_component(drill, "pgbouncer")


@then(parse("the write RTO through the client path is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    checks.require_path_rto(drill, limit)


@then(parse("the client path added at most {limit:Duration} to the write RTO"))
def _(drill: Drill, limit: float) -> None:
    checks.require_path_added(drill, limit)


@then(parse("the write RTO through the client path is at least {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    checks.require_path_rto(drill, limit, at_least=True)


@then(parse('the write RTO through the "{path}" path is under {limit:Duration}'))
def _(drill: Drill, path: str, limit: float) -> None:
    checks.require_path_rto(drill, limit, path=path)


@then(parse("the client path added at least {limit:Duration} to the write RTO"))
def _(drill: Drill, limit: float) -> None:
    checks.require_path_added(drill, limit, at_least=True)


@then(parse("the writes through the client path after the failover went to the new primary"))
@then(parse("the writes through the client path after the fault went to the primary"))
def _(drill: Drill) -> None:
    checks.require_writes_to_primary(drill)


@then(parse('the write downtime through the "{path}" path is under {limit:Duration}'))
def _(drill: Drill, path: str, limit: float) -> None:
    checks.require_path_downtime(drill, limit, path=path)
