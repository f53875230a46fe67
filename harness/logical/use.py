"""What the logical-replication steps do with a drill (the steps are one-line delegations here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import SetupError, TargetMissed
from harness.logical.cut import ClustersCut
from harness.logical.replica import ConflictReport, LogicalReplica, Mode, check_available, pg_major_of

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.environment import Environment

__all__ = ["cut_clusters", "describe_env", "expect_conflicts_reported", "heal_cut", "replica_of", "use_logical"]


def use_logical(drill: Drill, mode: Mode, *, failover_slots: bool = False) -> LogicalReplica:
    """Start the second cluster and its subscription(s). Checked first, before anything runs:
    the topology kind and the PostgreSQL version (bidirectional needs 16, failover slots 17)."""
    if drill.maybe_part(LogicalReplica) is not None:
        raise SetupError("this drill already has a logical replica cluster")
    check_available(drill.topology_kind, mode, failover_slots, pg_major_of(drill.env))
    if not drill.topology_started:
        # wal_level is read at server start: the publisher's nodes boot with it.
        drill.configure(settings=dict(drill.env.topology.settings) | {"wal_level": "logical"})
    replica = LogicalReplica(drill.cluster, drill.env, drill.history, mode=mode, failover_slots=failover_slots)
    replica.start()
    return drill.add_part(replica)


def use_environment_logical(drill: Drill) -> LogicalReplica:
    """The logical replication the environment's ``logical:`` section describes."""
    spec = drill.env.logical
    if spec is None:
        raise SetupError(f"environment {drill.env.name} has no logical: section")
    return use_logical(drill, spec.mode, failover_slots=spec.failover_slots)


def describe_env(env: Environment) -> str:
    """``harness env check``'s words for the environment's logical: section (a SetupError when the
    topology or its PostgreSQL version cannot do it)."""
    from harness.topology.registry import choose

    spec = env.logical
    if spec is None:
        return ""
    major = pg_major_of(env)
    try:
        check_available(choose(env).kind, spec.mode, spec.failover_slots, major)
    except SetupError as exc:
        raise SetupError(f"{env.source or env.name}: logical: {exc}") from exc
    how = "two clusters replicating to each other (origin = none)" if spec.mode == "bidirectional" else \
        "a logical replica cluster subscribed to the primary"
    return f"{how}{' with failover slots' if spec.failover_slots else ''}, PostgreSQL {major}"


def replica_of(drill: Drill) -> LogicalReplica:
    found = drill.maybe_part(LogicalReplica)
    if found is None:
        raise SetupError("this drill has no logical replica cluster: say 'Given a logical replica cluster subscribed "
                         "to the primary' or 'Given the two clusters replicate to each other' first")
    return found


def cut_clusters(drill: Drill) -> None:
    drill.apply(ClustersCut(replica_of(drill)))


def heal_cut(drill: Drill) -> None:
    cuts = [f for f in drill.faults.active if isinstance(f, ClustersCut)]
    if not cuts:
        raise SetupError("the two clusters are not cut apart")
    for f in reversed(cuts):
        drill.faults.heal(f)


def expect_conflicts_reported(drill: Drill, timeout: float = 60) -> ConflictReport:
    replica = replica_of(drill)
    if replica.mode != "bidirectional":
        raise SetupError("conflicts between the clusters need them to replicate to each other "
                         "('Given the two clusters replicate to each other')")
    if any(isinstance(f, ClustersCut) for f in drill.faults.active):
        raise SetupError("the two clusters are still cut apart: join them again first")
    r = replica.resolve_conflicts(timeout)
    if not r.caught_up:
        raise TargetMissed("conflicts between the clusters",
                           f"a subscription was still stuck after {timeout:g} s ({len(r.reported_keys)} keys reported)",
                           "every subscription past its conflicts")
    if r.unreported:
        raise TargetMissed("conflicts between the clusters",
                           f"{len(r.reported_keys)} keys reported by apply errors, {len(r.differing_keys)} differ; "
                           f"not reported: {', '.join(r.unreported)}", "every differing key reported")
    return r
