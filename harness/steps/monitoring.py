"""Then steps about alerts and detection."""

from __future__ import annotations

from pytest_bdd import then, when

from harness.drill import Drill
from harness.monitor.expect import (
    change_setting,
    expect_alert,
    expect_no_alert,
    expect_resolved,
    maintenance_window,
    require_detection,
)
from harness.steps.types import parse


@when(parse('someone changes the setting "{name}" to "{value}" on {target:Target}'))
def _(drill: Drill, name: str, value: str, target: str) -> None:
    """ALTER SYSTEM a setting on the node and reload it."""
    change_setting(drill, target, name, value)


@when(parse("a maintenance window of {minutes:d} minutes is announced"))
def _(drill: Drill, minutes: int) -> None:
    """An info alert "maintenance window" on every node, as an operator would raise it."""
    maintenance_window(drill, minutes)


@then(parse('a {severity:Severity} alert "{name}" fires within {timeout:Duration}'))
@then(parse('an {severity:Severity} alert "{name}" fires within {timeout:Duration}'))
def _(drill: Drill, severity: str, name: str, timeout: float) -> None:
    """The alert fires with that severity within the timeout after the first fault."""
    expect_alert(drill, name, timeout, severity)


@then(parse('the alert "{name}" fires within {timeout:Duration}'))
def _(drill: Drill, name: str, timeout: float) -> None:
    """The alert fires within the timeout after the first fault."""
    expect_alert(drill, name, timeout)


@then(parse("no {severity:Severity} alert fires"))
def _(drill: Drill, severity: str) -> None:
    """No alert of that severity fired during the drill."""
    expect_no_alert(drill, severity)


@then(parse('the alert "{name}" resolves within {timeout:Duration}'))
def _(drill: Drill, name: str, timeout: float) -> None:
    """The firing alert resolves within the timeout."""
    expect_resolved(drill, name, timeout)


@then(parse("the detection time is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """From the fault to the first alert about a node it touched is under the limit."""
    require_detection(drill, limit)
