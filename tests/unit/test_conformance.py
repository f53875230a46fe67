"""Every generic step against every topology, on the fake runtime.

The steps run as written in a feature file (found through pytest-bdd's own step registry) on a
drill that adopted a topology made of fake nodes. Where a topology cannot do what a step asks,
the step must say so in one line ("not available on a <kind> topology: ..."), never crash with
an AttributeError; where the fake runtime cannot (network namespaces, loop volumes), it says
that instead. What a step does on real nodes is the integration tests' business.

TOPOLOGIES is the one place that names every topology kind: a new kind registers itself
(harness/topology/kinds.py) and is added here.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.drill import Drill
from harness.environment import Environment, TopologySpec, load_environment
from harness.errors import HarnessError, TargetMissed
from harness.history import History, Stamp, now
from harness.runtime.fake import FakeNode, FakeRuntime
from harness.steps.plugin import pytest_plugins as STEP_MODULES
from harness.topology import registry
from harness.topology.base import NotAvailable, Topology

#: Every topology kind and an environment that selects it.
TOPOLOGIES: dict[str, Callable[[], Environment]] = {
    "streaming": lambda: Environment(name="unit", topology=TopologySpec(replicas=2)),
    "patroni": lambda: load_environment("patroni"),
    "regions": lambda: load_environment("two-region"),
}


# -- the steps, as pytest-bdd registered them ----------------------------------------------------


def _contexts() -> list[Any]:
    out = []
    for name in STEP_MODULES:
        module = importlib.import_module(name)
        for key, value in vars(module).items():
            if key.startswith("pytestbdd_stepdef_"):
                out.append(value._get_wrapped_function()())
    return out


_STEPS = _contexts()


def run_step(drill: Drill, text: str) -> None:
    """Run one step line ("When I kill the primary") the way pytest-bdd would."""
    keyword, _, rest = text.partition(" ")
    kind = {"Given": "given", "When": "when", "Then": "then"}[keyword]
    found = [c for c in _STEPS if c.type == kind and c.parser.is_matching(rest)]
    assert found, f"no step matches {text!r}"
    ctx = found[0]
    args = ctx.parser.parse_arguments(rest) or {}
    for k, convert in (ctx.converters or {}).items():
        if k in args:
            args[k] = convert(args[k])
    wanted = inspect.signature(ctx.step_func).parameters
    ctx.step_func(**({"drill": drill} if "drill" in wanted else {}), **{k: v for k, v in args.items() if k in wanted})


# -- topologies made of fake nodes ---------------------------------------------------------------


class FakeServers:
    """Stands in for the PostgreSQL servers (and an HA manager's REST API) of fake nodes.

    A node answers when its fake host runs and is not paused; the primary is the topology's
    (for an HA manager: the leader it names, re-elected among the running nodes when the
    leader stops answering). Replicas stream whenever they answer.
    """

    def __init__(self, topo: Topology, rt: FakeRuntime) -> None:
        self.topo, self.rt = topo, rt
        self.leader: str | None = topo.names[0]

    def up(self, name: str) -> bool:
        node = self.rt.node(name) if name in {n.name for n in self.rt.nodes()} else None
        return node is not None and node.is_running()

    def in_recovery(self, name: str, timeout: float = 1) -> bool | None:
        if not self.up(name):
            return None
        return name != self.topo.primary

    def members_at(self, *, max_age: float = 0.05) -> tuple[Stamp, dict[str, Any] | None]:
        if self.leader is None or not self.up(self.leader):
            self.leader = next((n for n in self.topo.names if self.up(n)), None)
        members = [{"name": n, "role": "leader" if n == self.leader else "replica", "state": "running",
                    "timeline": 1} for n in self.topo.names if self.up(n)]
        return now(), {"members": members}

    def install(self) -> None:
        t: Any = self.topo
        t.in_recovery = self.in_recovery
        t.wait_ready = lambda name, timeout=30: None
        t.wait_streaming = lambda *, timeout=30, expect=None: None
        t.streaming_replicas = lambda caught_up_to=None: [n for n in t.replicas() if self.up(n)]
        if hasattr(t, "members_at"):
            t.members_at = self.members_at
        if hasattr(t, "route"):  # regions: routes live in network namespaces the fake has none of
            t.route = lambda name: None


def fake_topology(kind: str) -> tuple[Topology, FakeRuntime]:
    rt = FakeRuntime("unit")
    topo = registry.create(rt, TOPOLOGIES[kind](), History())
    t: Any = topo
    helpers = list(getattr(t, "etcd_names", []))
    nodes = rt.create_nodes([(n, "fake", {}) for n in [*helpers, *topo.names]])
    t._nodes = {n.name: n for n in nodes}
    t.started = True
    FakeServers(topo, rt).install()
    return topo, rt


@pytest.fixture
def drill_on(tmp_path: Path) -> Callable[[str], Drill]:
    made: list[Drill] = []

    def make(kind: str) -> Drill:
        topo, _ = fake_topology(kind)
        d = Drill("unit", f"c{len(made)}", tmp_path / f"d{len(made)}", topo.env)
        d.adopt(topo)
        made.append(d)
        return d

    yield make  # type: ignore[misc]
    for d in made:
        d.close(settle=False)


# -- what each step does on each topology --------------------------------------------------------

OK, UNAVAILABLE, NO_FAKE, VERDICT = "ok", "not available", "needs real nodes", "verdict"

#: Steps with their setup, and what to expect where it is not "ok" (by kind).
CASES: list[tuple[list[str], dict[str, str]]] = [
    (["When I kill the primary"], {}),
    (["When I crash a replica"], {}),
    (["When I stop replica 1"], {"patroni": UNAVAILABLE}),
    (["When I kill the postmaster on replica 1"], {}),
    (["When I kill the primary", "When I start the old primary again"], {}),
    (["When I kill replica 1", "When I restart replica 1"], {}),
    (["When I stop replica 1", "When I start replica 1 again"], {"patroni": UNAVAILABLE}),
    (["When I pause the primary"], {}),
    (["When I pause replica 1 for 0.05 seconds", "When I wait 0.1 seconds"], {}),
    (["When I freeze PostgreSQL on replica 1"], {}),
    (["When I isolate the primary"], {"*": NO_FAKE}),
    (["When I add 50 ms of latency to the primary"], {"*": NO_FAKE}),
    (["When I drop 10 % of packets on the primary"], {"*": NO_FAKE}),
    (["When I fill the WAL disk of the primary"], {"patroni": UNAVAILABLE, "*": NO_FAKE}),
    (["When I wait 0.01 seconds"], {}),
    (["When I kill the primary", "Then the cluster has exactly one primary within 2 seconds"],
     {"streaming": VERDICT, "regions": VERDICT}),  # nobody failed over: no primary
    (["Then the cluster has exactly one primary within 1 seconds"], {}),
    (["Then all replicas are streaming from the primary within 1 seconds"], {}),
    (["When I kill replica 1", "Then all replicas are streaming from the primary within 1 seconds"], {}),
    (["Then the write RTO is under 10 seconds"], {}),  # no fault: nothing to recover from
    (["Then no acknowledged write is lost"], {"*": VERDICT}),
    (["Then the availability is at least 99 %"], {"*": VERDICT}),
]


def _outcome(kind: str, drill: Drill, steps: list[str]) -> tuple[str, str]:
    try:
        for step in steps:
            run_step(drill, step)
    except NotAvailable as exc:
        assert str(exc).startswith(f"not available on a {kind} topology: "), exc
        return UNAVAILABLE, str(exc)
    except TargetMissed as exc:
        return VERDICT, str(exc)
    except HarnessError as exc:
        text = str(exc)
        if "docker runtime" in text or "Docker container" in text or "volume" in text:
            return NO_FAKE, text
        raise
    return OK, ""


@pytest.mark.parametrize("kind", sorted(TOPOLOGIES))
@pytest.mark.parametrize("steps,expected", CASES, ids=[" / ".join(s) for s, _ in CASES])
def test_generic_step_on_each_topology(kind: str, steps: list[str], expected: dict[str, str],
                                       drill_on: Callable[[str], Drill]) -> None:
    drill = drill_on(kind)
    got, why = _outcome(kind, drill, steps)
    assert got == expected.get(kind, expected.get("*", OK)), why


def test_restart_on_patroni_boots_the_node_and_starts_patroni(drill_on: Callable[[str], Drill]) -> None:
    """The generic restart step on a Patroni topology (it once crashed with an AttributeError)."""
    drill = drill_on("patroni")
    run_step(drill, "When I kill the primary")
    old = drill.roles.old_primary
    assert old == "node1" and old in drill.roles.down
    run_step(drill, "When I start the old primary again")
    assert old not in drill.roles.down
    node = drill.cluster.node(old)
    assert isinstance(node, FakeNode) and node.is_running()
    assert any("exec patroni" in c for c in node.commands())  # Patroni started again; it rejoins by itself


def test_the_primary_a_fault_took_down_becomes_the_old_primary_on_every_topology(
        drill_on: Callable[[str], Drill]) -> None:
    for kind in TOPOLOGIES:
        drill = drill_on(kind)
        primary = drill.cluster.primary
        run_step(drill, "When I kill the primary")
        assert drill.roles.old_primary == primary and primary in drill.roles.down, kind
