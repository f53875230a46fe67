"""The split-brain checker over hand-made histories."""

from __future__ import annotations

from harness.checkers.splitbrain import split_brain, writable_spans
from harness.history import ProbeOp, Stamp


def op(node: str, t: float, outcome: str = "ok", seq: int = 0, probe: str = "fanout") -> ProbeOp:
    return ProbeOp(at=Stamp(t=t, wall=1000 + t), end=Stamp(t=t + 0.01, wall=1000 + t + 0.01), probe=probe,  # type: ignore[arg-type]
                   seq=seq, node=node, outcome=outcome)  # type: ignore[arg-type]


def clean_failover() -> list[ProbeOp]:
    # node1 leads until 1.0, is killed; node2 refuses (read-only) until it is promoted at 1.5.
    h = [op("node1", t / 10) for t in range(0, 10)] + [op("node1", t / 10, "fail") for t in range(10, 20)]
    h += [op("node2", t / 10, "fail") for t in range(0, 15)] + [op("node2", t / 10) for t in range(15, 20)]
    return h


def test_clean_failover_has_one_writer_at_a_time() -> None:
    sb = split_brain(clean_failover())
    assert sb.ok and sb.max_writable == 1
    assert [(s.node, s.acks) for s in sb.spans] == [("node1", 10), ("node2", 5)]


def test_deposed_leader_acknowledging_after_the_new_one_is_caught() -> None:
    # A frozen then thawed node1 acknowledges 3 writes at 2.0-2.2 while node2 already leads.
    h = clean_failover() + [op("node1", 2.0 + i / 10) for i in range(3)] + [op("node2", 2.0 + i / 10) for i in range(3)]
    sb = split_brain(h)
    assert not sb.ok and sb.max_writable == 2
    o = sb.overlaps[0]
    assert {o.a.node, o.b.node} == {"node1", "node2"}
    assert abs(o.start - 2.0) < 1e-9 and o.seconds > 0.2
    assert "node1 and node2" in o.describe() or "node2 and node1" in o.describe()


def test_timeouts_end_a_span_and_other_probes_are_ignored() -> None:
    h = [op("node1", 0.0), op("node1", 0.1, "timeout"), op("node1", 0.2)]
    h += [op("node2", 0.15, probe="write"), op("node2", 0.15, probe="read")]
    spans = writable_spans(h)
    assert [(s.start, s.acks) for s in spans] == [(0.0, 1), (0.2, 1)]
    assert split_brain(h).ok


def test_empty_history() -> None:
    sb = split_brain([])
    assert sb.ok and sb.max_writable == 0 and sb.attempts == 0


def test_a_write_answered_on_the_thaw_counts_at_its_acknowledgement_only() -> None:
    # node1 frozen at 1.0 with a write on its open connection, answered at 30.0 on the thaw;
    # node2 leads from 12.0. One late acknowledgement inside node2's span: caught, not 18 s long.
    h = [op("node1", t / 10, seq=t) for t in range(10)]
    h.append(ProbeOp(at=Stamp(t=1.0, wall=1001.0), end=Stamp(t=30.0, wall=1030.0), probe="fanout", seq=10,
                     node="node1", outcome="ok"))
    h += [op("node2", 12 + t / 10, seq=t) for t in range(200)]
    sb = split_brain(h)
    assert not sb.ok and len(sb.overlaps) == 1
    o = sb.overlaps[0]
    assert o.seconds == 0 and abs(o.start - 30.0) < 1e-9
    assert "at wall 1030.000" in o.describe()
    assert [(s.node, s.start, s.acks) for s in writable_spans(h) if s.node == "node1"] == [("node1", 0.0, 10),
                                                                                          ("node1", 30.0, 1)]
