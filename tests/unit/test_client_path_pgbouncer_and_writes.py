"""Unit tests (no Docker) of PgBouncer in front of the primary (its failover hook), the read
side of a path, and which writes a path sent to a deposed primary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.clients import pgbouncer as pgb
from harness.clients.libpq import LibpqPath
from harness.clients.part import ClientsPart, use_client_path
from harness.clients.pgbouncer import LeaderWatcher, PgbouncerPath, pgbouncer_config, route
from harness.clients.writes import path_writes
from harness.drill import Drill
from harness.environment import PgbouncerSettings
from harness.errors import SetupError
from harness.history import (ActionEvent, ClientPathChosen, Event, FaultEvent, HaView, History, NodeAddresses, Note,
                             ProbeOp, Stamp)
from harness.topology.roles import Roles
from tests.unit.test_conformance import TOPOLOGIES

ADDR = {"node1": "10.0.0.1", "node2": "10.0.0.2", "node3": "10.0.0.3"}


def st(t: float) -> Stamp:
    return Stamp(t=t, wall=1_700_000_000.0 + t)


class FakeCluster:
    kind = "streaming"
    names = ["node1", "node2", "node3"]

    def __init__(self, primary: str = "node1") -> None:
        self.roles = Roles(primary)

    @property
    def primary(self) -> str:
        p = self.roles.primary
        assert p is not None
        return p

    def address(self, name: str) -> str:
        if name in self.roles.down:
            raise SetupError(f"{name} is down")
        return ADDR[name]


class Exec:
    def __init__(self, code: int = 0) -> None:
        self.exit_code, self.output = code, b""


class FakeContainer:
    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.configs: list[str] = []

    def exec_run(self, cmd: list[str], environment: dict[str, str], user: str) -> Exec:
        self.configs.append(environment["HARNESS_CONFIG"])
        return Exec(self.code)


class FakeNode:
    name = "pgbouncer"

    def __init__(self, code: int = 0) -> None:
        self.container = FakeContainer(code)

    def address(self) -> str:
        return "10.0.0.9"


def started(cluster: FakeCluster, history: History, code: int = 0) -> tuple[PgbouncerPath, FakeNode]:
    path = PgbouncerPath(None, None, history, PgbouncerSettings(), cluster=cluster)  # type: ignore[arg-type]
    node = FakeNode(code)
    path.node = node  # type: ignore[assignment]  # started, as __enter__ would have
    return path, node


def test_pgbouncer_in_front_of_the_primary_points_at_the_nodes_themselves() -> None:
    ini = pgbouncer_config(PgbouncerSettings(), write_to="10.0.0.1", read_to="10.0.0.2")
    assert "postgres = host=10.0.0.1 port=5432 dbname=postgres" in ini
    assert "postgres_ro = host=10.0.0.2 port=5432 dbname=postgres" in ini
    assert "haproxy" not in ini
    path = PgbouncerPath(None, None, History(), PgbouncerSettings(), cluster=FakeCluster())  # type: ignore[arg-type]
    assert path.name == "pgbouncer" and path.targets == ("10.0.0.1", "10.0.0.2") and path.components == {}


def test_the_route_skips_nodes_that_are_down_and_falls_back_to_the_primary_for_reads() -> None:
    c = FakeCluster()
    assert route(c) == ("10.0.0.1", "10.0.0.2")  # type: ignore[arg-type]
    c.roles.took_down(["node1"])
    c.roles.promoted("node2")
    assert route(c) == ("10.0.0.2", "10.0.0.3")  # type: ignore[arg-type]
    c.roles.took_down(["node3"])
    assert route(c) == ("10.0.0.2", "10.0.0.2")  # type: ignore[arg-type]


def test_a_failover_repoints_pgbouncer_once_through_its_admin_console(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(pgb, "admin", lambda address, command, timeout_s=1: sent.append((address, command)) or [])
    c, history = FakeCluster(), History()
    path, node = started(c, history)
    assert path.follow(c) is False and sent == []  # nothing moved: nothing sent
    c.roles.took_down(["node1"])
    c.roles.promoted("node2")
    assert path.follow(c) is True
    assert path.follow(c) is False  # the failover tells it twice (promoted, then done): one RELOAD
    assert sent == [("10.0.0.9", "RELOAD")]
    assert "postgres = host=10.0.0.2 port=5432" in node.container.configs[-1]
    assert "postgres_ro = host=10.0.0.3 port=5432" in node.container.configs[-1]
    (action,) = [a for a in history.of(ActionEvent) if a.action == "pgbouncer.repoint"]
    assert action.outcome == "ok" and action.target == "10.0.0.2"


def test_a_repoint_that_fails_is_a_setup_error_and_a_failed_action(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(address: str, command: str, timeout_s: int = 1) -> list[dict[str, object]]:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(pgb, "admin", refuse)
    c, history = FakeCluster(), History()
    path, _ = started(c, history)
    with pytest.raises(SetupError, match="pgbouncer: repointing to 10.0.0.2 failed: connection refused"):
        path.repoint("10.0.0.2", "10.0.0.3")
    assert path.targets == ("10.0.0.1", "10.0.0.2")  # unchanged: the next look tries again
    assert [a.outcome for a in history.of(ActionEvent)] == ["failed"]
    path2, _ = started(c, History(), code=1)
    with pytest.raises(SetupError, match="could not rewrite pgbouncer.ini"):
        path2.repoint("10.0.0.2", "10.0.0.3")


def test_the_patroni_watcher_waits_for_a_leader_that_accepts_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgb, "admin", lambda address, command, timeout_s=1: [])
    c = FakeCluster()
    path, _ = started(c, History())
    watcher = LeaderWatcher(path, c)  # type: ignore[arg-type]
    assert watcher.check() is False  # the same leader
    c.roles.took_down(["node1"])
    assert watcher.check() is False  # no leader with an address (an election)
    c.roles.promoted("node2")

    def in_recovery(value: bool) -> Any:
        class Conn:
            def __enter__(self) -> Conn:
                return self

            def __exit__(self, *a: object) -> None:
                return None

            def execute(self, q: str) -> Any:
                class Cur:
                    def fetchone(self) -> tuple[bool]:
                        return (value,)
                return Cur()
        return lambda *a, **k: Conn()

    monkeypatch.setattr(pgb.psycopg, "connect", in_recovery(True))
    assert watcher.check() is False  # still promoting
    monkeypatch.setattr(pgb.psycopg, "connect", in_recovery(False))
    assert watcher.check() is True and path.targets == ("10.0.0.2", "10.0.0.3")


def test_the_drill_tells_the_client_path_when_the_primary_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drill = Drill("u", "u", tmp_path / "d", TOPOLOGIES["streaming"]())
    part = drill.add_part(ClientsPart(drill))
    followed: list[object] = []
    c = FakeCluster()
    path, _ = started(c, History())
    monkeypatch.setattr(path, "follow", lambda cluster: followed.append(cluster) or True)
    monkeypatch.setattr(Drill, "cluster", property(lambda self: c))
    part.path = path
    drill.clients_moved()
    assert followed == [c]


def test_reads_go_to_the_read_side_of_the_path(tmp_path: Path) -> None:
    drill = Drill("u", "u", tmp_path / "d", TOPOLOGIES["streaming"]())
    part = use_client_path(drill, "libpq")
    c = FakeCluster()
    part.path = LibpqPath(c)  # started, as _start would have
    part._settings = part.settings
    label, info = part.read_endpoint(c)  # type: ignore[arg-type]
    assert label == "libpq-ro" and "target_session_attrs=prefer-standby" in info
    assert "10.0.0.1,10.0.0.2,10.0.0.3" in info
    assert "read-write" in part.primary_endpoint(c)[1]  # type: ignore[arg-type]
    direct = Drill("v", "v", tmp_path / "e", TOPOLOGIES["streaming"]())
    ideal = direct.add_part(ClientsPart(direct))
    assert ideal.read_endpoint(c) == ("node1", "10.0.0.1")  # type: ignore[arg-type]  # direct: the primary


def writes(node_addr: str, times: list[float], first: int) -> list[Event]:
    return [ProbeOp(at=st(t - 0.01), end=st(t), probe="write", seq=first + i, node="haproxy", outcome="ok",
                    server=node_addr) for i, t in enumerate(times)]


def split_brain(*, deposed_after: list[float], new_after: list[float], moved: Event) -> list[Event]:
    evs: list[Event] = [Note(at=st(0), name="window_start", detail=""), ClientPathChosen(at=st(0), path="haproxy"),
                        NodeAddresses(at=st(0), addresses={v: k for k, v in ADDR.items()})]
    evs += writes("10.0.0.1", [0.1 * i for i in range(1, 10)], 1)  # before the fault: node1 the primary
    evs.append(FaultEvent(at=st(1.0), began=st(1.0), fault="cut", target="node1", phase="inject", detail=""))
    evs += writes("10.0.0.1", [1.1, 1.2], 10)  # between the fault and the failover: node1 still the primary
    evs.append(moved)
    evs += writes("10.0.0.1", deposed_after, 100) + writes("10.0.0.2", new_after, 200)
    evs.append(Note(at=st(5.0), name="window_end", detail=""))
    return sorted(evs, key=lambda e: e.at.t)


def test_writes_sent_to_the_deposed_primary_after_the_failover_are_counted_per_server() -> None:
    failover = ActionEvent(at=st(1.3), end=st(1.5), action="failover", target="node2", outcome="ok")
    got = path_writes(split_brain(deposed_after=[1.6, 1.7, 1.8, 2.5], new_after=[3.0], moved=failover))
    assert got is not None
    assert (got.path, got.deposed, got.new_primary) == ("haproxy", "node1", "node2")
    assert got.deposed_after_s == pytest.approx(0.5)
    by = {s.node: s for s in got.servers}
    assert (by["node1"].writes, by["node1"].after_deposed, by["node1"].address) == (15, 4, "10.0.0.1")
    assert (by["node2"].writes, by["node2"].after_deposed) == (1, 1)
    assert got.to_deposed == 4 and got.to_deposed_seqs == [(100, 103)]


def test_a_path_that_followed_the_new_leader_sent_nothing_to_the_deposed_primary() -> None:
    leader = HaView(at=st(1.4), leader="node2", members={})
    got = path_writes(split_brain(deposed_after=[], new_after=[1.6, 1.7], moved=leader))
    assert got is not None and got.new_primary == "node2" and got.to_deposed == 0 and got.to_deposed_seqs == []


def test_without_a_fault_there_is_nothing_to_say_about_a_deposed_primary() -> None:
    evs: list[Event] = [Note(at=st(0), name="window_start", detail="")] + writes("10.0.0.1", [0.1, 0.2], 1)
    assert path_writes(evs) is None


def test_the_dr_regions_promotion_deposes_the_old_primary_too() -> None:
    promote = ActionEvent(at=st(1.3), end=st(1.5), action="dr.promote", target="node2", outcome="ok")
    got = path_writes(split_brain(deposed_after=[1.6], new_after=[2.0, 2.1], moved=promote))
    assert got is not None and (got.deposed, got.new_primary) == ("node1", "node2") and got.to_deposed == 1
