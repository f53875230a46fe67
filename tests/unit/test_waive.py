"""A drill can leave measurements unjudged by the default targets, and says so in its journal."""

from __future__ import annotations

from pathlib import Path

from harness.checkers import measure
from harness.drill import Drill
from harness.history import FaultEvent, Note, ProbeOp, Stamp


def test_waived_measurements_are_reported_but_not_judged(tmp_path: Path) -> None:
    d = Drill("unit", "w", tmp_path / "d")
    st = lambda t: Stamp(t=t, wall=1e9 + t)  # noqa: E731
    d.history.add(Note(at=st(0), name="window_start", detail=""))
    d.history.add(ProbeOp(at=st(0.1), end=st(0.11), probe="write", seq=1, node="node1", outcome="ok"))
    d.history.add(FaultEvent(at=st(0.2), fault="kill", target="node1", phase="inject", detail=""))
    for i in range(2, 20):  # never back: every write after the fault fails
        d.history.add(ProbeOp(at=st(0.2 + i * 0.05), end=st(0.21 + i * 0.05), probe="write", seq=i,
                              node="node1", outcome="fail", error="down"))
    d._measurements = measure(d.history, 0.05)
    assert d._measurements.rto_write_s is None
    assert "rto_write_s" in {v.name for v in d.violations()}
    d.waive({"rto_write_s", "rto_read_s", "availability"}, "restored to a side node")
    assert {v.name for v in d.violations()} & {"rto_write_s", "rto_read_s", "availability"} == set()
    assert any(n.name == "targets.waived" for n in d.history.of(Note))
    d.history.close()
