"""The built-in topology kinds, registered with :mod:`harness.topology.registry`.

A new topology adds its own ``register(TopologyKind(...))`` here (or in its own module,
imported from here); nothing in the drill changes. Factories import their module lazily so
that a drill on one topology does not import the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.topology.registry import TopologyKind, register

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.history import History
    from harness.runtime.base import Runtime
    from harness.topology.base import Topology


def _streaming(runtime: Runtime, env: Environment, history: History, options: Mapping[str, Any]) -> Topology:
    from harness.topology.streaming import StreamingCluster

    return StreamingCluster(runtime, env, history)


def _patroni(runtime: Runtime, env: Environment, history: History, options: Mapping[str, Any]) -> Topology:
    from harness.topology.patroni import PatroniCluster, settings_for

    return PatroniCluster(runtime, env, history, settings_for(env, options))


def _regions(runtime: Runtime, env: Environment, history: History, options: Mapping[str, Any]) -> Topology:
    from harness.topology.regions import RegionCluster

    return RegionCluster(runtime, env, history)


def _pgaf(runtime: Runtime, env: Environment, history: History, options: Mapping[str, Any]) -> Topology:
    from harness.topology.pgaf import PgafCluster, settings_for

    return PgafCluster(runtime, env, history, settings_for(env, options))


def _describe_pgaf(env: Environment) -> str:
    p = env.pg_auto_failover
    assert p is not None
    return f"pg_auto_failover: a monitor and {p.nodes} nodes, unhealthy after {p.unhealthy_timeout_ms} ms"


def _describe_patroni(env: Environment) -> str:
    p = env.patroni
    assert p is not None
    return f"Patroni: {p.nodes} nodes, {p.etcd_members}-member etcd, ttl {p.ttl}"


def _describe_regions(env: Environment) -> str:
    r = env.regions
    assert r is not None
    return (f"two regions: {r.primary_nodes} node(s) in {r.primary!r}, {r.standby_nodes} DR standby(s) in "
            f"{r.standby!r}, {r.replication}, WAN {r.wan.latency_ms:g} ms")


def _describe_streaming(env: Environment) -> str:
    from harness.replicas.plan import describe  # delayed and cascading replicas

    kinds = describe(env.topology.replicas, env.topology.replica_settings)
    return f"{env.topology.replicas} {env.topology.replication} replicas" + (f"; {kinds}" if kinds else "")


register(TopologyKind("streaming", lambda env: True, _streaming, priority=0, describe_env=_describe_streaming))
register(TopologyKind("patroni", lambda env: env.patroni is not None, _patroni, priority=10,
                      describe_env=_describe_patroni))
register(TopologyKind("regions", lambda env: env.regions is not None, _regions, priority=20,
                      describe_env=_describe_regions))
register(TopologyKind("pg_auto_failover", lambda env: env.pg_auto_failover is not None, _pgaf, priority=15,
                      describe_env=_describe_pgaf))
