"""Then steps about alerts and detection."""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.drill import Drill
from harness.steps.types import parse


@when(parse('someone changes the setting "{name}" to "{value}" on {target:Target}'))
def _(drill: Drill, name: str, value: str, target: str) -> None:
    drill.change_setting(target, name, value)


@when(parse("a maintenance window of {minutes:d} minutes is announced"))
def _(drill: Drill, minutes: int) -> None:
    drill.maintenance_window(minutes)


@then(parse('a {severity:Severity} alert "{name}" fires within {timeout:Duration}'))
@then(parse('an {severity:Severity} alert "{name}" fires within {timeout:Duration}'))
def _(drill: Drill, severity: str, name: str, timeout: float) -> None:
    drill.expect_alert(name, timeout, severity)


@then(parse('the alert "{name}" fires within {timeout:Duration}'))
def _(drill: Drill, name: str, timeout: float) -> None:
    drill.expect_alert(name, timeout)


@then(parse("no {severity:Severity} alert fires"))
def _(drill: Drill, severity: str) -> None:
    drill.expect_no_alert(severity)


@then(parse('the alert "{name}" resolves within {timeout:Duration}'))
def _(drill: Drill, name: str, timeout: float) -> None:
    drill.expect_resolved(name, timeout)


@then(parse("the detection time is under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    drill.require_detection(limit)


@given("alerts are evaluated by Prometheus")
def _(drill: Drill) -> None:
    drill.use_prometheus()
