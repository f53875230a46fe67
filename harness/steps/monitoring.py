"""Then steps about alerts and detection."""

from __future__ import annotations

from pytest_bdd import then

from harness.drill import Drill
from harness.steps.types import parse


@then(parse('a {severity:Severity} alert "{name}" fires within {timeout:Duration}'))
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
