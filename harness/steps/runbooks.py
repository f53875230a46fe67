"""Steps that follow runbooks (runbooks/*.yaml) as the recovery of a drill."""

from __future__ import annotations

from pytest_bdd import given, then, when

from harness.drill import Drill
from harness.errors import TargetMissed
from harness.history import ActionEvent
from harness.runbooks import load_runbook
from harness.runbooks.runner import follow
from harness.steps.types import parse


@given(parse('the on-call engineer answers "{answer}"'))
def _(drill: Drill, answer: str) -> None:
    """A scripted answer to the runbook's next question."""
    drill.runbook_answers.append(answer)


@when(parse('the on-call engineer follows runbook "{name}"'))
@when(parse('I follow runbook "{name}"'))
def _(drill: Drill, name: str) -> None:
    """Run the steps of runbooks/NAME.yaml as the drill's recovery, each journaled."""
    follow(drill, load_runbook(name), drill.runbook_answers)


def _steps(drill: Drill) -> list[ActionEvent]:
    return [a for a in drill.history.of(ActionEvent) if a.action.startswith("runbook.step")]


@then(parse("every runbook step succeeded"))
@then(parse("every runbook step completed"))
def _(drill: Drill) -> None:
    """Every step of the runbook that ran ended ok."""
    failed = [a for a in _steps(drill) if a.outcome != "ok"]
    if failed or not _steps(drill):
        what = f"step {failed[0].target!r}: {failed[0].detail}" if failed else "no runbook ran"
        raise TargetMissed("runbook", what, "every step succeeds")


@then(parse("the runbook took under {limit:Duration}"))
def _(drill: Drill, limit: float) -> None:
    """From the runbook's first step to the end of its last is under the limit."""
    steps = _steps(drill)
    if not steps:
        raise TargetMissed("runbook", "no runbook ran", f"under {limit:g} s")
    took = steps[-1].end.t - steps[0].at.t
    slowest = max(steps, key=lambda a: a.end.t - a.at.t)
    drill.history.note("runbook.took", f"{took:.3f} s; slowest step {slowest.target!r} "
                                       f"{slowest.end.t - slowest.at.t:.3f} s")
    if took >= limit:
        raise TargetMissed("runbook duration", f"{took:.3f} s (slowest: {slowest.target})", f"< {limit:g} s")
