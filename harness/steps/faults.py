"""When steps that inject faults; targets are roles resolved at injection time."""

from __future__ import annotations

from pytest_bdd import when

from harness.drill import Drill
from harness.steps.types import parse


@when(parse("I kill {target:Target}"))
@when(parse("I crash {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """The whole node crashes: SIGKILL to every process (docker kill)."""
    drill.inject("kill", target)


@when(parse("I kill the postmaster on {target:Target}"))
@when(parse("I kill the postmaster of {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Only PostgreSQL crashes: SIGKILL to the postmaster."""
    drill.inject("kill-postmaster", target)


@when(parse("I stop {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Clean shutdown (pg_ctl stop -m fast)."""
    drill.inject("stop", target)


@when(parse("I restart {target:Target}"))
@when(parse("I start {target:Target} again"))
def _(drill: Drill, target: str) -> None:
    """Boot it again; a deposed primary rejoins as a replica with pg_rewind (a rebuild if that fails)."""
    drill.restart(target)
