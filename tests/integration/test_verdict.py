"""A default target a real drill misses fails plain pytest and reads "failed" in Allure and the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from harness import resources

REPO = Path(__file__).resolve().parents[2]


def test_missed_default_target_fails_pytest_and_allure(tmp_path: Path, node_image: str) -> None:
    # Every step passes; only the environment's default write RTO (10 ms) is impossible for a
    # primary that is stopped and started again.
    env_file = yaml.safe_load(resources.builtin("environments/streaming.yaml").read_text())
    env_file["targets"]["max_rto_write_s"] = 0.01
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(env_file))
    (tmp_path / "strict.feature").write_text(textwrap.dedent("""
        Feature: a default target nobody can meet
          Scenario: a restart the default write RTO cannot absorb
            Given a PostgreSQL cluster with 1 primary and 0 async replicas
            And the write probe is running every 50 ms
            When I wait 1 seconds
            And I stop the primary
            And I restart the old primary
            Then the cluster has exactly one primary within 30 seconds
            And no acknowledged write is lost
    """))
    (tmp_path / "test_strict.py").write_text(
        f"from pytest_bdd import scenarios\nscenarios({str(tmp_path / 'strict.feature')!r})\n")
    env = dict(os.environ, HARNESS_ENVIRONMENT=str(tmp_path / "strict.yaml"), HARNESS_RUN_ID="strict",
               HARNESS_REPORTS_DIR=str(tmp_path / "reports"), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                          "--alluredir", str(tmp_path / "allure"), str(tmp_path / "test_strict.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-3000:]
    assert "target missed: missed the environment's default target" in text, text[-3000:]
    assert "is not under 0.01 s" in text and "Traceback" not in text
    (result,) = [json.loads(f.read_text()) for f in (tmp_path / "allure").glob("*-result.json")]
    assert result["status"] == "failed", result.get("statusDetails")
    assert "write RTO" in result["statusDetails"]["message"]
    categories = json.loads((tmp_path / "allure" / "categories.json").read_text())
    assert categories[0]["name"] == "target missed"
    summary = json.loads((tmp_path / "reports" / "runs" / "strict" / "summary.json").read_text())
    (s,) = summary["scenarios"]
    assert s["status"] == "failed" and "rto_write_s" in [v["name"] for v in s["violations"]]
    assert s["measurements"]["rto_write_s"] > 0.01
