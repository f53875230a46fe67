"""Game-day steps: the steady-state hypothesis, stop conditions, latency during the fault."""

from __future__ import annotations

from pytest_bdd import given, then

from harness.checkers.steady import SteadyState
from harness.drill import Drill
from harness.gameday.expect import expect_steady_again, require_fault_latency
from harness.workload.expect import require_load_after
from harness.gameday.guards import AbortCondition
from harness.steps.types import parse

_SIZE = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


@given(parse("the steady state is write success above {success:Number} % and p95 latency under {p95:Duration}"))
def _(drill: Drill, success: float, p95: float) -> None:
    """The steady-state hypothesis, checked before the first fault and again after recovery."""
    drill.declare_steady_state(SteadyState(min_write_success=success / 100, max_p95_ms=p95 * 1000))


@given(parse("the steady state is write success above {success:Number} %"))
def _(drill: Drill, success: float) -> None:
    """A steady state of write success alone."""
    drill.declare_steady_state(SteadyState(min_write_success=success / 100))


@given(parse("the drill aborts if availability stays below {percent:Percent} % for {duration:Duration}"))
def _(drill: Drill, percent: float, duration: float) -> None:
    """A stop condition: heal everything and abort the drill when it holds."""
    drill.add_abort_condition(AbortCondition("availability", percent / 100, duration))


@given(parse("the drill aborts if replication lag exceeds {amount:Number} {unit:Unit}"))
def _(drill: Drill, amount: float, unit: str) -> None:
    """A stop condition on the replication lag."""
    drill.add_abort_condition(AbortCondition("lag_bytes", amount * _SIZE[unit.lower()], 0))


@given(parse("the drill aborts if disk use exceeds {percent:Percent} %"))
def _(drill: Drill, percent: float) -> None:
    """A stop condition on the fullest disk's Use%."""
    drill.add_abort_condition(AbortCondition("disk_max_pct", percent, 0))


@then(parse("the steady state holds again within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """After recovery the declared steady state is met again within the timeout."""
    expect_steady_again(drill, timeout)


@then(parse("p{pct:d} write latency during the fault is under {limit:Duration}"))
def _(drill: Drill, pct: int, limit: float) -> None:
    """That percentile of write latency between the fault and recovery is under the limit."""
    require_fault_latency(drill, pct, limit)


@given(parse('a "{profile}" load of {users:d} users ramped up over {ramp:Duration}'))
def _(drill: Drill, profile: str, users: int, ramp: float) -> None:
    """A Locust load profile of environments/load/ with that many users."""
    drill.start_load(profile, users, ramp)


@then(parse("the load's error rate after recovery is under {percent:Percent} %"))
def _(drill: Drill, percent: float) -> None:
    """The load's failed requests after recovery are under that share."""
    require_load_after(drill, max_error_rate=percent / 100)


@then(parse("p{pct:d} load latency after recovery is under {limit:Duration}"))
def _(drill: Drill, pct: int, limit: float) -> None:
    """That percentile of the load's latency after recovery is under the limit."""
    require_load_after(drill, percentile=pct, max_latency_s=limit)
