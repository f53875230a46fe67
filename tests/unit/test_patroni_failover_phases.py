"""Failover phases, timelines and rewound writes over hand-made histories."""

from __future__ import annotations

from harness.checkers.failover import failover_phases, views
from harness.checkers.measure import measure
from harness.checkers.rpo import rpo
from harness.checkers.splitbrain import fanout_final_read, rewound_writes
from harness.history import Event, FaultEvent, FinalRead, HaSettings, HaView, ProbeOp, Stamp


def st(t: float) -> Stamp:
    return Stamp(t=t, wall=1000 + t)


def view(t: float, leader: str | None, **members: tuple[str, str, int]) -> HaView:
    return HaView(at=st(t), leader=leader, members=members)


def write(t: float, seq: int, node: str, outcome: str = "ok", probe: str = "write") -> ProbeOp:
    return ProbeOp(at=st(t), end=st(t + 0.01), probe=probe, seq=seq, node=node, outcome=outcome)  # type: ignore[arg-type]


def failover(extra: list[Event] | None = None) -> list[Event]:
    """node1 leads on timeline 1, is killed at 10; its key expires at 20, node2 leads at 21,
    is promoted onto timeline 2 at 22; node1 is back as node2's replica at 30."""
    r = ("replica", "running", 1)
    ev: list[Event] = [
        HaSettings(at=st(0), ttl=10),
        view(1, "node1", node1=("leader", "running", 1), node2=r, node3=r),
        FaultEvent(at=st(10), began=st(9.95), fault="kill", target="node1", phase="inject"),
        view(20, None, node2=r, node3=r),
        view(21, "node2", node2=("leader", "running", 1), node3=r),
        view(22, "node2", node2=("leader", "running", 2), node3=("replica", "running", 2)),
        view(30, "node2", node1=("replica", "running", 2), node2=("leader", "running", 2),
             node3=("replica", "running", 2)),
    ]
    ev += [write(t / 2, int(t), "node1") for t in range(2, 20)]  # acks on node1 until 9.5
    ev += [write(10 + t / 2, 100 + t, "node1", "fail") for t in range(23)]
    ev += [write(21.5 + t / 2, 200 + t, "node2") for t in range(10)]
    return ev + (extra or [])


def test_phases_from_the_watched_view() -> None:
    p = failover_phases(failover())
    assert (p.old_leader, p.new_leader) == ("node1", "node2")
    assert p.detection_s == 10 and p.new_leader_s == 11
    assert p.first_write_s is not None and abs(p.first_write_s - 11.51) < 1e-6
    assert p.rejoin_s == 20
    assert p.timelines_before == {"node1": 1, "node2": 1, "node3": 1}
    assert p.timelines_after == {"node1": 2, "node2": 2, "node3": 2}
    # The election view still showed timeline 1; the leader's run shows the one it led on.
    assert [(c.leader, c.timeline) for c in p.leaders] == [(None, None), ("node2", 2)]
    assert p.abandoned_forks == 0 and p.ttl_s == 10
    assert "detection 10.00 s" in p.reason


def test_no_rejoin_until_the_old_leader_follows_the_new_timeline() -> None:
    ev = [e for e in failover() if not (isinstance(e, HaView) and e.at.t == 30)]
    ev.append(view(30, "node2", node1=("replica", "running", 1), node2=("leader", "running", 2)))
    assert failover_phases(ev).rejoin_s is None


def test_leadership_taken_back_is_an_abandoned_fork() -> None:
    # The freeze finding: node1 thaws and takes the key back on timeline 1 after node2 led on 2.
    ev = failover([view(35, "node1", node1=("leader", "running", 1), node2=("replica", "running", 2))])
    p = failover_phases(ev)
    assert [c.leader for c in p.leaders] == [None, "node2", "node1"]
    assert p.abandoned_forks == 1


def test_no_view_no_numbers() -> None:
    ev = [e for e in failover() if not isinstance(e, HaView)]
    p = failover_phases(ev)
    assert p.status == "unknown" and p.detection_s is None


def test_measurements_carry_the_phases_and_rto_minus_ttl() -> None:
    ev = failover([FinalRead(at=st(40), node="node2", present=[(2, 19), (200, 209)])])
    m = measure(ev, 0.5)
    assert m.ha_new_leader_s == 11 and m.ha_rejoin_s == 20 and m.ha_ttl_s == 10
    assert m.rto_write_s is not None and m.ha_rto_minus_ttl_s is not None
    assert abs(m.ha_rto_minus_ttl_s - (m.rto_write_s - 10)) < 1e-9


def test_rewound_fanout_writes_count_as_lost() -> None:
    # node1 (deposed) acknowledged fan-out seqs 5-7 that the survivor node2 does not hold.
    fan = [write(1 + i / 10, i, "node1", probe="fanout") for i in range(1, 8)]
    fan += [write(1 + i / 10, i, "node2", probe="fanout") for i in range(1, 4)]
    fan += [write(1.5, 4, "node3", "fail", probe="fanout")]
    read = fanout_final_read("node2", [("node1", s) for s in range(1, 5)] + [("node2", 1), ("node2", 2), ("node2", 3)])
    ev: list[Event] = [*fan, write(1, 1, "node2"), FinalRead(at=st(5), node="node2", present=[(1, 1)]), read]
    lost = rewound_writes(ev)
    assert lost is not None and [(n, s) for n, s, _ in lost.lost] == [("node1", 5), ("node1", 6), ("node1", 7)]
    r = rpo(ev)
    assert r.lost == 3 and r.lost_fanout == 3 and r.status == "invalid"
    assert "3 acknowledged by node1" in r.reason


def test_without_a_fanout_read_rpo_is_unchanged() -> None:
    ev: list[Event] = [write(1, 1, "node1"), FinalRead(at=st(5), node="node1", present=[(1, 1)])]
    r = rpo(ev)
    assert r.lost == 0 and r.lost_fanout is None and r.status == "valid"
    assert rewound_writes(ev) is None


class _FakeCluster:
    """What PatroniWatch asks of the cluster: a /cluster answer with its stamp, and the history."""

    def __init__(self) -> None:
        from harness.history import History

        self.history = History()
        self.answers: list[dict[str, object] | None] = []

    def members_at(self, *, max_age: float) -> tuple[Stamp, dict[str, object] | None]:
        return st(len(self.history)), self.answers.pop(0)


def test_the_watcher_journals_each_change_and_leader_events() -> None:
    from typing import Any, cast

    from harness.history import ActionEvent
    from harness.topology.patroni import PatroniWatch

    c = _FakeCluster()
    m = {"name": "node1", "role": "leader", "state": "running", "timeline": 1}
    r = {"name": "node2", "role": "replica", "state": "running", "timeline": 1, "lag": 0}
    c.answers = [{"members": [m, r]}, {"members": [m, {**r, "lag": 5}]},  # lag alone is no change
                 {"members": [r]}, None, {"members": [{**r, "role": "leader", "timeline": 2}]}]
    w = PatroniWatch(cast(Any, c))
    for _ in range(5):
        w.poll()
    vs = views(c.history.events())
    assert [v.leader for v in vs] == ["node1", None, None, "node2"]
    assert vs[2].unreachable and vs[3].members["node2"] == ("leader", "running", 2)
    acts = [a.action for a in c.history.of(ActionEvent)]
    assert acts == ["patroni: node1 leads", "patroni: no leader", "patroni: node2 leads"]
