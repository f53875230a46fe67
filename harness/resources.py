"""Where the harness finds its files: the user's project first, the built-in data after it.

Built-in data ships inside the package (``harness/data/``: environments, image build files,
load profiles, alert rules, runbooks, the ``harness init`` starter) and is found through
:mod:`importlib.resources`, so it is there whether the package was installed from a wheel, a
source tree or in editable mode. Every module that needs one of these files asks here; none
builds a path from its own ``__file__``.

In a source checkout a file may still sit in its old place at the top of the repository
(``environments/``, ``runbooks/``) until it is moved under ``harness/data/``
(``scripts/move-data``); such a file is found too, after the packaged ones.

By name, a project's own file comes first::

    <project>/environments/NAME.yaml          then  built-in environments/NAME.yaml
    <project>/runbooks/NAME.yaml              then  built-in runbooks/NAME.yaml
    <project>/environments/alerts/NAME.yaml   then  built-in environments/alerts/NAME.yaml
    <project>/environments/load/profiles.yaml then  built-in environments/load/profiles.yaml
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

from harness import project
from harness.errors import SetupError

__all__ = [
    "Found",
    "alert_rules",
    "builtin",
    "builtin_dir",
    "builtin_environment",
    "catalog",
    "checkout",
    "environment",
    "image_context",
    "images_dir",
    "load_profiles_file",
    "runbook",
    "starter_dir",
]

Origin = Literal["project", "built-in"]
Kind = Literal["environments", "runbooks", "alerts", "images"]

# Folder of each kind, relative to the built-in data and (for alerts) to the project's
# environments folder.
_BUILTIN_DIRS: dict[Kind, str] = {
    "environments": "environments",
    "runbooks": "runbooks",
    "alerts": "environments/alerts",
    "images": "environments/images",
}


@dataclass(frozen=True)
class Found:
    name: str
    path: Path
    origin: Origin


def _package_data() -> Path:
    # A package installed as files (wheel, sdist, editable) gives a real path; a zipped one
    # would not, and the image builds need real folders: say so rather than fail obscurely.
    root = files("harness") / "data"
    if not isinstance(root, Path):
        raise SetupError(f"the harness package's data is not on the file system ({root}): install it unzipped")
    return root


def checkout() -> Path | None:
    """The source checkout the package runs from, when it does (never an installed folder)."""
    here = Path(__file__).resolve().parents[1]
    if project._installed(here) or not (here / "pyproject.toml").is_file() or not (here / "harness").is_dir():
        return None
    return here


def _builtin_roots() -> list[Path]:
    roots = [_package_data()]
    legacy = checkout()
    if legacy is not None:
        roots.append(legacy)
    return roots


def builtin(relative: str) -> Path:
    """A built-in file or folder by its path under the data (``environments/images/node``)."""
    roots = _builtin_roots()
    for root in roots:
        p = root / relative
        if p.exists():
            return p
    raise SetupError(f"built-in harness data {relative!r} is missing (looked in {', '.join(map(str, roots))}): "
                     "the package is incomplete; reinstall it")


def builtin_dir(kind: Kind) -> Path:
    """The folder of a kind's built-in files (never raises: importing must not fail on data)."""
    dirs = _builtin_dirs(kind)
    return next((d for d in dirs if d.is_dir()), dirs[0])


def _user_dir(kind: Kind, proj: project.Project) -> Path:
    if kind == "environments":
        return proj.environments
    if kind == "runbooks":
        return proj.runbooks
    return proj.environments / kind


def _builtin_dirs(kind: Kind) -> list[Path]:
    return [root / _BUILTIN_DIRS[kind] for root in _builtin_roots()]


def catalog(kind: Kind, proj: project.Project | None = None) -> list[Found]:
    """Every file of a kind by name: the project's first, then the built-in ones it does not shadow."""
    proj = proj or project.current()
    seen: dict[str, Found] = {}
    user = _user_dir(kind, proj)
    dirs: list[tuple[Path, Origin]] = [(user, "project")]
    dirs += [(d, "built-in") for d in _builtin_dirs(kind)]
    out: list[Found] = []
    for folder, origin in dirs:
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.yaml")):
            if f.stem in seen:
                continue
            seen[f.stem] = Found(f.stem, f, origin)
            out.append(seen[f.stem])
    return out


def _by_name(kind: Kind, name: str, proj: project.Project | None) -> Found | None:
    for found in catalog(kind, proj):
        if found.name == name:
            return found
    return None


def environment(name: str, proj: project.Project | None = None) -> Found | None:
    """An environment file by name: ``<project>/environments/NAME.yaml``, else the built-in one."""
    return _by_name("environments", name, proj)


def builtin_environment(name: str) -> Path | None:
    for folder in _builtin_dirs("environments"):
        p = folder / f"{name}.yaml"
        if p.is_file():
            return p
    return None


def runbook(name: str, proj: project.Project | None = None) -> Found | None:
    return _by_name("runbooks", name, proj)


def alert_rules(name: str = "default", proj: project.Project | None = None) -> Path:
    """An alert rules file by name (``default``): the project's ``environments/alerts/`` first."""
    found = _by_name("alerts", name, proj)
    if found is None:
        raise SetupError(f"no alert rules {name!r} (known: {', '.join(f.name for f in catalog('alerts', proj))})")
    return found.path


def load_profiles_file(proj: project.Project | None = None) -> Path:
    """The load profiles: ``<project>/environments/load/profiles.yaml`` if the project has one."""
    proj = proj or project.current()
    own = proj.environments / "load" / "profiles.yaml"
    return own if own.is_file() else builtin("environments/load/profiles.yaml")


def images_dir() -> Path:
    """The folder holding one build folder per image (``base``, ``node``, ...)."""
    return builtin("environments/images")


def image_context(name: str) -> Path:
    """The build folder of one image (its Dockerfile or recipe and the files it copies)."""
    return builtin(f"environments/images/{name}")


def starter_dir() -> Path:
    """The files ``harness init`` copies into a new project."""
    return builtin("starter")
