"""When steps that drive recovery, and plain waiting."""

from __future__ import annotations

from pytest_bdd import when

from harness.drill import Drill
from harness.steps.types import parse


@when(parse("the harness fails over to the most advanced replica"))
@when(parse("the harness fails over"))
def _(drill: Drill) -> None:
    """Promote the replica with the highest received LSN and repoint the others."""
    drill.failover()


@when(parse("I wait {duration:Duration}"))
@when(parse("I wait for {duration:Duration}"))
def _(drill: Drill, duration: float) -> None:
    """Let the drill run that long."""
    drill.wait(duration)
