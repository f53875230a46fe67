"""The user's project (harness/project.py), the one data resolver (harness/resources.py),
`harness init`, `harness env list`, `harness doctor` and the lazy pytest entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import project, resources
from harness.cli import app
from harness.commands.init import STARTER_FILES, init_project
from harness.environment import load_environment
from harness.errors import EnvironmentFileError, HarnessError
from harness.monitor.rules import load_rules
from harness.runbooks import load_runbook
from harness.workload.load import load_profiles

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project folder with a [tool.pg_chaos_harness] table, the working directory."""
    root = tmp_path / "ours"
    (root / "sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.pg_chaos_harness]\nreports = "out"\n')
    monkeypatch.chdir(root / "sub")
    monkeypatch.delenv("HARNESS_REPORTS_DIR", raising=False)
    return root


def test_the_project_is_the_nearest_folder_with_the_table_and_its_reports_setting_counts(proj: Path) -> None:
    p = project.current()
    assert p.root == proj and p.config_file == proj / "pyproject.toml"
    assert p.reports == proj / "out"
    assert p.environments == proj / "environments"


def test_reports_env_beats_the_setting_and_a_folder_without_a_table_is_its_own_project(
        proj: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_REPORTS_DIR", str(tmp_path / "elsewhere"))
    assert project.current().reports == tmp_path / "elsewhere"
    monkeypatch.delenv("HARNESS_REPORTS_DIR")
    bare = tmp_path / "bare"
    bare.mkdir()
    assert project.current(bare) == project.Project(bare)
    assert project.reports_dir(bare) == bare / "reports"


def test_a_pyproject_inside_site_packages_is_never_read(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "pyproject.toml").write_text("[tool.pg_chaos_harness]\nreports = 'x'\n")
    assert project.current(site).config_file is None
    (site / "pyproject.toml").write_text("this is not toml [")  # would raise if it were read
    assert project.current(site).root == site


def test_a_bad_table_names_the_file_and_the_setting(proj: Path) -> None:
    (proj / "pyproject.toml").write_text("[tool.pg_chaos_harness]\nreport = 'out'\n")
    with pytest.raises(EnvironmentFileError, match=r"(?s)pyproject.toml.*unknown setting\(s\) report"):
        project.current()


def test_built_in_data_is_found_through_the_package(proj: Path) -> None:
    assert (resources.image_context("node") / "Dockerfile").is_file()
    assert (resources.image_context("stacks") / "bookworm.env").is_file()
    assert resources.load_profiles_file().name == "profiles.yaml"
    assert resources.alert_rules().name == "default.yaml"
    assert {f.name for f in resources.catalog("environments")} >= {"streaming", "patroni", "two-region"}
    assert {f.name for f in resources.catalog("runbooks")} >= {"database_down", "region_down"}
    assert all(f.origin == "built-in" for f in resources.catalog("environments"))
    with pytest.raises(HarnessError, match="no-such-thing"):
        resources.builtin("no-such-thing")


def test_the_projects_own_files_come_first_by_name(proj: Path) -> None:
    (proj / "environments" / "alerts").mkdir(parents=True)
    (proj / "environments" / "load").mkdir()
    (proj / "runbooks").mkdir()
    streaming = (resources.builtin_environment("streaming") or Path()).read_text()
    (proj / "environments" / "streaming.yaml").write_text(streaming.replace("replicas: 2", "replicas: 4"))
    (proj / "environments" / "ours.yaml").write_text("name: ours\ntopology:\n  replicas: 1\n")
    (proj / "runbooks" / "database_down.yaml").write_text(
        "incident_type: ours\nseverity: info\nsteps:\n  - name: look\n")
    (proj / "environments" / "alerts" / "default.yaml").write_text(
        "rules:\n  - name: only ours\n    severity: info\n    when: up == 0\n")
    (proj / "environments" / "load" / "profiles.yaml").write_text("profiles:\n  ours: {reads: 1, writes: 0}\n")
    origins = {f.name: f.origin for f in resources.catalog("environments")}
    assert origins["streaming"] == "project" and origins["ours"] == "project" and origins["patroni"] == "built-in"
    assert load_environment("streaming").topology.replicas == 4
    assert load_environment("ours").topology.replicas == 1
    assert load_environment("patroni").patroni is not None
    # The old repository layout's paths still name the file (the project's first, then built-in).
    assert load_environment("environments/streaming.yaml").topology.replicas == 4
    assert load_environment("environments/two-region.yaml").regions is not None
    assert load_runbook("runbooks/region_down.yaml").incident_type != "ours"
    assert load_runbook("database_down").incident_type == "ours"
    assert load_runbook("region_down").incident_type != "ours"
    assert [r.name for r in load_rules().rules] == ["only ours"]
    assert list(load_profiles()) == ["ours"]
    with pytest.raises(EnvironmentFileError, match="known: .*ours"):
        load_environment("nope")


def test_env_list_says_which_is_the_projects_and_which_built_in(proj: Path) -> None:
    (proj / "environments").mkdir()
    (proj / "environments" / "ours.yaml").write_text("name: ours\ndescription: our own\n")
    out = CliRunner().invoke(app, ["env", "list"])
    assert out.exit_code == 0, out.output
    lines = {line.split()[1]: line for line in out.output.splitlines() if line.startswith("│ ")
             and len(line.split()) > 3}
    assert "project" in lines["ours"] and "built-in" in lines["patroni"]


def test_init_writes_the_starter_and_keeps_what_exists(tmp_path: Path) -> None:
    root = tmp_path / "team-repo"
    root.mkdir()
    (root / "README.md").write_text("# Our service\n")
    (root / "pyproject.toml").write_text('[project]\nname = "svc"\n')
    first = init_project(root)
    for dest in STARTER_FILES.values():
        assert (root / dest).is_file(), dest
    assert set(first.appended) == {"README.md", "pyproject.toml"}
    readme = (root / "README.md").read_text()
    assert readme.startswith("# Our service\n") and "## Resilience drills" in readme
    assert project.current(root).config_file == root / "pyproject.toml"
    assert load_environment(root / "environments" / "my-cluster.yaml").topology.replicas == 1
    (root / "features" / "first_drill.feature").write_text("Feature: edited\n")
    again = init_project(root)
    assert again.written == [] and "features/first_drill.feature" in again.kept
    assert (root / "features" / "first_drill.feature").read_text() == "Feature: edited\n"
    assert (root / "README.md").read_text() == readme  # not appended twice
    assert (root / "pyproject.toml").read_text().count("[tool.pg_chaos_harness]") == 1


def test_the_starter_drill_uses_only_known_steps() -> None:
    import importlib

    from pytest_bdd.steps import step_function_context_registry

    from harness.steps import plugin

    for family in plugin.pytest_plugins:
        importlib.import_module(family)
    feature = (resources.starter_dir() / "features" / "first_drill.feature").read_text()
    steps = [line.strip().split(" ", 1)[1] for line in feature.splitlines()
             if line.strip().split(" ", 1)[0] in ("Given", "When", "Then", "And")]
    assert len(steps) >= 8
    parsers = [c.parser for c in list(step_function_context_registry.values())]
    for step in steps:
        assert any(p.is_matching(step) for p in parsers), step


def test_doctor_names_each_check_and_says_how_to_get_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from harness.commands import doctor

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("HARNESS_ALLURE_CLI", "/nonexistent/allure")
    checks = {c.name.split(" (")[0]: c for c in doctor.run_checks()}
    assert {"Docker daemon", "debootstrap", "nftables", "loop devices", "node images", "Allure renderer"} <= set(checks)
    for name in ("debootstrap", "nftables", "Allure renderer"):
        assert not checks[name].ok and checks[name].fix, name
    assert "apt-get install debootstrap" in checks["debootstrap"].fix
    assert "allure@" in checks["Allure renderer"].fix


_UNRELATED = textwrap.dedent("""
    import sys

    def test_nothing_of_the_harness_is_loaded():
        assert "harness.steps.plugin" not in sys.modules
        assert not any(m.startswith("harness.drill") for m in sys.modules)
""")


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env["PYTHONPATH"] = str(REPO)
    # The entry point as the package declares it (the trunk venv may have been installed earlier).
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:harness", "-p", "harness.steps.entry",
                           "-p", "no:cacheprovider", "-q", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_an_unrelated_test_run_loads_nothing_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_unrelated.py").write_text(_UNRELATED)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "streaming.yaml").write_text("topology: [broken\n")
    out = _pytest(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environments", "test_unrelated.py"]


def test_a_broken_environment_fails_the_scenario_that_uses_it_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pg_chaos_harness]\nreports = 'out'\n")
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "bad.yaml").write_text("name: bad\ntopology:\n  replicas: -1\n")
    (tmp_path / "bad.feature").write_text(
        'Feature: f\n  Scenario: uses a broken environment\n    Given the environment "bad"\n')
    (tmp_path / "test_bdd.py").write_text('from pytest_bdd import scenarios\nscenarios("bad.feature")\n')
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n")
    out = _pytest(tmp_path, "-rA")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "PASSED test_plain.py::test_plain" in out.stdout
    assert "FAILED test_bdd.py::test_uses_a_broken_environment" in out.stdout
    assert "bad.yaml:3: topology.replicas" in out.stdout
    assert list((tmp_path / "out" / "runs").glob("*/summary.json"))

