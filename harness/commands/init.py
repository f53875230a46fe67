"""``harness init [DIR]``: a starter layout for a team's own repository.

It writes a features folder with one working drill, an environment file to edit, the test
module binding the features for pytest, a nightly CI example that publishes the Allure
report, a README paragraph and the ``[tool.pg_chaos_harness]`` table that makes the folder a
harness project. Files that exist are kept (``--force`` replaces the starter's own files;
README.md and pyproject.toml are only ever appended to).
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from harness import resources
from harness.commands.pytest_args import project_config_file

__all__ = ["STARTER_FILES", "InitResult", "init_project", "register"]

# starter file (under the packaged starter) -> where it goes in the project
STARTER_FILES = {
    "features/first_drill.feature": "features/first_drill.feature",
    "environments/my-cluster.yaml": "environments/my-cluster.yaml",
    "scenarios/test_drills.py": "scenarios/test_drills.py",
    "ci/resilience-nightly.yml": ".github/workflows/resilience-nightly.yml",
}
README_MARK = "## Resilience drills"


@dataclass(frozen=True)
class InitResult:
    written: list[str]
    kept: list[str]
    appended: list[str]


def _append(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    sep = "" if not old or old.endswith("\n") else "\n"
    path.write_text(old + sep + (text.lstrip("\n") if not old else text), encoding="utf-8")


def _pyproject(root: Path, starter: Path, appended: list[str], kept: list[str]) -> None:
    path = root / "pyproject.toml"
    tool: dict[str, object] = {}
    if path.exists():
        try:
            tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
        except tomllib.TOMLDecodeError as exc:
            raise typer.BadParameter(f"{path} is not valid TOML ({exc}): fix it, then run harness init again") from exc
    parts = []
    if "pg_chaos_harness" not in tool:
        parts.append((starter / "ci" / "pyproject-section.toml").read_text(encoding="utf-8"))
    # pytest's own settings only where the project has none anywhere (pytest.ini, tox.ini ...).
    if "pytest" not in tool and project_config_file(root) is None:
        parts.append((starter / "ci" / "pytest-section.toml").read_text(encoding="utf-8"))
    if parts:
        _append(path, "".join(parts))
        appended.append("pyproject.toml")
    else:
        kept.append("pyproject.toml")


def init_project(root: Path, *, force: bool = False) -> InitResult:
    starter = resources.starter_dir()
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    kept: list[str] = []
    appended: list[str] = []
    for src, dest in STARTER_FILES.items():
        target = root / dest
        if target.exists() and not force:
            kept.append(dest)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(starter / src, target)
        written.append(dest)
    readme = root / "README.md"
    if readme.exists() and README_MARK in readme.read_text(encoding="utf-8"):
        kept.append("README.md")
    else:
        (appended if readme.exists() else written).append("README.md")
        _append(readme, (starter / "ci" / "README-section.md").read_text(encoding="utf-8"))
    _pyproject(root, starter, appended, kept)
    return InitResult(written, kept, appended)


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        directory: Annotated[Path, typer.Argument(help="the project folder (created if missing)")] = Path("."),
        force: Annotated[bool, typer.Option(help="replace starter files that exist")] = False,
    ) -> None:
        """Write a starter layout: one working drill, an environment, the pytest binding, nightly CI."""
        from harness.commands.output import console

        result = init_project(directory, force=force)
        for name in result.written:
            console.print(f"  wrote    {name}")
        for name in result.appended:
            console.print(f"  appended {name}")
        for name in result.kept:
            console.print(f"  kept     {name} (exists)")
        where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
        console.print("next: " + where + "harness doctor && harness images build && harness run"
                      "   (or: pytest scenarios/)")
