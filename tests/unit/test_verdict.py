"""One verdict everywhere: pytest's outcome, Allure's status, the CLI table and `harness run`'s exit code.

The scenarios run for real through the plugin (plain pytest, then `harness run`), on a drill
whose measurements a test-only step sets by hand, so no Docker is needed: the verdict is
judged by the same code as in a real drill (targets at close, the after-scenario hook).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from harness import resources
from harness.checkers.targets import Violation
from harness.report import verdict

REPO = Path(__file__).resolve().parents[2]

# A pytest plugin (loaded through PYTEST_PLUGINS) with steps that set a drill's numbers.
FAKE_STEPS = '''
from pytest_bdd import given, then, parsers
from harness.checkers.measure import Measurements
from harness.errors import SetupError


@given(parsers.parse("the drill measured a write RTO of {seconds:f} s"))
def _(drill, seconds):
    drill._measurements = Measurements(
        rto_write_s=seconds, rto_read_s=None, rpo_lost_writes=0, rpo_window_s=0.0, availability=1.0,
        probe_interval_s=0.05, writes_acknowledged=100, writes_indeterminate=0, reads_ok=0, reads_failed=0,
        fault_at_wall=None, status="valid", problems=[], rpo_s=0.0, downtime_s=seconds,
        error_budget_used=seconds / 2592)


@given("the harness cannot stand the topology up")
def _():
    raise SetupError("no such image: pg-node:nowhere")


@then(parsers.parse("the write RTO must be under {seconds:f} s"))
def _(drill, seconds):
    drill.require(max_rto_write_s=seconds)
'''

FEATURE = """\
Feature: verdicts
  Scenario: meets every target
    Given the drill measured a write RTO of 0.5 s

  Scenario: misses only a default target
    Given the drill measured a write RTO of 2.0 s

  Scenario: misses its own target
    Given the drill measured a write RTO of 0.5 s
    Then the write RTO must be under 0.1 s

  Scenario: the harness breaks
    Given the harness cannot stand the topology up
