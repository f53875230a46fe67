"""Stop conditions and the live drill, as a person would meet them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import docker
import pytest

from harness import labels

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # over a minute: the slow suite
def test_a_tripped_stop_condition_aborts_heals_and_reports_why(tmp_path: Path, run_id: str, node_image: str) -> None:
    feature = tmp_path / "abort.feature"
    feature.write_text(textwrap.dedent("""
        Feature: stop condition
          Scenario: a drill that hurts more than agreed
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            And the drill aborts if availability stays below 50 % for 3 seconds
            And the write probe is running every 50 ms
            When I wait 1 seconds
            And I kill the primary
            And I wait 60 seconds
            Then the write RTO is under 10 seconds
    """))
    reports = tmp_path / "reports"
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(reports), HARNESS_RUN_ID=run_id)
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(feature)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    s = json.loads((reports / "runs" / run_id / "summary.json").read_text())["scenarios"][0]
    assert s["status"] == "aborted"
    assert s["message"].startswith("aborted: availability below 50 % for 3 s"), s["message"]
    flt = {"label": [f"{labels.RUN}={run_id}"]}
    assert docker.from_env().containers.list(all=True, filters=flt) == []


def test_live_drill_shows_the_scenario_and_prints_the_numbers(tmp_path: Path, node_image: str) -> None:
    feature = tmp_path / "short.feature"
    feature.write_text(textwrap.dedent("""
        Feature: short
          Scenario: kill and fail over
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            And the write probe is running every 50 ms
            When I wait 1 seconds
            And I kill the primary
            And the harness fails over
            Then the write RTO is under 10 seconds
            And the availability is at least 20 %
          Scenario: another one
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            Then the cluster has exactly one primary within 30 seconds
    """))
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(tmp_path / "reports"), COLUMNS="150")
    env.pop("HARNESS_RUN_ID", None)
    out = subprocess.run([sys.executable, "-m", "harness.cli", "drill", f"{feature}:kill and fail"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "kill-and-fail-over" in out.stdout          # the live view named the scenario
    assert "kill on node1" in out.stdout or "failover" in out.stdout
    assert "write RTO" in out.stdout and "passed" in out.stdout
    assert "another one" not in out.stdout             # only the chosen scenario ran
    # It renders the report it names, the run's summary beside it and linked from it.
    html = tmp_path / "reports" / "html"
    assert (html / "index.html").is_file() and (html / "summary.html").is_file(), out.stdout[-2000:]
    assert "summary (start here)" in out.stdout
