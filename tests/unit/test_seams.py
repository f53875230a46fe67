"""The seams of the engine on the fake runtime: topologies by kind, roles, drill parts, the result.

The topologies come from the conformance test's list, the one place that names them all: a
new topology registers itself (harness.topology.kinds) and is added there; the drill does not
change.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pytest
from pydantic import BaseModel

from harness.drill import Drill
from harness.errors import SetupError
from harness.history import History
from harness.parts import ClientPath, DirectPath, PartBase
from harness.result import METRICS, Metric, ScenarioResult, register_metric
from harness.runtime.fake import FakeRuntime
from harness.topology import registry
from harness.topology.base import HaManaged, ManagedPostgres, MultiRegion, NotAvailable, Restartable, Topology, need
from harness.topology.roles import Roles

from tests.unit.test_conformance import TOPOLOGIES


def test_every_kind_is_registered_and_selected_by_its_environment() -> None:
    assert {k.kind for k in registry.kinds()} == set(TOPOLOGIES)
    for kind, env in TOPOLOGIES.items():
        assert registry.choose(env()).kind == kind


@pytest.mark.parametrize("kind", sorted(TOPOLOGIES))
def test_each_topology_implements_the_protocol_on_the_fake_runtime(kind: str) -> None:
    topo = registry.create(FakeRuntime("unit"), TOPOLOGIES[kind](), History())
    members = set(Topology.__annotations__) | {n for n in vars(Topology) if not n.startswith("_")}
    missing = sorted(n for n in members if not (hasattr(type(topo), n) or n in vars(topo)))
    assert not missing and topo.kind == kind
    assert isinstance(topo, Restartable)  # every topology can start a node again
    assert isinstance(topo.roles, Roles) and topo.names


def test_capabilities_say_which_topology_cannot_do_what() -> None:
    patroni = registry.create(FakeRuntime("unit"), TOPOLOGIES["patroni"](), History())
    with pytest.raises(NotAvailable, match="not available on a patroni topology: stopping PostgreSQL"):
        need(patroni, ManagedPostgres, "stopping PostgreSQL")
    streaming = registry.create(FakeRuntime("unit"), TOPOLOGIES["streaming"](), History())
    with pytest.raises(NotAvailable, match="not available on a streaming topology"):
        need(streaming, HaManaged, "waiting for a new leader")
    assert need(patroni, HaManaged, "x") is patroni
    regions = registry.create(FakeRuntime("unit"), TOPOLOGIES["regions"](), History())
    assert need(regions, MultiRegion, "x") is regions


def test_a_chosen_kind_overrides_the_environment_and_unknown_kinds_fail_at_once(tmp_path: Path) -> None:
    d = Drill("u", "u", tmp_path, TOPOLOGIES["streaming"]())
    assert d.topology_kind == "streaming"
    d.choose_topology("patroni", settings=None)
    assert d.topology_kind == "patroni"
    with pytest.raises(SetupError, match="no topology of kind 'nope'"):
        d.choose_topology("nope")


def test_roles_change_only_through_named_events() -> None:
    r = Roles("node1")
    r.took_down(["node1", "node3"])
    assert r.old_primary == "node1" and r.down == {"node1", "node3"}
    r.promoted("node2")
    assert (r.primary, r.old_primary) == ("node2", "node1")
    r.came_back("node1")
    assert r.down == {"node3"}
    r.observed_leader("node2")
    r.observed_leader("node3")  # a manager elected another leader: the last one is deposed
    assert (r.primary, r.old_primary, r.leader) == ("node3", "node2", "node3")
    with pytest.raises(AttributeError):
        r.down.add("x")  # type: ignore[attr-defined]


class _Section(BaseModel):
    versions: dict[str, str]


class _Recorder(PartBase):
    section = "versions"

    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def probes_started(self, drill: Drill) -> None:
        self.log.append(f"{self.name} started")

    def result_section(self) -> BaseModel | None:
        return _Section(versions={"postgresql": "15"})

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.log.append(f"{self.name} closed")


class _Broken(PartBase):
    def close(self) -> None:
        raise RuntimeError("boom")


class _Proxy:
    name = "proxy"

    def endpoint(self, topology: Topology, node: str) -> str:
        return "127.0.0.1:6432"

    def primary_endpoint(self, topology: Topology) -> tuple[str, str]:
        return "via-proxy", "127.0.0.1:6432"

    def __enter__(self) -> _Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_parts_are_found_by_type_closed_newest_first_and_add_sections(tmp_path: Path) -> None:
    log: list[str] = []
    d = Drill("u", "u", tmp_path, TOPOLOGIES["streaming"]())
    first, second = d.add_part(_Recorder(log, "a")), d.add_part(_Recorder(log, "b"))
    d.add_part(_Broken())
    assert d.maybe_part(_Recorder) is second and d.part(_Recorder) is second and first is not second
    assert d.maybe_part(_Proxy) is None
    with pytest.raises(SetupError, match="no _Proxy"):
        d.part(_Proxy)
    assert isinstance(d.client_path(), DirectPath)
    proxy = d.add_part(_Proxy())
    assert d.client_path() is proxy and isinstance(proxy, ClientPath)
    sections = d.result_sections()
    assert sections["versions"] == _Section(versions={"postgresql": "15"})
    problems = d.close()
    assert log == ["b closed", "a closed"]  # newest first, and the broken one did not stop them
    assert any("closing _Broken" in p and "boom" in p for p in problems)
    res = ScenarioResult(feature="f", scenario="s", directory=tmp_path, sections=sections)
    assert res.to_json()["sections"] == {"versions": {"versions": {"postgresql": "15"}}}


def test_a_new_metric_reaches_every_view(tmp_path: Path) -> None:
    from harness.report.summary import write_summaries

    saved = list(METRICS)
    try:
        register_metric(Metric("rto_write_s", "write RTO (client side)", " s", "max_rto_write_s"))
        scen = {"scenario": "x", "status": "passed", "measurements": {"rto_write_s": 1.5},
                "targets": {"max_rto_write_s": 10}, "violations": []}
        md, _ = write_summaries(tmp_path, {"run_id": "r", "scenarios": [scen]})
        assert "write RTO (client side)" in md.read_text() and "1.500 s (< 10 s)" in md.read_text()
    finally:
        METRICS[:] = saved


def test_typed_events_round_trip_through_the_journal(tmp_path: Path) -> None:
    from harness.history import (
        BackupFallback,
        BackupStop,
        BackupTaken,
        FanoutRead,
        HaSettings,
        HaView,
        MetricReading,
        RecoveryTargetMarked,
        RepetitionMark,
        RunbookStepTaken,
        TableDropped,
        now,
    )

    t = now()
    events = [
        HaView(at=t, leader="node1", members={"node1": ("leader", "running", 1)}),
        HaSettings(at=t, ttl=10, settings={"ttl": 10, "loop_wait": 1}),
        FanoutRead(at=t, node="node2", present={"node1": [(1, 4)]}),
        BackupTaken(at=t, type="full", label="F", size=10, repo_size=2),
        BackupFallback(at=t, restored="F", restored_stop=1.0, skipped=[BackupStop(label="F_I", stop=2.0)]),
        RepetitionMark(at=t, series="dr", index=1, of=3, region="east"),
        RunbookStepTaken(at=t, end=t, index=1, name="page", step_kind="manual", outcome="ok", scripted=True,
                         expected_s=120),
        TableDropped(at=t, table="orders", node="node1", xid=7, lsn_before="0/1", lsn_after="0/2",
                     time_before="a", time_after="b", wall_before=1.0),
        RecoveryTargetMarked(at=t, target_kind="name", value="before"),
        MetricReading(at=t, metric="replication_lag_bytes", node="node2", value=5),
    ]
    h = History(journal=tmp_path / "j.jsonl")
    for e in events:
        h.add(e)
    h.close()
    assert History.load(tmp_path / "j.jsonl").events() == events


class _Sampler:
    def __init__(self, crashed: bool) -> None:
        self.crashed, self.stopped = crashed, False

    def __enter__(self) -> _Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped = True
        if self.crashed:
            raise SetupError("RPO exposure sampler crashed: boom")


def test_a_topology_watcher_closed_as_a_part_reports_its_crash(tmp_path: Path) -> None:
    d = Drill("u", "u", tmp_path, TOPOLOGIES["streaming"]())
    ok, bad = d.add_part(_Sampler(False)), d.add_part(_Sampler(True))
    problems = d.close()
    assert ok.stopped and bad.stopped
    assert any("RPO exposure sampler crashed" in p for p in problems)
