"""The suite runs under pytest-xdist: each worker its own networks and addresses, one summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import docker

from harness import labels

REPO = Path(__file__).resolve().parents[2]


def test_two_workers_run_scenarios_side_by_side_into_one_summary(tmp_path: Path, run_id: str,
                                                                 node_image: str) -> None:
    feature = tmp_path / "two.feature"
    feature.write_text(textwrap.dedent("""
        Feature: side by side
          Scenario: kill the primary and fail over
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            And the write probe is running every 50 ms
            When I kill the primary
            And the harness fails over to the most advanced replica
            Then the write RTO is under 10 seconds

          Scenario: freeze a replica
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            And the write probe is running every 50 ms
            When I pause replica 1 for 2 seconds
            Then no acknowledged write is lost
    """))
    module = tmp_path / "test_two.py"
    module.write_text(f"from pytest_bdd import scenarios\n\nscenarios({str(feature)!r})\n")
    reports = tmp_path / "reports"
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(reports), HARNESS_RUN_ID=run_id, HARNESS_NO_ALLURE="1")
    out = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"), str(module)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    run_dir = reports / "runs" / run_id
    assert sorted(p.name for p in (run_dir / "workers").glob("*.json")) == ["gw0.json", "gw1.json"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert sorted(s["status"] for s in summary["scenarios"]) == ["passed", "passed"]
    # One scenario in each worker: both ran at once, each on its own network.
    for part in (run_dir / "workers").glob("*.json"):
        assert len(json.loads(part.read_text())["scenarios"]) == 1, part
    assert docker.from_env().containers.list(all=True, filters={"label": [f"{labels.RUN}={run_id}"]}) == []
