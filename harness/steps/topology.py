"""Given steps: the topology and the workload."""

from __future__ import annotations

from pytest_bdd import given

from harness.drill import Drill
from harness.environment import load_environment
from harness.errors import SetupError
from harness.steps.types import parse


@given(parse("a PostgreSQL cluster with {primaries:d} primary and {replicas:d} {mode:Mode} replicas"))
@given(parse("a PostgreSQL cluster with {primaries:d} primary and {replicas:d} {mode:Mode} replica"))
def _(drill: Drill, primaries: int, replicas: int, mode: str) -> None:
    """Streaming replication; sync sets synchronous_standby_names = 'ANY 1 (...)'."""
    if primaries != 1:
        raise SetupError(f"a streaming-replication cluster has exactly 1 primary, not {primaries}")
    drill.configure(replicas=replicas, replication=mode)


@given(parse('the environment "{name}"'))
def _(drill: Drill, name: str) -> None:
    """Use another file of environments/ (a name or a path)."""
    drill.use_environment(load_environment(name))


@given(parse("synchronous commits wait for {quorum:d} replicas"))
@given(parse("synchronous commits wait for {quorum:d} replica"))
def _(drill: Drill, quorum: int) -> None:
    """The quorum of a sync cluster: commits wait for this many standbys."""
    drill.configure(sync_quorum=quorum)


@given(parse("the write probe is running every {interval:Duration}"))
def _(drill: Drill, interval: float) -> None:
    """Write and read probes at that interval."""
    drill.start_probes(interval)


@given(parse("the write probe is running"))
def _(drill: Drill) -> None:
    """Write and read probes at the environment's interval."""
    drill.start_probes()
