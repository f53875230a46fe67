"""How ``harness run`` points pytest at the user's project (never at the installed package).

pytest would find a configuration file by itself from the paths it is given, but
``harness run`` hands it a generated module inside the reports folder, which may lie outside
the project (``--reports /tmp/x``): so the project's own pytest configuration is named
explicitly when it has one.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

from harness import project
from harness.errors import HarnessError

__all__ = ["default_targets", "project_config_file", "pytest_config_args"]


def _has_pytest_section(path: Path) -> bool:
    try:
        if path.name == "pyproject.toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return "ini_options" in data.get("tool", {}).get("pytest", {})
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        return parser.has_section("tool:pytest" if path.name == "setup.cfg" else "pytest")
    except (OSError, tomllib.TOMLDecodeError, configparser.Error):
        return False


def project_config_file(root: Path) -> Path | None:
    """The project's pytest configuration file, in pytest's own order of preference."""
    for name in ("pytest.ini", ".pytest.ini"):
        if (root / name).is_file():
            return root / name
    for name in ("pyproject.toml", "tox.ini", "setup.cfg"):
        if (root / name).is_file() and _has_pytest_section(root / name):
            return root / name
    return None


def pytest_config_args() -> tuple[Path, list[str]]:
    """The project's root and the ``-c FILE`` arguments naming its pytest configuration (if any)."""
    proj = project.current()
    config = project_config_file(proj.root)
    return proj.root, (["-c", str(config)] if config is not None else [])


def default_targets(root: Path) -> Path:
    """What ``harness run`` with no paths runs: the project's test modules, else its features."""
    for name in ("scenarios", "features"):
        if (root / name).is_dir():
            return root / name
    raise HarnessError(f"nothing to run in {root}: no scenarios/ or features/ folder "
                       "(name feature files or folders, or run `harness init` to start a project)")
