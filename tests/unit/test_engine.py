"""Fast unit tests of the engine on the fake runtime: no Docker, no network, no PostgreSQL.

Roles, faults and the fault set, environment files, step phrasings, waiting and the journal.
They complement, and do not replace, tests against real containers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal, cast

import pytest

# The step modules register their phrasings with pytest-bdd when imported.
import harness.steps.checks
import harness.steps.faults
import harness.steps.plugin
import harness.steps.recovery
import harness.steps.topology
from harness.environment import (
    ENVIRONMENTS_DIR,
    Environment,
    TopologySpec,
    load_environment,
)
from harness.errors import (
    CommandFailed,
    EnvironmentFileError,
    UnknownTarget,
    WaitTimeout,
)
from harness.faults import FaultSet, KillNode, KillPostmaster, StopPostgres
from harness.history import (
    ActionEvent,
    FaultEvent,
    FinalRead,
    History,
    Note,
    ProbeOp,
    Stamp,
    now,
    seq_ranges,
)
from harness.runtime.base import ExecResult
from harness.runtime.docker import DockerNode, DockerRuntime
from harness.runtime.fake import FakeNode, FakeRuntime
from harness.steps.types import parse, parse_duration
from harness.topology.streaming import StreamingCluster
from harness.wait import wait_until

# -- a cluster on the fake runtime -------------------------------------------------------------


def make_cluster(replicas: int = 2, *, seed: int = 7,
                 replication: Literal["async", "sync"] = "async") -> tuple[StreamingCluster, FakeRuntime]:
    """A StreamingCluster whose nodes are fakes, as if ``start()`` had created them."""
    rt = FakeRuntime("unit")
    env = Environment(name="unit", topology=TopologySpec(replicas=replicas, replication=replication))
    cluster = StreamingCluster(cast(DockerRuntime, rt), env, History(), seed=seed)
    nodes = rt.create_nodes([(name, "fake", {}) for name in cluster.names])
    # start() would also wait for streaming over SQL; the roles need only the nodes.
    cluster._nodes = {n.name: cast(DockerNode, n) for n in nodes}
    return cluster, rt


def fake(rt: FakeRuntime, name: str) -> FakeNode:
    return rt.node(name)


# -- the fake runtime itself -------------------------------------------------------------------


def test_fake_runtime_records_lifecycle_and_teardown() -> None:
    rt = FakeRuntime("r1")
    a, b = rt.create_nodes([("a", "img", {"K": "v"}), ("b", "img", {})])
    assert a.address() != b.address() and a.address().startswith("127.0.0.")
    assert a.env == {"K": "v"} and a.is_running()
    a.kill()
    assert not a.is_running()
    assert a.exec(["true"]).exit_code != 0  # nothing runs on a dead host
    a.start()
    b.pause()
    assert a.is_running() and not b.is_running()
    b.exec_result = ExecResult(3, "nope")
    b.resume()
    assert b.exec(["false"], user="root") == ExecResult(3, "nope")
    assert a.calls == ["kill", "exec", "start"]
    assert b.calls == ["pause", "resume", "exec"] and b.execs[0].user == "root"
    rt.teardown()
    assert rt.nodes() == [] and rt.teardowns == 1 and a.removed
    assert rt.reap(everything=True).total == 0 and rt.reaps == [True]


# -- role resolution ---------------------------------------------------------------------------


def test_the_primary_in_any_case() -> None:
    cluster, _ = make_cluster()
    assert cluster.resolve("the primary") == "node1"
    assert cluster.resolve("The primary") == "node1"
    assert cluster.resolve("  THE PRIMARY ") == "node1"


def test_a_replica_is_never_the_primary_and_is_seeded() -> None:
    c1, _ = make_cluster(3, seed=11)
    c2, _ = make_cluster(3, seed=11)
    picks1 = [c1.resolve("a replica") for _ in range(40)]
    picks2 = [c2.resolve("a replica") for _ in range(40)]
    assert picks1 == picks2
    assert "node1" not in picks1
    assert set(picks1) <= {"node2", "node3", "node4"} and len(set(picks1)) > 1
    c1.roles.promoted("node3")
    assert "node3" not in {c1.resolve("a replica") for _ in range(40)}


def test_replica_n_and_node_names() -> None:
    cluster, _ = make_cluster(2)
    assert cluster.resolve("replica 1") == "node2"
    assert cluster.resolve("replica 2") == "node3"
    assert cluster.resolve("node3") == "node3"
    with pytest.raises(UnknownTarget) as exc:
        cluster.resolve("replica 3")
    msg = str(exc.value)
    assert "replica 3" in msg and "node2" in msg and "node3" in msg


def test_unknown_target_lists_choices() -> None:
    cluster, _ = make_cluster(2)
    with pytest.raises(UnknownTarget, match="node1, node2, node3"):
        cluster.resolve("node9")
    with pytest.raises(UnknownTarget):
        cluster.resolve("the sync replica")  # async cluster: there is none


def test_old_primary_only_after_a_failover() -> None:
    cluster, _ = make_cluster(2)
    with pytest.raises(UnknownTarget, match="no old primary"):
        cluster.resolve("the old primary")
    cluster.roles.promoted("node2")
    assert cluster.resolve("the old primary") == "node1"
    assert cluster.resolve("the primary") == "node2"
    assert cluster.resolve("replica 1") == "node1"
    assert cluster.resolve("replica 2") == "node3"


# -- the fault set -----------------------------------------------------------------------------


class RecordingFault:
    """A fault that only notes what happened, in a log shared by the test."""

    def __init__(self, name: str, log: list[str], *, one_shot: bool = False, delay: float = 0.0,
                 heal_error: Exception | None = None) -> None:
        self.name, self.target, self.one_shot = name, "node1", one_shot
        self.log, self.delay, self.heal_error = log, delay, heal_error
        self.returned_at = 0.0

    def inject(self) -> str:
        time.sleep(self.delay)
        self.log.append(f"inject {self.name}")
        self.returned_at = time.monotonic()
        return f"{self.name} injected"

    def heal(self) -> str:
        self.log.append(f"heal {self.name}")
        if self.heal_error is not None:
            raise self.heal_error
        return f"{self.name} healed"


def test_inject_is_stamped_after_inject_returned() -> None:
    history = History()
    fault = RecordingFault("slow", [], delay=0.05)
    t0 = time.monotonic()
    event = FaultSet(history).inject(fault)
    assert event.phase == "inject" and event.fault == "slow" and event.detail == "slow injected"
    assert event.at.t >= fault.returned_at
    assert event.at.t - t0 >= 0.05
    assert history.of(FaultEvent) == [event]


def test_heal_all_newest_first_and_skips_one_shot() -> None:
    log: list[str] = []
    fs = FaultSet(History())
    for f in (RecordingFault("a", log), RecordingFault("crash", log, one_shot=True), RecordingFault("b", log)):
        fs.inject(f)
    assert fs.heal_all() == []
    assert [x for x in log if x.startswith("heal")] == ["heal b", "heal a"]
    assert fs.active == []
    heals = [e for e in fs.history.of(FaultEvent) if e.phase == "heal"]
    assert [e.fault for e in heals] == ["b", "a"]


def test_heal_all_keeps_going_after_an_error() -> None:
    log: list[str] = []
    fs = FaultSet(History())
    fs.inject(RecordingFault("a", log))
    fs.inject(RecordingFault("bad", log, heal_error=RuntimeError("nft said no")))
    fs.inject(RecordingFault("c", log))
    errors = fs.heal_all()
    assert [x for x in log if x.startswith("heal")] == ["heal c", "heal bad", "heal a"]
    assert len(errors) == 1 and "bad" in errors[0] and "nft said no" in errors[0]


def test_leaving_the_block_by_an_exception_heals() -> None:
    log: list[str] = []
    with pytest.raises(KeyError), FaultSet(History()) as fs:
        fs.inject(RecordingFault("partition", log))
        raise KeyError("step failed")
    assert log == ["inject partition", "heal partition"]


# -- process faults on the fake runtime -------------------------------------------------------


def test_kill_node_kills_and_heal_boots() -> None:
    cluster, rt = make_cluster()
    fault = KillNode(cluster, cluster.resolve("the primary"))
    fs = FaultSet(cluster.history)
    fs.inject(fault)
    node = fake(rt, "node1")
    assert node.calls == ["kill"] and not node.is_running()
    assert fs.active == []  # one-shot: recovery, not the fault set, brings it back
    fault.heal()
    assert node.calls == ["kill", "start"] and node.is_running()
    assert fake(rt, "node2").calls == []


def test_kill_postmaster_reads_the_pid_file() -> None:
    cluster, rt = make_cluster()
    node = fake(rt, "node2")
    node.responder = lambda cmd: ExecResult(0, "4242\n") if "postmaster.pid" in " ".join(cmd) else None
    detail = KillPostmaster(cluster, "node2").inject()
    assert any("postmaster.pid" in c and "kill -KILL" in c for c in node.commands())
    assert "4242" in detail and "node2" in detail
    assert node.is_running()  # only PostgreSQL died, not the host


def test_kill_postmaster_failure_names_the_node() -> None:
    cluster, rt = make_cluster()
    fake(rt, "node3").exec_result = ExecResult(1, "head: cannot open postmaster.pid")
    with pytest.raises(CommandFailed) as exc:
        KillPostmaster(cluster, "node3").inject()
    assert exc.value.node == "node3" and "node3" in str(exc.value) and exc.value.exit_code == 1
    assert "cannot open postmaster.pid" in str(exc.value)


def test_stop_postgres_runs_pg_ctl_stop() -> None:
    cluster, rt = make_cluster()
    StopPostgres(cluster, "node1").inject()
    cmds = fake(rt, "node1").commands()
    assert len(cmds) == 1 and cmds[0].startswith("pg_ctl") and "-m fast" in cmds[0] and cmds[0].endswith("stop")


def test_stop_postgres_failure_names_the_node_and_logs() -> None:
    cluster, rt = make_cluster()
    node = fake(rt, "node2")
    node.exec_result = ExecResult(1, "pg_ctl: could not send stop signal")
    node.log_text = "FATAL: the node's own log line"
    with pytest.raises(CommandFailed) as exc:
        StopPostgres(cluster, "node2").inject()
    msg = str(exc.value)
    assert exc.value.node == "node2" and "node2" in msg
    assert "could not send stop signal" in msg and "the node's own log line" in msg


# -- environment files -------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "env.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_environment_loads(tmp_path: Path) -> None:
    p = write(tmp_path, "topology:\n  replicas: 3\n  replication: sync\n  sync_quorum: 2\nprobe:\n  interval_ms: 20\n",
              name="three.yaml")
    env = load_environment(p)
    assert env.name == "three"  # defaults to the file's stem
    assert (env.topology.replicas, env.topology.replication, env.topology.sync_quorum) == (3, "sync", 2)
    assert env.probe.interval_ms == 20 and env.source == str(p)


def test_bundled_environments_load() -> None:
    names = sorted(f.stem for f in ENVIRONMENTS_DIR.glob("*.yaml"))
    assert names
    for name in names:
        assert load_environment(name).name == name


def test_bad_value_names_file_line_and_field(tmp_path: Path) -> None:
    p = write(tmp_path, "name: bad\ndescription: x\ntopology:\n  replication: async\n  replicas: -1\n")
    with pytest.raises(EnvironmentFileError) as exc:
        load_environment(p)
    assert f"{p}:5: topology.replicas:" in str(exc.value)


def test_unknown_field_is_reported_with_its_line(tmp_path: Path) -> None:
    p = write(tmp_path, "name: typo\n# a comment\ntopolgy:\n  replicas: 2\n")
    with pytest.raises(EnvironmentFileError) as exc:
        load_environment(p)
    assert f"{p}:3: topolgy:" in str(exc.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "name: t\ntopology:\n  replicas: 2\n replication: async\n")
    with pytest.raises(EnvironmentFileError) as exc:
        load_environment(p)
    assert f"{p}:4" in str(exc.value)


def test_sync_without_replicas_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "topology:\n  replicas: 0\n  replication: sync\n")
    with pytest.raises(EnvironmentFileError, match="at least one replica") as exc:
        load_environment(p)
    assert f"{p}:1: topology" in str(exc.value)


def test_a_list_is_not_an_environment(tmp_path: Path) -> None:
    p = write(tmp_path, "- name: a\n- name: b\n")
    with pytest.raises(EnvironmentFileError, match="mapping"):
        load_environment(p)


def test_unknown_environment_lists_the_known_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EnvironmentFileError) as exc:
        load_environment("no-such-environment")
    msg = str(exc.value)
    assert "no-such-environment" in msg and "known:" in msg
    for f in ENVIRONMENTS_DIR.glob("*.yaml"):
        assert f.stem in msg


# -- durations and step phrasings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("50 ms", 0.05), ("2.5 seconds", 2.5), ("15 minutes", 900.0), ("1 hour", 3600.0), ("1 h", 3600.0),
     ("0.5 s", 0.5), ("20ms", 0.02)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 parsecs", "ten seconds", "5", "-1 s", "1 s 2 ms", ""])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_duration_step_argument() -> None:
    step = parse("the write RTO is under {limit:Duration}")
    assert step.parse_arguments("the write RTO is under 2.5 seconds") == {"limit": pytest.approx(2.5)}
    assert step.parse_arguments("the write RTO is under 50 ms") == {"limit": pytest.approx(0.05)}
    assert not step.is_matching("the write RTO is under soon")


def test_cluster_and_probe_phrasings() -> None:
    cluster = parse("a PostgreSQL cluster with {primaries:d} primary and {replicas:d} {mode:Mode} replicas")
    assert cluster.parse_arguments("a PostgreSQL cluster with 1 primary and 3 async replicas") == {
        "primaries": 1, "replicas": 3, "mode": "async"}
    assert cluster.parse_arguments("a PostgreSQL cluster with 1 primary and 2 sync replicas")["mode"] == "sync"
    assert cluster.parse_arguments("a PostgreSQL cluster with 1 primary and 2 synchronous replicas")["mode"] == "sync"
    probe = parse("the write probe is running every {interval:Duration}")
    assert probe.parse_arguments("the write probe is running every 20 ms") == {"interval": pytest.approx(0.02)}


def test_target_phrasing() -> None:
    kill = parse("I kill {target:Target}")
    assert kill.parse_arguments("I kill replica 2") == {"target": "replica 2"}
    assert kill.parse_arguments("I kill the old primary") == {"target": "the old primary"}
    # The Target pattern must not swallow the longer phrasing of another step.
    assert not kill.is_matching("I kill the postmaster on the primary")
    assert parse("I kill the postmaster on {target:Target}").parse_arguments(
        "I kill the postmaster on the primary") == {"target": "the primary"}


def test_unknown_step_suggests_the_closest_phrasing() -> None:
    hint = harness.steps.plugin._suggest(
        'Step definition is not found: When "I kil the primary". Line 9 in scenario "crash"')
    assert "did you mean" in hint and "I kill {target:Target}" in hint


def test_unknown_step_suggests_plain_string_steps() -> None:
    hint = harness.steps.plugin._suggest(
        'Step definition is not found: When "the harness failed over". Line 12 in scenario "failover"')
    assert "the harness fails over" in hint


def test_duration_units_in_any_case() -> None:
    step = parse("I wait {duration:Duration}")
    assert step.is_matching("I wait 2 Seconds")
    assert step.parse_arguments("I wait 2 Seconds") == {"duration": pytest.approx(2.0)}


# -- waiting -----------------------------------------------------------------------------------


def test_wait_until_returns_the_truthy_value() -> None:
    answers = iter([None, 0, "", "node2"])
    calls: list[int] = []

    def check() -> str | int | None:
        calls.append(1)
        return next(answers)

    assert wait_until(check, timeout=5, interval=0.001, what="a primary") == "node2"
    assert len(calls) == 4


def test_wait_until_timeout_names_what_and_the_last_error() -> None:
    def check() -> bool:
        raise ConnectionRefusedError("port 5432 refused")

    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as exc:
        wait_until(check, timeout=0.1, interval=0.01, what="node2 to accept connections",
                   describe=lambda: "recovery: unknown")
    assert time.monotonic() - t0 >= 0.1
    msg = str(exc.value)
    assert "node2 to accept connections" in msg and "port 5432 refused" in msg and "recovery: unknown" in msg


def test_timeout_multiplier_stretches_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TIMEOUT_MULTIPLIER", "2")
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout):
        wait_until(lambda: False, timeout=0.15, interval=0.01, what="never")
    elapsed = time.monotonic() - t0
    assert 0.29 <= elapsed < 3  # 0.15 s doubled; a missing multiplier stops at ~0.15 s


# -- the history and its journal ---------------------------------------------------------------


def test_journal_round_trip_of_every_event_kind(tmp_path: Path) -> None:
    t = now()
    later = Stamp(t=t.t + 0.5, wall=t.wall + 0.5)
    events = [
        ProbeOp(at=t, probe="write", seq=1, node="node1", outcome="ok", end=later),
        ProbeOp(at=t, probe="read", seq=2, node=None, outcome="timeout", end=later, error="timed out", value=1),
        FaultEvent(at=t, fault="kill", target="node1", phase="inject", detail="SIGKILL"),
        ActionEvent(at=t, end=later, action="failover", target="node2", outcome="ok", detail="promoted"),
        FinalRead(at=later, node="node2", present=[(1, 3), (5, 7)]),
        Note(at=later, name="window end"),
    ]
    journal = tmp_path / "journal.jsonl"
    history = History(journal=journal)
    for e in events:
        history.add(e)
    history.close()
    assert len(journal.read_text().splitlines()) == len(events)
    loaded = History.load(journal)
    assert loaded.events() == events
    assert [type(e) for e in loaded] == [type(e) for e in events]
    assert loaded.of(FinalRead)[0].present == [(1, 3), (5, 7)]


def test_seq_ranges() -> None:
    assert seq_ranges([5, 1, 2, 3, 7, 6]) == [(1, 3), (5, 7)]
    assert seq_ranges([4, 4, 4]) == [(4, 4)]
    assert seq_ranges([]) == []


def test_preflight_refuses_a_nearly_full_host_disk(tmp_path: Path) -> None:
    from harness.errors import SetupError
    from harness.runtime.preflight import check_host_disk

    check_host_disk([tmp_path / "not" / "yet"], min_free_gb=0.0001)  # a missing path: its parent is checked
    with pytest.raises(SetupError) as err:
        check_host_disk([tmp_path], min_free_gb=10**9)
    assert "nearly full" in str(err.value) and str(tmp_path) in str(err.value)
