"""Background-load phases over hand-made histories."""

from __future__ import annotations

import pytest

from harness.checkers.load import load_phases
from harness.history import FaultEvent, LoadSample, ProbeOp, Stamp


def _st(t: float) -> Stamp:
    return Stamp(t=t, wall=1_000_000 + t)


def _load(second: float, reqs: list[tuple[float, float, int]]) -> LoadSample:
    return LoadSample(at=_st(second), name="write", count=len(reqs), failures=sum(1 for r in reqs if not r[2]),
                      requests=reqs)


def _write(start: float, end: float, ok: bool, seq: int) -> ProbeOp:
    return ProbeOp(at=_st(start), end=_st(end), probe="write", seq=seq, node="node1",
                   outcome="ok" if ok else "fail")


def test_each_request_falls_in_the_phase_it_was_sent_in() -> None:
    events = [
        _load(0, [(0.1, 2.0, 1), (0.5, 3.0, 1)]),
        _load(1, [(0.2, 2.0, 1), (0.7, 2000.0, 0)]),   # 1.7: sent during the fault, failed after 2 s
        FaultEvent(at=_st(1.6), began=_st(1.5), fault="kill", target="node1", phase="inject"),
        _write(1.4, 1.41, True, 1), _write(1.6, 2.6, False, 2), _write(2.7, 2.71, True, 3),
        _load(3, [(0.1, 4.0, 1), (0.9, 6.0, 1)]),
    ]
    phases = {p.phase: p for p in load_phases(events)}
    assert phases["before"].requests == 3 and phases["before"].failures == 0
    assert phases["during"].requests == 1 and phases["during"].error_rate == 1.0
    assert phases["during"].p99_ms == pytest.approx(2000.0)
    assert phases["after"].requests == 2 and phases["after"].p50_ms == pytest.approx(4.0)


def test_no_fault_is_one_phase_and_no_load_is_none() -> None:
    assert load_phases([_write(0, 0.1, True, 1)]) == []
    phases = load_phases([_load(0, [(0.1, 1.0, 1)])])
    assert [p.phase for p in phases] == ["before"] and phases[0].requests == 1


def test_load_profiles_come_from_yaml_and_unknown_ones_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.errors import SetupError
    from harness.history import History
    from harness.workload.load import LoadProcess, load_profiles

    profiles = load_profiles()
    assert {"read-heavy", "write-heavy", "mixed"} <= set(profiles)
    assert profiles["read-heavy"].reads > profiles["read-heavy"].writes
    with pytest.raises(SetupError, match="unknown load profile 'oltp': one of"):
        LoadProcess(History(), tmp_path, lambda: None, profile="oltp", users=1, ramp_s=1, max_duration_s=10)
