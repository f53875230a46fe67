"""Choosing scenarios by name: ``harness run --scenario NAME`` and ``harness drill FEATURE:NAME``.

A name selects the scenario whose whole name it is (case and surrounding spaces aside), else
the one scenario whose name it begins; nothing or several matching is an error that lists the
candidates. Unlike pytest's ``-k``, "synchronous" never selects "asynchronous ...".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

__all__ = ["Chosen", "SelectionError", "choose", "feature_files", "split_target"]


class SelectionError(HarnessError):
    """No scenario, or more than one, answers to the name given."""


@dataclass(frozen=True)
class Chosen:
    feature: Path
    name: str
    line: int


def feature_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out += sorted(p.rglob("*.feature")) if p.is_dir() else [p]
    return out


def split_target(text: str) -> tuple[Path, str]:
    """``FEATURE:NAME`` → (FEATURE, NAME); a path that exists as written keeps its colons."""
    if Path(text).exists() or ":" not in text:
        return Path(text), ""
    path, _, name = text.partition(".feature:")
    if name or text.endswith(".feature:"):
        return Path(path + ".feature"), name
    path, _, name = text.rpartition(":")
    return Path(path), name


def _scenarios(files: list[Path]) -> list[Chosen]:
    from pytest_bdd.feature import get_feature

    out = []
    for f in files:
        feature = get_feature(str(f.resolve().parent), f.name)
        out += [Chosen(f, s.name, s.line_number) for s in feature.scenarios.values()]
    return out


def _norm(s: str) -> str:
    return " ".join(s.strip().strip('"').split()).casefold()


def choose(files: list[Path], name: str) -> list[Chosen]:
    """The scenarios of ``files`` that ``name`` selects: exactly one, or raise with the list."""
    every = _scenarios(files)
    want = _norm(name)
    exact = [c for c in every if _norm(c.name) == want]
    if len(exact) == 1:
        return exact
    prefix = exact or [c for c in every if _norm(c.name).startswith(want)]
    if len(prefix) == 1:
        return prefix
    listing = "\n".join(f"  {os.path.relpath(c.feature)}:{c.line}: {c.name}" for c in (prefix or every))
    if not prefix:
        raise SelectionError(f"no scenario is named {name!r} (nor begins so); the scenarios are:\n{listing}")
    raise SelectionError(f"{len(prefix)} scenarios begin with {name!r}; give more of the name:\n{listing}")