"""

EXPECTED: dict[str, verdict.Outcome] = {
    "meets every target": "passed",
    "misses only a default target": "failed",
    "misses its own target": "failed",
    "the harness breaks": "broken",
}


def test_outcome_judges_status_and_violations() -> None:
    miss = Violation(name="rto_write_s", measured=2.0, target="< 1 s", message="write RTO 2.00 s is not under 1 s")
    assert verdict.outcome("passed") == "passed"
    assert verdict.outcome("passed", [miss]) == "failed"
    assert verdict.outcome("failed") == "failed"
    assert verdict.outcome("error") == verdict.outcome("broken") == "broken"
    assert verdict.outcome("aborted", [miss]) == "aborted"
    assert [verdict.allure_status(v) for v in ("passed", "failed", "broken")] == ["passed", "failed", "broken"]
    assert verdict.exit_code(["passed", "passed"]) == 0
    assert verdict.exit_code(["passed", "failed"]) == 1
    assert verdict.exit_code(["failed", "broken"]) == 2
    assert verdict.exit_code([], 5) == 5  # pytest collected nothing: its own code
    err = verdict.default_target_miss([miss])
    assert isinstance(err, AssertionError) and "write RTO 2.00 s is not under 1 s" in str(err)
    assert verdict.default_target_miss([]) is None


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "fake_steps.py").write_text(FAKE_STEPS)
    (tmp_path / "verdicts.feature").write_text(FEATURE)
    (tmp_path / "test_verdicts.py").write_text(
        f"from pytest_bdd import scenarios\nscenarios({str(tmp_path / 'verdicts.feature')!r})\n")
    env_file = yaml.safe_load(resources.builtin("environments/streaming.yaml").read_text())
    env_file["targets"]["max_rto_write_s"] = 1  # a default target the 2 s scenario misses
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(env_file))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path)]),
               PYTEST_PLUGINS="fake_steps", HARNESS_ENVIRONMENT=str(tmp_path / "strict.yaml"),
               HARNESS_REPORTS_DIR=str(tmp_path / "reports"))
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return tmp_path, env


def _allure_statuses(results: Path) -> dict[str, str]:
    out = {}
    for f in results.glob("*-result.json"):
        data = json.loads(f.read_text())
        out[data["name"]] = data["status"]
    return out


def test_pytest_allure_table_and_exit_code_agree(project: tuple[Path, dict[str, str]]) -> None:
    tmp, env = project
    # 1. Plain pytest.
    env1 = dict(env, HARNESS_RUN_ID="plain")
    junit = tmp / "junit.xml"
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
                          "--alluredir", str(tmp / "allure"), "-o", "bdd_features_base_dir=" + str(tmp),
                          str(tmp / "test_verdicts.py")], cwd=tmp, env=env1, capture_output=True, text=True,
                         timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-3000:]
    pytest_outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "").removeprefix("test_").replace("_", " ")
        pytest_outcome[name] = "failed" if case.find("failure") is not None or case.find("error") is not None \
            else "passed"
    summary = json.loads((tmp / "reports" / "runs" / "plain" / "summary.json").read_text())
    in_summary = {s["scenario"]: s["status"] for s in summary["scenarios"]}
    allure = _allure_statuses(tmp / "allure")
    categories = json.loads((tmp / "allure" / "categories.json").read_text())

    from harness import cli

    table = cli._print_summary(tmp / "reports" / "runs" / "plain" / "summary.json", 1.0)
    table_by_name = dict(zip([s["scenario"] for s in summary["scenarios"]], table, strict=True))

    for name, want in EXPECTED.items():
        assert in_summary[name] == want, (name, in_summary)
        assert table_by_name[name] == want, (name, table_by_name)
        assert allure[name] == verdict.allure_status(want), (name, allure)
        assert pytest_outcome[name] == ("passed" if want == "passed" else "failed"), (name, pytest_outcome)
    assert categories[0]["name"] == "target missed" and categories[0]["matchedStatuses"] == ["failed"]

    # One paragraph per failure, no traceback: the message, the step, the file:line, the logs.
    assert "target missed: missed the environment's default target: write RTO 2.00 s is not under 1 s" in text
    assert "verdicts.feature:5" in text and "after the last step" in text
    assert "Then the write RTO must be under 0.1 s (" in text and "verdicts.feature:10)" in text
    assert "harness error: SetupError: no such image: pg-node:nowhere" in text
    assert "journal.jsonl, logs/" in text
    assert "Traceback" not in text and "raise SetupError" not in text

    # 2. `harness run` on the same feature: its exit code is the table's verdict.
    env2 = dict(env, HARNESS_RUN_ID="cli")
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(tmp / "verdicts.feature")], cwd=tmp,
                         env=env2, capture_output=True, text=True, timeout=120)
    assert out.returncode == verdict.exit_code(list(EXPECTED.values())) == 2, (out.stdout + out.stderr)[-3000:]
    statuses = [line.split("│")[2].strip() for line in out.stdout.splitlines() if line.count("│") > 3]
    assert sorted(x for x in statuses if x) == sorted(EXPECTED.values()), out.stdout[-3000:]
    # Without the broken scenario, a missed target alone makes it exit 1.
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(tmp / "verdicts.feature"),
                          "--scenario", "misses only a default target"], cwd=tmp, env=dict(env, HARNESS_RUN_ID="cli1"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, (out.stdout + out.stderr)[-3000:]


def test_traceback_on_request(project: tuple[Path, dict[str, str]]) -> None:
    tmp, env = project
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=long",
                          "-o", "bdd_features_base_dir=" + str(tmp), "-k", "breaks", str(tmp / "test_verdicts.py")],
                         cwd=tmp, env=dict(env, HARNESS_RUN_ID="tb", HARNESS_NO_ALLURE="1"), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and "raise SetupError" in out.stdout, out.stdout[-3000:]


def test_report_links_the_summary_from_its_first_page(project: tuple[Path, dict[str, str]]) -> None:
    from harness.report import ALLURE_CLI, render_allure

    if not ALLURE_CLI.exists():
        pytest.skip("the Allure 3 CLI is not installed (scripts/setup installs it)")
    tmp, env = project
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--alluredir", str(tmp / "allure"),
                    "-o", "bdd_features_base_dir=" + str(tmp), "-k", "meets", str(tmp / "test_verdicts.py")],
                   cwd=tmp, env=dict(env, HARNESS_RUN_ID="rep"), capture_output=True, text=True, timeout=120)
    summary = tmp / "reports" / "runs" / "rep" / "summary.html"
    assert summary.is_file()
    index = render_allure(tmp / "allure", tmp / "html", beside=summary)
    page = index.read_text()
    assert '<a href="summary.html">' in page and page.index("pgharness-summary") > page.index("<body")
    assert (tmp / "html" / "summary.html").read_text() == summary.read_text()
