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
    change_setting(drill, target, name, value)


@when(parse("a maintenance window of {minutes:d} minutes is announced"))
def _(drill: Drill, minutes: int) -> None:
    maintenance_window(drill, minutes)


@then(parse('a {severity:Severity} alert "{name}" fires within {timeout:Duration}'))
@then(parse('an {severity:Severity} alert "{name}" fires within {timeout:Duration}'))
def _(drill: Drill, severity: str, name: str, timeout: float) -> None:
    expect_alert(drill, name, timeout, severity)


@then(parse('the alert "{name}" fires within {timeout:Duration}'))
def _(drill: Drill, name: str, timeout: float) -> None:
    expect_alert(drill, name, timeout)


@then(parse("no {severity:Severity} alert fires"))
def _(drill: Drill, severity: str) -> None:
    expect_no_alert(drill, severity)


@then(parse('the alert "{name}" resolves within {timeout:Duration}'))
def _(drill: Drill, name: str, timeout: float) -> None:
    expect_resolved(drill, name, timeout)


@then(parse("the detection time is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    require_detection(drill, limit)
