"""When/Then steps of disk faults: filling the data and WAL volumes, and what the server does.

"Full" means the filesystem has no free block left; a percentage is df's Use% (PostgreSQL's
own files count). Freeing deletes the ballast and nothing else: a server that PANICked
stays down until a step restarts it. See :mod:`harness.faults.disk`.
"""

from __future__ import annotations

from pytest_bdd import then, when

from harness.drill import Drill
from harness.faults import disk
from harness.steps.types import parse

# -- filling ------------------------------------------------------------------------------------


@when(parse("I fill the WAL disk of {target:Target}"))
@when(parse("I fill the pg_wal disk of {target:Target}"))
@when(parse("I fill the WAL volume of {target:Target}"))
@when(parse("the WAL disk of {target:Target} fills up"))
def _(drill: Drill, target: str) -> None:
    """Fill the node's pg_wal volume until no free block is left."""
    disk.fill_disk(drill, target, "wal")


@when(parse("I fill the WAL disk of {target:Target} to {percent:Percent} %"))
@when(parse("I fill the WAL disk of {target:Target} to {percent:Percent}%"))
@when(parse("I fill the WAL volume of {target:Target} to {percent:Percent} %"))
def _(drill: Drill, target: str, percent: float) -> None:
    """Fill the node's pg_wal volume to that Use% (as df shows it)."""
    disk.fill_disk(drill, target, "wal", percent)


@when(parse("I fill the data disk of {target:Target}"))
@when(parse("I fill the data volume of {target:Target}"))
@when(parse("the data disk of {target:Target} fills up"))
def _(drill: Drill, target: str) -> None:
    """Fill the node's PGDATA volume until no free block is left."""
    disk.fill_disk(drill, target, "data")


@when(parse("I fill the data disk of {target:Target} to {percent:Percent} %"))
@when(parse("I fill the data disk of {target:Target} to {percent:Percent}%"))
@when(parse("I fill the data volume of {target:Target} to {percent:Percent} %"))
def _(drill: Drill, target: str, percent: float) -> None:
    """Fill the node's PGDATA volume to that Use% (as df shows it)."""
    disk.fill_disk(drill, target, "data", percent)


# -- freeing ------------------------------------------------------------------------------------


@when(parse("I free the disk of {target:Target}"))
@when(parse("I free the disks of {target:Target}"))
@when(parse("I free disk space on {target:Target}"))
@when(parse("I delete the ballast on {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Delete the ballast on both volumes of the node (a PANICked server stays down)."""
    disk.free_disk(drill, target)


@when(parse("I free the WAL disk of {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Delete the ballast on the node's pg_wal volume."""
    disk.free_disk(drill, target, "wal")


@when(parse("I free the data disk of {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Delete the ballast on the node's PGDATA volume."""
    disk.free_disk(drill, target, "data")


# -- what the server does -------------------------------------------------------------------------


@then(parse("{target:Target} is down within {timeout:Duration}"))
@then(parse("{target:Target} goes down within {timeout:Duration}"))
def _(drill: Drill, target: str, timeout: float) -> None:
    """PostgreSQL on the node stops answering within the timeout."""
    disk.expect_down(drill, target, timeout)


@then(parse("{target:Target} is up"))
def _(drill: Drill, target: str) -> None:
    """PostgreSQL on the node answers now."""
    disk.expect_up(drill, target)


@then(parse("{target:Target} is up within {timeout:Duration}"))
def _(drill: Drill, target: str, timeout: float) -> None:
    """PostgreSQL on the node answers within the timeout."""
    disk.expect_up(drill, target, timeout)


@then(parse("{target:Target} stays up for {seconds:Duration}"))
def _(drill: Drill, target: str, seconds: float) -> None:
    """PostgreSQL on the node keeps answering for that long."""
    disk.expect_stays_up(drill, target, seconds)


@then(parse("{target:Target} does not start"))
@then(parse("{target:Target} cannot be started"))
def _(drill: Drill, target: str) -> None:
    """Starting PostgreSQL on the node fails."""
    disk.expect_does_not_start(drill, target)


@then(parse("writes fail on {target:Target} while it stays up"))
@then(parse("writes to {target:Target} fail while it stays up"))
def _(drill: Drill, target: str) -> None:
    """A write on the node fails, and the server still answers reads."""
    disk.expect_writes_fail(drill, target)


@then(parse("writes fail on {target:Target} within {timeout:Duration} while it stays up"))
def _(drill: Drill, target: str, timeout: float) -> None:
    """Writes on the node start failing within the timeout, and the server still answers."""
    disk.expect_writes_fail(drill, target, timeout)


@then(parse("writes succeed on {target:Target}"))
@then(parse("writes to {target:Target} succeed"))
def _(drill: Drill, target: str) -> None:
    """A write on the node succeeds now."""
    disk.expect_writes_succeed(drill, target)


@then(parse("writes succeed on {target:Target} within {timeout:Duration}"))
@then(parse("writes resume on {target:Target} within {timeout:Duration}"))
def _(drill: Drill, target: str, timeout: float) -> None:
    """Writes on the node succeed again within the timeout."""
    disk.expect_writes_succeed(drill, target, timeout)


@then(parse("the WAL disk of {target:Target} is at least {percent:Percent} % full"))
def _(drill: Drill, target: str, percent: float) -> None:
    """The pg_wal volume's Use% is at least that."""
    disk.expect_disk_usage(drill, target, "wal", at_least=percent)


@then(parse("the data disk of {target:Target} is at least {percent:Percent} % full"))
def _(drill: Drill, target: str, percent: float) -> None:
    """The PGDATA volume's Use% is at least that."""
    disk.expect_disk_usage(drill, target, "data", at_least=percent)


@then(parse("the WAL disk of {target:Target} is at most {percent:Percent} % full"))
def _(drill: Drill, target: str, percent: float) -> None:
    """The pg_wal volume's Use% is at most that."""
    disk.expect_disk_usage(drill, target, "wal", at_most=percent)


@then(parse("the data disk of {target:Target} is at most {percent:Percent} % full"))
def _(drill: Drill, target: str, percent: float) -> None:
    """The PGDATA volume's Use% is at most that."""
    disk.expect_disk_usage(drill, target, "data", at_most=percent)


@then(parse('the PostgreSQL log of {target:Target} contains "{text}"'))
@then(parse('the PostgreSQL log of {target:Target} says "{text}"'))
def _(drill: Drill, target: str, text: str) -> None:
    """The node's server log holds that text."""
    disk.expect_log_contains(drill, target, text)


@then(parse("the availability fell below {percent:Percent} %"))
def _(drill: Drill, percent: float) -> None:
    """The measured availability is under that share (the fault hurt)."""
    disk.expect_availability_below(drill, percent)
