"""The user's project: the folder a drill runs in, its settings and where its reports go.

The project is the nearest folder at or above the working directory whose ``pyproject.toml``
has a ``[tool.pg_chaos_harness]`` table, or else the working directory itself. Its settings
(all optional, paths relative to the project)::

    [tool.pg_chaos_harness]
    reports = "reports"            # summary.json, journals, Allure results, the HTML report
    environments = "environments"  # the project's own environment files, looked up first
    runbooks = "runbooks"          # the project's own runbooks, looked up first

The reports folder is, first that applies: ``HARNESS_REPORTS_DIR`` (what ``--reports DIR``
of the CLI sets), the ``reports`` setting, ``<project>/reports``. A ``pyproject.toml`` inside
an installed package's folder (site-packages) is never read: that is not a user's project.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import EnvironmentFileError

__all__ = ["Project", "current", "reports_dir"]

TABLE = "pg_chaos_harness"
_KEYS = ("reports", "environments", "runbooks")


def _installed(path: Path) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.parts)


@dataclass(frozen=True)
class Project:
    root: Path
    settings: dict[str, str] = field(default_factory=dict)
    config_file: Path | None = None  # the pyproject.toml that holds [tool.pg_chaos_harness]

    def path(self, key: str, default: str) -> Path:
        return (self.root / self.settings.get(key, default)).resolve()

    @property
    def reports(self) -> Path:
        env = os.environ.get("HARNESS_REPORTS_DIR")
        if env:
            return Path(env).resolve()
        return self.path("reports", "reports")

    @property
    def environments(self) -> Path:
        return self.path("environments", "environments")

    @property
    def runbooks(self) -> Path:
        return self.path("runbooks", "runbooks")


def _settings(pyproject: Path) -> dict[str, str] | None:
    """The [tool.pg_chaos_harness] table of a pyproject.toml, None when it has none."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    except tomllib.TOMLDecodeError as exc:
        raise EnvironmentFileError(str(pyproject), [f"not valid TOML: {exc}"]) from exc
    table = data.get("tool", {}).get(TABLE)
    if table is None:
        return None
    if not isinstance(table, dict):
        raise EnvironmentFileError(str(pyproject), [f"[tool.{TABLE}] must be a table"])
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise EnvironmentFileError(str(pyproject), [f"[tool.{TABLE}]: unknown setting(s) {', '.join(unknown)} "
                                                    f"(known: {', '.join(_KEYS)})"])
    bad = [k for k, v in table.items() if not isinstance(v, str)]
    if bad:
        raise EnvironmentFileError(str(pyproject), [f"[tool.{TABLE}].{bad[0]} must be a string (a path)"])
    return {str(k): str(v) for k, v in table.items()}


def current(start: Path | None = None) -> Project:
    """The project that contains ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if _installed(folder) or not candidate.is_file():
            continue
        settings = _settings(candidate)
        if settings is not None:
            return Project(folder, settings, candidate)
    return Project(here)


def reports_dir(start: Path | None = None) -> Path:
    return current(start).reports
