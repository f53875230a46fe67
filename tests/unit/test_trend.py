"""harness trend over hand-made run summaries: the tolerance rule and a nightly-style run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.checkers.trend import TrendPoint, judge
from harness.report.runs import load_points

SCENARIO = "Kill the Patroni leader and fail over"


def _run(runs: Path, i: int, rto: float | None, lost: int = 0, restore: float | None = None) -> None:
    run_id = f"20261201T0{i:05d}-abcdef"
    m: dict[str, object] = {"rto_write_s": rto, "rpo_lost_writes": lost, "detection_s": 2.0 + 0.1 * (i % 2)}
    if restore is not None:
        m["backup"] = {"restores": [{"node": "r1", "target": "latest", "rto_s": restore}]}
    (runs / run_id).mkdir(parents=True)
    (runs / run_id / "summary.json").write_text(json.dumps({
        "run_id": run_id, "started": f"2026-12-01T0{i}:00:00", "scenarios": [
            {"scenario": SCENARIO, "status": "passed", "measurements": m},
            {"scenario": "A healthy cluster", "status": "passed", "measurements": {"rto_write_s": 0.0}}]}))


@pytest.fixture
def nightly(tmp_path: Path) -> Path:
    """Five nights at Patroni ttl 10 (RTO about the ttl), then one at ttl 20."""
    runs = tmp_path / "runs"
    for i, rto in enumerate([11.7, 12.1, 12.6, 11.9, 12.3]):
        _run(runs, i, rto)
    _run(runs, 5, 21.8)
    return runs


def test_a_slowed_failover_is_flagged_and_only_it(nightly: Path) -> None:
    verdicts = {(v.scenario, v.metric): v for v in judge(load_points(nightly), last=5)}
    rto = verdicts[(SCENARIO, "rto_write_s")]
    assert rto.state == "regressed" and rto.newest == 21.8
    assert rto.median == pytest.approx(12.1)
    assert rto.upper is not None and 12.6 < rto.upper < 21.8  # 20 % of the median: 14.52
    assert "above the band" in rto.reason
    assert verdicts[(SCENARIO, "detection_s")].state == "ok"
    assert verdicts[(SCENARIO, "rpo_lost_writes")].state == "ok"
    assert verdicts[("A healthy cluster", "rto_write_s")].state == "ok"  # 0 within the floor of 0.25 s


def test_noise_within_the_band_and_too_few_runs_are_not_regressions() -> None:
    def pts(values: list[float | None]) -> list[TrendPoint]:
        return [TrendPoint(run_id=f"r{i}", started=f"{i:03d}", scenario="s", status="passed",
                           values={"rto_write_s": v}) for i, v in enumerate(values)]

    assert judge(pts([1.0, 1.1, 0.9, 1.05, 1.15]))[0].state == "ok"  # +20 % tolerance: 1.2
    assert judge(pts([1.0, 1.1, 0.9, 1.05, 1.5]))[0].state == "regressed"
    assert judge(pts([1.0, 1.1, 5.0]))[0].state == "not enough runs"
    never = judge(pts([1.0, 1.1, 0.9, None]))[0]
    assert never.state == "regressed" and "unknown" in never.reason  # the service never came back
    lost = [TrendPoint(run_id=f"r{i}", started=f"{i:03d}", scenario="s", status="passed",
                       values={"rpo_lost_writes": v}) for i, v in enumerate([0, 0, 0, 0, 1])]
    assert judge(lost)[0].state == "ok"  # one lost write on an async cluster is within the floor
    assert judge([*lost, lost[-1].model_copy(update={"run_id": "r9", "started": "009",
                                                      "values": {"rpo_lost_writes": 5}})])[0].state == "regressed"


def test_restore_time_is_the_longest_restore(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _run(runs, 0, 1.0, restore=40.0)
    p = [x for x in load_points(runs) if x.scenario == SCENARIO][0]
    assert p.values["restore_s"] == 40.0


def test_nightly_harness_trend_fails_on_the_regression_with_a_chart_in_allure(nightly: Path) -> None:
    from harness.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["trend", "--runs-dir", str(nightly), "--last", "5", "--fail-on-regression"])
    assert res.exit_code == 1, res.output
    assert "regression" in res.output and SCENARIO in res.output
    newest = nightly / "20261201T000005-abcdef"
    assert (newest / "trend.png").stat().st_size > 1000 and (newest / "trend.svg").exists()
    results = [json.loads(p.read_text()) for p in (newest / "allure-results").glob("*-result.json")]
    assert [r["status"] for r in results] == ["failed"]
    assert any(a["type"] == "image/png" for a in results[0]["attachments"])
    # Without the flag the same run reports and exits 0; a scenario filter narrows it.
    assert runner.invoke(app, ["trend", "--runs-dir", str(nightly), "--scenario", "healthy",
                               "--fail-on-regression"]).exit_code == 0
    assert runner.invoke(app, ["trend", "--runs-dir", str(nightly / "none")]).exit_code == 2
