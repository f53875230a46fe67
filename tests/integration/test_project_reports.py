"""`harness run` from a user's folder: reports under the project's `reports` setting, or
`--reports DIR`, never elsewhere (a scenario that fails at its first step: no topology)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _harness_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_harness_run_writes_under_the_projects_reports_setting_or_reports_dir(tmp_path: Path) -> None:
    # A scenario that fails at its first step (no Docker needed): the run still writes its summary.
    root = tmp_path / "ours"
    (root / "features").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.pg_chaos_harness]\nreports = 'evidence'\n")
    (root / "features" / "x.feature").write_text(
        'Feature: f\n  Scenario: a missing environment\n    Given the environment "missing"\n')
    out = _harness_run(root)
    assert out.returncode == 2, out.stdout + out.stderr  # the harness broke (a setup error), not a missed target
    assert len(list((root / "evidence" / "runs").glob("*/summary.json"))) == 1, out.stdout
    assert "no such environment file" in out.stdout
    elsewhere = tmp_path / "elsewhere"
    out = _harness_run(root, "--reports", str(elsewhere), "features")
    assert out.returncode == 2, out.stdout + out.stderr  # the harness broke (a setup error), not a missed target
    assert len(list((elsewhere / "runs").glob("*/summary.json"))) == 1
    assert len(list((root / "evidence" / "runs").glob("*/summary.json"))) == 1
    assert not (root / "reports").exists()
