"""Delayed and cascading replicas on no real node: the plan, its bad input, Roles, the numbers, the parsers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.drill import Drill
from harness.environment import Environment, ReplicaSettings, TopologySpec, load_environment
from harness.errors import EnvironmentFileError, SetupError
from harness.history import (ActionEvent, FaultEvent, History, MetricReading, ReplicationLink, Stamp,
                             StreamingTree)
from harness.replicas.delayed import first_record_of
from harness.replicas.measure import delayed_recovery, leaf_lags, pitr_recovery, replica_section, tree_text
from harness.replicas.plan import check, delay_setting, describe, plan
from harness.report.summary import scorecard
from harness.runtime.fake import FakeRuntime
from harness.steps.replicas import set_replica
from harness.topology.roles import Roles
from harness.topology.streaming import StreamingCluster


def _s(t: float) -> Stamp:
    return Stamp(t=t, wall=1_700_000_000 + t)


# -- the plan and its bad input ----------------------------------------------------------------


def test_plan_gives_each_node_its_upstream_and_delay() -> None:
    p = plan(3, {2: ReplicaSettings(streams_from=1), 3: ReplicaSettings(apply_delay="5 minutes")})
    assert p["node1"].upstream is None
    assert (p["node2"].upstream, p["node2"].cascaded) == ("node1", False)
    assert (p["node3"].upstream, p["node3"].cascaded, p["node3"].apply_delay_s) == ("node2", True, 0)
    assert (p["node4"].upstream, p["node4"].apply_delay_s) == ("node1", 300)
    assert delay_setting(300) == "300000ms"
    assert describe(3, {2: ReplicaSettings(streams_from=1), 3: ReplicaSettings(apply_delay="30 s")}) == (
        "replica 2 (node3) streams from replica 1 (node2), replica 3 (node4) applies WAL 30 s late")


@pytest.mark.parametrize(("settings", "message"), [
    ({3: ReplicaSettings(apply_delay="1 s")}, "replica 3 does not exist: the topology has 2 replicas (1..2)"),
    ({2: ReplicaSettings(streams_from=5)}, "replica 2 streams from replica 5, which does not exist"),
    ({2: ReplicaSettings(streams_from=2)}, "replica 2 cannot stream from itself"),
    ({1: ReplicaSettings(streams_from=2), 2: ReplicaSettings(streams_from=1)},
     "replicas stream from each other in a cycle (replica 1 -> replica 2 -> replica 1)"),
    ({2: ReplicaSettings(apply_delay="5 fortnights")}, "replica 2: apply delay: not a duration: '5 fortnights'"),
    ({2: ReplicaSettings(apply_delay="0 s")}, "replica 2: apply delay '0 s' must be more than 0"),
])
def test_bad_replica_settings_are_one_line_naming_the_replica(settings: dict[int, ReplicaSettings],
                                                              message: str) -> None:
    with pytest.raises(ValueError) as exc:
        check(2, settings)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_longer_cycle_is_found() -> None:
    with pytest.raises(ValueError, match=r"replica 1 -> replica 3 -> replica 2 -> replica 1"):
        check(3, {1: ReplicaSettings(streams_from=3), 3: ReplicaSettings(streams_from=2),
                  2: ReplicaSettings(streams_from=1)})


def test_the_environment_file_names_the_file_line_and_the_replica(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: bad\ntopology:\n  replicas: 2\n  replica_settings:\n    1: {streams_from: 2}\n"
                 "    2: {streams_from: 1}\n")
    with pytest.raises(EnvironmentFileError) as exc:
        load_environment(f)
    assert f"{f}:2: topology: Value error, replicas stream from each other in a cycle" in str(exc.value)


def test_env_check_lists_the_replica_kinds(tmp_path: Path) -> None:
    f = tmp_path / "kinds.yaml"
    f.write_text("name: kinds\ntopology:\n  replicas: 2\n  replica_settings:\n"
                 "    2: {streams_from: 1, apply_delay: 5 minutes}\n")
    out = CliRunner().invoke(app, ["env", "check", str(f)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "replica 2 (node3) streams from replica 1 (node2)" in text
    assert "replica 2 (node3) applies WAL 300 s late" in text


def test_the_given_steps_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    drill = Drill("fake", "t", tmp_path / "d")
    try:
        set_replica(drill, 2, apply_delay="5 minutes")
        set_replica(drill, 2, streams_from=1)
        assert drill.env.topology.replica_settings[2] == ReplicaSettings(apply_delay="5 minutes", streams_from=1)
        with pytest.raises(SetupError, match=r"^replica 4 does not exist: the topology has 2 replicas"):
            set_replica(drill, 4, streams_from=1)
        with pytest.raises(SetupError, match=r"cycle \(replica 1 -> replica 2 -> replica 1\)"):
            set_replica(drill, 1, streams_from=2)
        assert not drill.topology_started  # nothing was started by the bad input
        assert 1 not in drill.env.topology.replica_settings
    finally:
        drill.close()


def test_the_delay_step_accepts_the_duration_parser_s_units() -> None:
    from harness.steps.types import parse

    p = parse("replica {replica:d} applies WAL {delay:Duration} late")
    assert p.parse_arguments("replica 2 applies WAL 5 minutes late") == {"replica": 2, "delay": 300.0}
    assert p.parse_arguments("replica 1 applies WAL 90 s late") == {"replica": 1, "delay": 90.0}
    assert p.parse_arguments("replica 1 applies WAL 1 hour late") == {"replica": 1, "delay": 3600.0}
    assert not p.is_matching("replica 1 applies WAL soon late")


# -- the topology on the fake runtime ------------------------------------------------------------


def test_the_streaming_topology_points_the_leaf_at_the_middle_and_delays_only_the_delayed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    env = Environment(name="t", volumes={"enabled": False},  # type: ignore[arg-type]
                      topology=TopologySpec(replicas=3, replication="sync", replica_settings={
                          2: ReplicaSettings(streams_from=1), 3: ReplicaSettings(apply_delay="5 min")}))
    rt = FakeRuntime()
    cluster = StreamingCluster(rt, env, History())
    monkeypatch.setattr(cluster, "wait_streaming", lambda **kw: None)
    monkeypatch.setattr("harness.topology.streaming.sql", lambda *a, **kw: [])
    monkeypatch.setattr("harness.topology.streaming.image_for", lambda env: "fake")
    cluster.start()
    envs = {n.name: n.env for n in rt.nodes()}
    assert envs["node3"]["HARNESS_PRIMARY_HOST"] == "node2"
    assert envs["node2"]["HARNESS_PRIMARY_HOST"] == envs["node4"]["HARNESS_PRIMARY_HOST"] == "node1"
    assert "recovery_min_apply_delay = '300000ms'" in envs["node4"]["HARNESS_EXTRA_CONF"]
    assert all("recovery_min_apply_delay" not in envs[n]["HARNESS_EXTRA_CONF"] for n in ("node1", "node2", "node3"))
    # The cascaded leaf cannot confirm the primary's commits: it is no sync candidate.
    assert envs["node1"]["HARNESS_SYNC_NAMES"] == "ANY 1 (node2, node4)"
    assert cluster.roles.upstreams == {"node3": "node2"}
    assert "node3 streams from node2" in cluster.describe() and "node4 applies WAL 300 s late" in cluster.describe()
    assert [type(p).__name__ for p in cluster.drill_parts()] == ["ReplicaWatch"]
    # A failover to node2: the old primary (it rejoins) and node4 are candidates, node3 already follows node2.
    assert cluster.sync_setting("node2") == "ANY 1 (node1, node3, node4)"
    # to node4: node3 still streams from node2, a replica: it cannot confirm node4's commits.
    assert cluster.sync_setting("node4") == "ANY 1 (node1, node2)"


def test_roles_know_who_streams_from_whom() -> None:
    r = Roles("node1")
    r.streams_from("node3", "node2")
    assert r.upstream_of("node3") == "node2" and r.upstream_of("node2") == "node1" and r.upstream_of("node1") is None
    assert r.upstreams == {"node3": "node2"}
    r.promoted("node2")  # the middle promoted: the leaf now streams from the primary
    assert r.upstreams == {} and r.upstream_of("node3") == "node2" and r.upstream_of("node2") is None
    r.promoted("node3")
    assert r.upstream_of("node3") is None
    r.streams_from("node2", "node3")
    assert r.upstream_of("node2") == "node3"


# -- the numbers -----------------------------------------------------------------------------------


def _act(action: str, t0: float, t1: float, target: str = "node3", ok: bool = True) -> ActionEvent:
    return ActionEvent(at=_s(t0), end=_s(t1), action=action, target=target, outcome="ok" if ok else "failed")


def _drop(t: float) -> FaultEvent:
    return FaultEvent(at=_s(t + 0.01), began=_s(t), fault="drop-table", target="node1", phase="inject")


def test_the_delayed_recovery_and_pitr_are_timed_from_their_decision_and_from_the_drop() -> None:
    evs: list[Any] = [
        _drop(10), _act("delayed.decision", 11, 11), _act("delayed.pause", 11, 11.1),
        _act("delayed.roll_forward", 11.1, 12.1), _act("delayed.dump", 12.1, 12.5),
        _act("delayed.restore", 12.5, 13.0), _act("delayed.verify", 13.0, 13.2), _act("delayed.resume", 13.2, 14),
        _act("restore.decision", 20, 20, "restore1"), _act("restore.provision", 20.5, 21, "restore1"),
        _act("restore.fetch", 21, 25, "restore1"), _act("restore.replay", 25, 30, "restore1"),
    ]
    d = delayed_recovery(evs)
    assert d is not None and d.ok and d.node == "node3"
    assert d.total_s == pytest.approx(2.0) and d.from_drop_s == pytest.approx(3.0)
    assert list(d.phases) == ["delayed.pause", "delayed.roll_forward", "delayed.dump", "delayed.restore",
                              "delayed.resume"]
    assert d.phases_text().startswith("pause 0.10 s, roll_forward 1.00 s")
    p = pitr_recovery(evs)
    assert p is not None and p.total_s == pytest.approx(10.0) and p.from_drop_s == pytest.approx(20.0)
    s = replica_section(evs)
    assert (s.delayed_recovery_s, s.pitr_s) == (pytest.approx(2.0), pytest.approx(10.0))


def test_a_recovery_whose_restore_failed_has_no_time() -> None:
    evs: list[Any] = [_drop(1), _act("delayed.decision", 2, 2), _act("delayed.restore", 2, 3, ok=False)]
    d = delayed_recovery(evs)
    assert d is not None and not d.ok and d.total_s is None
    assert delayed_recovery([_drop(1)]) is None


def _tree(t: float, **receiver: str | None) -> StreamingTree:
    return StreamingTree(at=_s(t), primary="node1", links=[
        ReplicationLink(replica="node2", planned="node1", receiver_from="node1", receiver_status="streaming",
                        sender="node1"),
        ReplicationLink(replica="node3", planned="node2", receiver_from=receiver.get("frm", "node2"),
                        receiver_status="streaming", sender="node2", apply_delay_s=0)])


def _read(metric: str, t: float, v: int) -> MetricReading:
    return MetricReading(at=_s(t), metric=metric, node="node3", value=v)


def test_the_leaf_s_lag_after_its_upstream_died() -> None:
    kill = FaultEvent(at=_s(5.1), began=_s(5), fault="kill", target="node2", phase="inject")
    evs: list[Any] = [_tree(1), _read("replay_lag_bytes", 4, 100), kill]
    evs += [_read("replay_lsn", 5.5, 900)]  # still replaying what it had received
    for i, t in enumerate((6.5, 7.0, 7.5)):
        evs += [_read("replay_lsn", t, 1000), _read("replay_lag_bytes", t, 1000 * (i + 1)),
                _read("replay_age_ms", t, 1500 + 500 * i)]
    [lag] = leaf_lags(evs)
    assert (lag.leaf, lag.upstream, lag.max_lag_bytes, lag.max_replay_age_s) == ("node3", "node2", 3000, 2.5)
    assert lag.replay_stalled is True
    moving = evs + [_read("replay_lsn", 8, 2000)]
    assert leaf_lags(moving)[0].replay_stalled is False
    assert leaf_lags([_tree(1)]) == []  # no fault on the upstream: nothing to say


def test_the_tree_says_what_the_nodes_said() -> None:
    assert tree_text(_tree(1)) == "node2 <- node1 (streaming); node3 <- node2 (streaming)"
    odd = _tree(1, frm="node1")
    assert "node3 <- node1 (streaming, planned node2, sender node2)" in tree_text(odd)
    assert tree_text(None) == "not observed"


def test_first_record_of_the_drop_in_pg_waldump_output() -> None:
    out = """rmgr: Heap        len (rec/tot):     59/    59, tx:        758, lsn: 0/0156B410, prev 0/0156B3D8, desc: INSERT off 3
