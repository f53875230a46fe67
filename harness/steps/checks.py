"""Then steps: states awaited with a timeout, and numbers held against targets (and the one
Given that defines what an outage is, which those numbers are measured by)."""

from __future__ import annotations

from pytest_bdd import given, then

from harness.drill import Drill
from harness.steps.types import parse


@given(parse("an outage is any {threshold:Duration} without an acknowledged write"))
def _(drill: Drill, threshold: float) -> None:
    """Set the outage threshold: a longer span without a surviving acknowledged write is an outage."""
    drill.set_outage_threshold(threshold)


@then(parse("the cluster has exactly one primary within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """Exactly one writable node, the one the harness promoted."""
    drill.expect_one_primary(timeout)


@then(parse("all replicas are streaming from the primary within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """Streaming and caught up with the primary (nodes a fault took down and nothing brought back are left out)."""
    drill.expect_streaming(timeout)


@then(parse("the write RTO is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """From the fault to the end of the write outage it caused is under the limit (the worst fault)."""
    drill.require(max_rto_write_s=limit)


@then(parse("the read RTO is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """From the fault to the end of the read outage it caused is under the limit (the worst fault)."""
    drill.require(max_rto_read_s=limit)


@then(parse("no acknowledged write is lost"))
@then(parse("no acknowledged writes are lost"))
def _(drill: Drill) -> None:
    """Every write the probe saw committed is in the final read."""
    drill.require(max_lost_writes=0)


@then(parse("at most {count:d} acknowledged writes are lost"))
@then(parse("at most {count:d} acknowledged write is lost"))
def _(drill: Drill, count: int) -> None:
    """At most that many committed probe writes are missing from the final read."""
    drill.require(max_lost_writes=count)


@then(parse("the RPO is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """The span of lost data (last surviving to last lost acknowledged write) is under the limit."""
    drill.require(max_rpo_s=limit)


@then(parse("the availability is at least {percent:Percent} %"))
@then(parse("the availability is at least {percent:Percent}%"))
def _(drill: Drill, percent: float) -> None:
    """1 - downtime / window length over the drill is at least that share."""
    drill.require(min_availability=percent / 100)


@then(parse("the downtime is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """The total length of the outages in the window is under the limit."""
    drill.require(max_downtime_s=limit)


@then(parse("the drill used at most {percent:Percent} % of the monthly error budget"))
@then(parse("the drill used at most {percent:Percent}% of the monthly error budget"))
@then(parse("the drill used at most {percent:Percent} % of the error budget"))
def _(drill: Drill, percent: float) -> None:
    """The downtime is at most this share of the SLO's error budget (99.9 % over 30 days: 2592 s)."""
    drill.require(max_error_budget_used=percent / 100)
