"""docs/environment.md is generated from the environment models and fails the suite when it drifts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.environment import ENVIRONMENTS_DIR
from harness.environment_reference import render, sections

DOC = Path(__file__).resolve().parents[2] / "docs" / "environment.md"


def test_the_reference_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/environment.md drifted from harness/environment.py: "
        "python -m harness.environment_reference --write docs/environment.md")


def test_every_field_of_the_environment_models_has_a_description() -> None:
    missing = []
    for path, model in sections():
        if not model.__dict__.get("__doc__"):
            missing.append(f"{path or 'top level'}: the model {model.__name__} has no docstring")
        for name, info in model.model_fields.items():
            if not info.description:
                missing.append(f"{model.__name__}.{name}")
    assert missing == [], "give these a docstring below the field: " + ", ".join(missing)


def _keys(data: object, prefix: str = "") -> list[str]:
    if not isinstance(data, dict):
        return []
    out = []
    for k, v in data.items():
        full = f"{prefix}.{k}" if prefix else str(k)
        out.append(full)
        out += _keys(v, full)
    return out


def test_every_key_of_the_shipped_environment_files_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", render(), re.M))
    files = sorted(ENVIRONMENTS_DIR.glob("*.yaml"))
    assert files
    for f in files:
        for key in _keys(yaml.safe_load(f.read_text())):
            # A mapping field (topology.settings) documents itself, not each PostgreSQL setting in it.
            assert key in documented or any(key.startswith(d + ".") for d in documented), f"{f.name}: {key}"


def test_each_field_is_listed_once_with_type_and_default() -> None:
    rows = re.findall(r"^\| `([a-z_.]+)` \| (.*?) \| (.*?) \| (.*?) \|$", render(), re.M)
    names = [r[0] for r in rows]
    assert len(names) == len(set(names))
    by_name = {r[0]: r for r in rows}
    assert by_name["topology.replicas"][1:3] == ("integer, >= 0, <= 8", "`2`")
    assert by_name["name"][2] == "required"
    assert by_name["regions.wan.loss_pct"][1] == "number, >= 0, < 100"
    assert by_name["backup.tool"][1] == '`"pgbackrest"` or `"basebackup"`'
    assert "source" not in by_name  # set by the loader, not a field of the file