rmgr: Transaction len (rec/tot):     34/    34, tx:        758, lsn: 0/0156B450, prev 0/0156B410, desc: COMMIT
rmgr: Standby     len (rec/tot):     42/    42, tx:          0, lsn: 0/0156B498, prev 0/0156B450, desc: LOCK xid 759 db 5 rel 16390
rmgr: Heap        len (rec/tot):     54/    54, tx:        759, lsn: 0/0156B4C8, prev 0/0156B498, desc: DELETE off 7
rmgr: Transaction len (rec/tot):    322/   322, tx:        759, lsn: 0/0156C000, prev 0/0156B4C8, desc: COMMIT
"""
    assert first_record_of(759, out) == "0/0156B498"
    assert first_record_of(758, out) == "0/0156B410"
    assert first_record_of(75, out) is None


def test_the_scorecard_counts_a_delayed_replica_recovery_as_point_in_time_recovery() -> None:
    _, crits = scorecard([{"scenario": "s", "status": "passed", "tags": ["delayed_replica"]}])
    pitr = next(c for c in crits if c.name == "point-in-time recovery")
    assert (pitr.verdict, pitr.evidence) == ("met", "1/1 drills passed")
    _, crits = scorecard([{"scenario": "s", "status": "failed", "tags": ["delayed_replica"]}])
    assert next(c for c in crits if c.name == "point-in-time recovery").verdict == "missed"


def test_a_delay_that_does_not_parse_is_named_in_the_step() -> None:
    import harness.steps.replicas  # noqa: F401  (registers its phrasings)
    from harness.steps.plugin import _suggest

    hint = _suggest('Step definition is not found: Given "replica 2 applies WAL 5 fortnights late". '
                    'Line 4 in scenario "x"')
    assert "bad value for 'delay'" in hint and "'5 fortnights'" in hint and "a duration such as" in hint


def test_the_failover_prefers_a_replica_that_applies_wal_at_once_on_a_tie() -> None:
    from harness.recovery.failover import most_advanced

    lsns = {"node2": "0/3000060", "node3": "0/3000060"}
    delays = {"node2": 300.0, "node3": 0.0}
    assert most_advanced(lsns, delays.__getitem__) == "node3"
    assert most_advanced(lsns) == "node2"  # no delays known: the first by name, as before
    assert most_advanced({"node2": "0/3000070", "node3": "0/3000060"}, delays.__getitem__) == "node2"
