"""Topologies by kind: which one an environment asks for, and how to make it.

A topology registers itself with :func:`register` (a kind, a test that says whether an
environment selects it, a factory); the drill and ``harness up`` ask :func:`choose` for the
kind and :func:`create` for the instance, so adding a topology touches neither. Steps can pick
a kind before the topology starts (``Drill.choose_topology("patroni", settings=...)``): the
options they pass reach the factory unchanged.

The built-in kinds register when :mod:`harness.topology.kinds` is imported, which the
``harness.topology`` package does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import SetupError

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.history import History
    from harness.runtime.base import Runtime
    from harness.topology.base import Topology

__all__ = ["Factory", "TopologyKind", "choose", "create", "kinds", "register"]

#: runtime, environment, history, the options steps chose (may be empty) -> a topology (not started).
Factory = Callable[["Runtime", "Environment", "History", Mapping[str, Any]], "Topology"]


@dataclass(frozen=True)
class TopologyKind:
    kind: str
    #: Does this environment ask for this kind? The first kind (by ``priority``, highest first) that says yes wins.
    selects: Callable[[Environment], bool]
    factory: Factory
    priority: int = 0
    #: One line for ``harness env check`` ("Patroni: 3 nodes, ...").
    describe_env: Callable[[Environment], str] | None = None


_KINDS: dict[str, TopologyKind] = {}


def register(kind: TopologyKind) -> TopologyKind:
    if kind.kind in _KINDS and _KINDS[kind.kind] != kind:
        raise SetupError(f"two topologies registered as {kind.kind!r}")
    _KINDS[kind.kind] = kind
    return kind


def kinds() -> list[TopologyKind]:
    return sorted(_KINDS.values(), key=lambda k: (-k.priority, k.kind))


def choose(env: Environment, chosen: str | None = None) -> TopologyKind:
    """The kind a step chose, else the first that the environment selects."""
    known = kinds()
    if chosen is not None:
        for k in known:
            if k.kind == chosen:
                return k
        raise SetupError(f"no topology of kind {chosen!r} (known: {', '.join(k.kind for k in known)})")
    for k in known:
        if k.selects(env):
            return k
    raise SetupError(f"environment {env.name}: no topology kind fits it (known: {', '.join(k.kind for k in known)})")


def create(runtime: Runtime, env: Environment, history: History, *, chosen: str | None = None,
           options: Mapping[str, Any] | None = None) -> Topology:
    return choose(env, chosen).factory(runtime, env, history, options or {})
