"""Steps of logical replication between two clusters (harness.logical)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, then, when

from harness.drill import Drill
from harness.logical.use import (
    cut_clusters,
    expect_conflicts_reported,
    heal_cut,
    replica_of,
    use_environment_logical,
    use_logical,
)
from harness.steps.types import parse

#: Tags of scenarios that need a newer PostgreSQL than the bookworm stack's 15 (origin = none:
#: 16, failover slots: 17). On an older stack they are skipped at collection, so the default run
#: (bookworm) spends nothing on them and the trixie subset (HARNESS_STACK=trixie) runs them.
NEEDS_MAJOR = {"pg16": 16, "pg17": 17}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from harness.images.build import load_stack, stack_of

    stack = stack_of()
    major = load_stack(stack).pg_major
    for item in items:
        for tag, need in NEEDS_MAJOR.items():
            if need > major and item.get_closest_marker(tag) is not None:
                item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL {need}+; the {stack} stack runs {major} "
                                                        "(run it with HARNESS_STACK=trixie)"))


@given(parse("a logical replica cluster subscribed to the primary"))
def _(drill: Drill) -> None:
    """A second cluster subscribed to a publication of the primary (the probe's and the workload's tables)."""
    use_logical(drill, "one-way")


@given(parse("a logical replica cluster subscribed to the primary with failover slots"))
def _(drill: Drill) -> None:
    """The same, its slot kept on the standbys (failover = true, sync_replication_slots; PostgreSQL 17+)."""
    use_logical(drill, "one-way", failover_slots=True)


@given(parse("the two clusters replicate to each other"))
def _(drill: Drill) -> None:
    """Bidirectional logical replication with origin = none (PostgreSQL 16+: the trixie stack)."""
    use_logical(drill, "bidirectional")


@given(parse("the logical replication of the environment"))
def _(drill: Drill) -> None:
    """The second cluster the environment's logical: section describes."""
    use_environment_logical(drill)


@when(parse("the two clusters are cut apart"))
def _(drill: Drill) -> None:
    """Partition every node of the first cluster from the logical replica cluster (clients reach both)."""
    cut_clusters(drill)


@when(parse("the two clusters are joined again"))
def _(drill: Drill) -> None:
    """Heal the partition between the two clusters."""
    heal_cut(drill)


@when(parse("both clusters write the same {count:d} keys"))
def _(drill: Drill, count: int) -> None:
    """Each cluster inserts keys 1..count (one transaction each) and 3 keys of its own."""
    replica_of(drill).write_same_keys(count)


@when(parse("the logical subscription follows the new primary"))
def _(drill: Drill) -> None:
    """Point the subscription's connection at the first cluster's primary now."""
    replica_of(drill).follow_primary()


@when(parse("the logical subscription is re-created on the new primary"))
def _(drill: Drill) -> None:
    """Drop the subscription and subscribe again to the new primary, copying the tables anew."""
    replica_of(drill).recreate()


@then(parse("the logical replica is behind by at most {size:Size} within {timeout:Duration}"))
def _(drill: Drill, size: int, timeout: float) -> None:
    """The subscription's slot lag (pg_current_wal_lsn - confirmed_flush_lsn) falls to the bound."""
    replica_of(drill).expect_lag(size, timeout)


@then(parse("every conflict between the clusters is reported"))
def _(drill: Drill) -> None:
    """Apply errors counted and skipped until both subscriptions catch up; every key that differs was reported."""
    expect_conflicts_reported(drill)


@then(parse("the logical replica misses the rows written after the failover"))
def _(drill: Drill) -> None:
    """After 3 s none of the rows the promoted standby took reached the subscriber (the slot did not follow)."""
    replica_of(drill).expect_missing_after_failover(3)


@then(parse("the logical replica receives the rows written after the failover within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """Every row the new primary took since the failover reached the subscriber in time."""
    replica_of(drill).expect_received_after_failover(timeout)
