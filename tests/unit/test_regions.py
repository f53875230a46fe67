"""Unit tests of the two-region pieces that touch no machine: WAN rule text, the RPO exposure
and DR checkers over hand-built histories, the environment's regions section, the runbook."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import ValidationError

from harness.checkers.dr import REPETITION_SERIES, dr_rto, mttr, repetitions, switchover_outages
from harness.checkers.exposure import LAG_BYTES, REPLAYED_SEQ, rpo_exposure
from harness.environment import RegionsSection, WanSettings, load_environment
from harness.history import (ActionEvent, AlertEvent, Event, FaultEvent, ProbeOp, RepetitionMark,
                             RunbookStepTaken, Sample, Stamp)
from harness.net.wan import (
    forward_queue_removal,
    forward_queue_rules,
    interface_of,
    nft_wan_table,
    wan_tbf_args,
)
from harness.runbooks import load_runbook
from harness.runbooks.actions import ACTIONS


def st(t: float) -> Stamp:
    return Stamp(t=t, wall=1_700_000_000.0 + t)


def write(seq: int, start: float, outcome: str = "ok", node: str = "east1") -> ProbeOp:
    return ProbeOp.model_validate({"at": st(start), "probe": "write", "seq": seq, "node": node,
                                   "outcome": outcome, "end": st(start + 0.01)})


def writes(first_seq: int, start: float, stop: float, every: float = 0.1, outcome: str = "ok") -> list[ProbeOp]:
    out = []
    t, seq = start, first_seq
    while t < stop - 1e-9:
        out.append(write(seq, t, outcome))
        t, seq = round(t + every, 6), seq + 1
    return out


def dr_sample(t: float, seq: int, lag: float = 0.0, node: str = "west1") -> Sample:
    return Sample(at=st(t), node=node, role="replica", metrics={"up": 1.0, REPLAYED_SEQ: seq, LAG_BYTES: lag})


def loss(t: float) -> FaultEvent:
    return FaultEvent(at=st(t), fault="region-loss", target="region east", phase="inject", began=st(t - 0.05))


def failback(t: float, end: float) -> ActionEvent:
    return ActionEvent(at=st(t), end=st(end), action="failback", target="east1", outcome="ok")


# -- WAN rule text -----------------------------------------------------------------------------


def test_forward_queue_rules_hook_forward_and_bypass_a_dead_delayer() -> None:
    rules = forward_queue_rules("PGH-Wabc", 4242)
    assert ["-A", "FORWARD", "-j", "PGH-Wabc"] in rules
    assert any("--queue-bypass" in r and "4242" in r for r in rules)
    assert forward_queue_removal("PGH-Wabc")[0] == ["-D", "FORWARD", "-j", "PGH-Wabc"]
    with pytest.raises(ValueError):
        forward_queue_rules("bad chain; rm", 1)
    with pytest.raises(ValueError):
        forward_queue_rules("PGH-x", 0)


def test_wan_table_cuts_or_drops_a_share_of_forwarded_packets_only() -> None:
    cut = nft_wan_table("pgharness_wc1", cut=True)
    assert "hook forward" in cut and "\n    drop\n" in cut and "hook output" not in cut
    lossy = nft_wan_table("pgharness_wl1", loss_pct=12.5)
    assert "numgen random mod 10000 < 1250 drop" in lossy
    with pytest.raises(ValueError):
        nft_wan_table("pgharness_x", loss_pct=0)


def test_wan_tbf_goes_on_the_given_device() -> None:
    args = wan_tbf_args(2e6, "eth1", "5048:")
    assert args[:7] == ["qdisc", "add", "dev", "eth1", "root", "handle", "5048:"]
    assert "2000000bit" in args
    with pytest.raises(ValueError):
        wan_tbf_args(2e6, "eth1; reboot")


def test_interface_of_reads_ip_addr_output() -> None:
    out = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
           "52: eth0@if53    inet 192.168.0.2/20 brd 192.168.15.255 scope global eth0\n"
           "54: eth1@if55    inet 192.168.16.2/20 brd 192.168.31.255 scope global eth1\n")
    assert interface_of(out, "192.168.16.2") == "eth1"
    assert interface_of(out, "192.168.0.2") == "eth0"
    with pytest.raises(ValueError):
        interface_of(out, "10.0.0.1")


# -- environment -------------------------------------------------------------------------------


def test_two_region_environment_file_is_valid() -> None:
    env = load_environment("two-region")
    assert env.regions is not None
    assert (env.regions.primary, env.regions.standby) == ("east", "west")
    assert env.regions.wan.latency_ms == 50


@pytest.mark.parametrize("data", [
    {"primary": "east", "standby": "east"},
    {"primary": "East Coast"},
    {"wan": {"latency_ms": 10, "jitter_ms": 20}},
    {"wan": {"bandwidth": "fast"}},
    {"standby_nodes": 0},
])
def test_bad_regions_sections_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RegionsSection.model_validate(data)


def test_wan_bandwidth_accepts_rates() -> None:
    assert WanSettings(bandwidth="2 mbit/s").bandwidth == "2 mbit/s"


# -- RPO exposure ------------------------------------------------------------------------------


def test_exposure_counts_acknowledged_writes_above_the_standbys_watermark() -> None:
    # Writes every 0.1 s from t=0; the standby replays everything until t=2, then nothing more.
    evs: list[Event] = [*writes(1, 0.0, 5.0)]
    evs += [dr_sample(1.0, 10), dr_sample(3.0, 20, lag=4096), dr_sample(4.0, 20, lag=8192)]
    r = rpo_exposure(evs)
    assert r.status == "valid"
    assert [p.writes_at_risk for p in r.points] == [0, 10, 20]
    # At t=4 the oldest write missing in the DR region is seq 21, acknowledged at 2.01.
    assert r.max_s == pytest.approx(4.0 - 2.01)
    assert r.max_writes == 20 and r.max_lag_bytes == 8192
    assert r.mean_s == pytest.approx((0 + (3.0 - 2.01) + (4.0 - 2.01)) / 3)


def test_exposure_takes_the_best_standby_of_a_round_and_ignores_later_acks() -> None:
    evs: list[Event] = [*writes(1, 0.0, 2.0)]
    # One round (same stamp) with two standbys: the more advanced one decides what survives.
    evs += [dr_sample(1.5, 5, node="west1"), dr_sample(1.5, 14, node="west2")]
    r = rpo_exposure(evs)
    # seq 15 was acknowledged at 1.41 (before the round); 16.. after it: not yet at risk then.
    assert r.points[0].writes_at_risk == 1
    assert r.points[0].nodes == ("west1", "west2")


def test_exposure_without_samples_is_unknown_never_zero() -> None:
    r = rpo_exposure(writes(1, 0.0, 1.0))
    assert r.status == "unknown" and r.max_s is None


# -- DR RTO, switchover, MTTR ------------------------------------------------------------------


def test_dr_rto_ends_at_the_fail_back() -> None:
    evs: list[Event] = [*writes(1, 0.0, 1.0), loss(1.0), *writes(11, 1.0, 3.0, outcome="fail"),
                        *writes(31, 3.0, 6.0), failback(6.0, 6.5), *writes(61, 6.0, 7.0, outcome="fail"),
                        *writes(71, 7.0, 8.0)]
    r = dr_rto(evs)
    # Writes came back at 3.0 (+0.01): the fail back's outage at 6-7 s is not the loss's recovery.
    assert r.value_s == pytest.approx(2.01)
    [(fb, out)] = switchover_outages(evs)
    assert fb.target == "east1"
    assert out.value_s == pytest.approx(1.01)


def test_dr_rto_counts_only_the_region_loss_as_the_fault() -> None:
    slow = FaultEvent(at=st(0.5), fault="wan-degrade", target="east <-> west", phase="inject")
    evs: list[Event] = [slow, *writes(1, 0.0, 1.0), loss(1.0), *writes(11, 1.0, 2.0, outcome="timeout"),
                        *writes(21, 2.0, 3.0)]
    assert dr_rto(evs).value_s == pytest.approx(1.01)
    assert dr_rto(writes(1, 0, 1)).status == "unknown"


def _repetition(i: int, t0: float, down_s: float, alert_after: float | None) -> list[Event]:
    evs: list[Event] = [RepetitionMark(at=st(t0), series=REPETITION_SERIES, index=i, of=3)]
    evs += writes(i * 1000, t0, t0 + 1.0)
    evs.append(loss(t0 + 1.0))
    if alert_after is not None:
        evs.append(AlertEvent(at=st(t0 + 1.0 + alert_after), alert="database down", severity="critical",
                              node="east1", phase="firing"))
    evs += writes(i * 1000 + 100, t0 + 1.0, t0 + 1.0 + down_s, outcome="fail")
    evs += writes(i * 1000 + 200, t0 + 1.0 + down_s, t0 + 9.0)
    evs.append(failback(t0 + 9.0, t0 + 9.5))
    evs += writes(i * 1000 + 300, t0 + 9.0, t0 + 9.5, outcome="fail")
    evs += writes(i * 1000 + 400, t0 + 9.5, t0 + 10.0)
    evs.append(ActionEvent(at=st(t0), end=st(t0 + 10.0), action="dr.repetition", target=str(i), outcome="ok"))
    return evs


def test_mttr_over_repetitions_lists_each_and_gives_mean_and_spread() -> None:
    evs = _repetition(1, 0.0, 1.0, 0.5) + _repetition(2, 10.0, 2.0, 1.0) + _repetition(3, 20.0, 3.0, None)
    reps = repetitions(evs)
    assert [r.index for r in reps] == [1, 2, 3]
    assert [round(r.recovery_s or 0, 2) for r in reps] == [1.01, 2.01, 3.01]
    # Detection runs from the fault's began, 50 ms before its injector returned.
    assert [r.detection_s for r in reps][:2] == [pytest.approx(0.55), pytest.approx(1.05)]
    assert reps[2].detection_s is None
    assert all(r.switchover_s == pytest.approx(0.51) for r in reps)
    m = mttr(evs)
    assert m.status == "valid"
    assert m.mttr_s == pytest.approx(2.01)
    assert m.stdev_s == pytest.approx(1.0)
    assert (m.min_s, m.max_s) == (pytest.approx(1.01), pytest.approx(3.01))
    assert m.mttd_s == pytest.approx(0.8)


def test_a_repetition_that_never_recovered_makes_mttr_invalid() -> None:
    evs = _repetition(1, 0.0, 1.0, 0.5)
    evs += [RepetitionMark(at=st(10.0), series=REPETITION_SERIES, index=2, of=2), loss(11.0),
            *writes(5000, 11.0, 14.0, outcome="fail"),
            ActionEvent(at=st(10.0), end=st(14.0), action="dr.repetition", target="2", outcome="failed")]
    m = mttr(evs)
    assert m.status == "invalid"
    assert m.repetitions[1].recovery_s is None
    assert "repetition 2 did not recover" in m.reason
    assert mttr([]).status == "unknown"


# -- the runbook -------------------------------------------------------------------------------


def test_region_down_runbook_uses_known_actions() -> None:
    rb = load_runbook("region_down")
    assert rb.incident_type == "region_down" and rb.severity == "critical"
    actions = [s.action.lower() for s in rb.steps if s.action]
    assert actions == ["promote the dr standby", "repoint clients", "check connectivity"]
    assert all(a in ACTIONS for a in actions)
    assert any(s.kind == "shell" and s.target == "the DR standby" for s in rb.steps)


def test_a_region_cut_off_is_a_region_loss_for_the_dr_rto() -> None:
    cut = FaultEvent(at=st(1.0), fault="region-cut-off", target="region east", phase="inject")
    evs: list[Event] = [*writes(1, 0.0, 1.0), cut, *writes(11, 1.0, 1.5, outcome="timeout"), *writes(21, 1.5, 3.0)]
    assert dr_rto(evs).value_s == pytest.approx(0.51)


def test_measurements_carry_the_dr_numbers_and_judge_mttr_against_the_target() -> None:
    from harness.checkers import Targets, evaluate, measure

    evs = _repetition(1, 0.0, 1.0, 0.5) + _repetition(2, 10.0, 3.0, 1.0)
    evs += [dr_sample(0.5, 0), dr_sample(5.0, 1000)]
    m = measure(evs, 0.1)
    assert m.dr is not None
    assert m.dr.mttr_s == pytest.approx(2.01)
    assert [r.index for r in m.dr.repetitions] == [1, 2]
    assert m.dr.exposure_max_s is not None and m.dr.dr_rto_s == pytest.approx(1.01)
    assert not [v for v in evaluate(m, Targets(max_mttr_s=60)) if v.name == "mttr_s"]
    [miss] = [v for v in evaluate(m, Targets(max_mttr_s=2)) if v.name == "mttr_s"]
    assert "2.01" in miss.message
    assert measure(writes(1, 0.0, 1.0), 0.1).dr is None  # a single-region run has no DR numbers


def test_each_fail_back_outage_ends_before_the_next_region_loss_begins() -> None:
    # The next loss's injector takes 0.4 s to return; writes already fail from its call.
    slow_kill = FaultEvent(at=st(10.0), fault="region-loss", target="region east", phase="inject", began=st(9.6))
    evs: list[Event] = [failback(5.0, 5.5), *writes(1, 5.0, 5.5, outcome="fail"), *writes(11, 5.5, 9.6),
                        slow_kill, *writes(61, 9.6, 11.0, outcome="fail")]
    [(_, out)] = switchover_outages(evs)
    assert out.value_s == pytest.approx(0.51)


def test_mttr_with_people_adds_the_runbooks_estimates_of_manual_steps_before_recovery() -> None:
    def step(i: int, t: float, kind: Literal["action", "shell", "manual"], expected: float | None = None) -> Event:
        return RunbookStepTaken(at=st(t), end=st(t), index=i, name=f"s{i}", step_kind=kind, outcome="ok",
                                scripted=expected is not None, expected_s=expected)

    evs = _repetition(1, 0.0, 1.0, 0.5)
    evs += [step(1, 1.1, "manual", 120),
            step(2, 1.2, "action"),
            step(3, 1.3, "manual"),  # timed live: already in the measured time
            step(4, 1.4, "action"),
            # Listed after the step that brought service back, though it began before the first
            # lasting ack (in CI the steps follow each other within milliseconds).
            step(5, 1.5, "manual", 300)]
    m = mttr(evs)
    assert m.repetitions[0].manual_expected_s == 120
    assert m.with_people_s == pytest.approx(121.01)
    assert m.mttr_s == pytest.approx(1.01)


def test_summary_shows_dr_numbers_and_judges_a_two_region_drill_by_its_dr_rto(tmp_path: object) -> None:
    from pathlib import Path

    from harness.report.summary import scorecard, write_summaries

    dr = {"dr_rto_s": 0.3, "failback_outage_s": [0.5], "exposure_max_s": 4.0, "exposure_mean_s": 1.0,
          "exposure_max_writes": 80, "mttr_s": 0.31, "mttr_stdev_s": 0.05, "mttd_s": 0.9,
          "mttr_with_people_s": 420.3, "repetitions": [{"index": 1}, {"index": 2}]}
    scen = {"scenario": "MTTR drill", "status": "passed", "tags": ["failover", "dr", "multi_region"],
            "measurements": {"rto_write_s": 44.0, "dr": dr}, "targets": {}, "violations": []}
    crit = {c.name: c for c in scorecard([scen])[1]}
    near_zero = next(c for n, c in crit.items() if n.startswith("near-zero RTO"))
    assert near_zero.verdict == "met", near_zero.evidence  # 0.3 s DR RTO, not the 44 s of the whole window
    d = Path(str(tmp_path))
    write_summaries(d, {"run_id": "r", "runtime": "docker", "started": "now", "scenarios": [scen]})
    md = (d / "summary.md").read_text()
    assert "## Disaster recovery across regions" in md
    assert "| MTTR drill | 0.300 s | 0.500 s | 4.000 s / 1.000 s | 80 | 0.310 s ± 0.050 s (2) |" in md
    assert "Disaster recovery across regions" in (d / "summary.html").read_text()
