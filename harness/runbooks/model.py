"""Runbooks: YAML files in ``runbooks/`` in the template of docs/runbooks.md, validated.

A step is automated when it names a harness ``action`` (see :mod:`harness.runbooks.actions`)
or a ``shell`` command to run on a ``target`` node (a role); otherwise it is manual: its ``command``
is an instruction for a person, and ``options`` the choices they may answer with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness import resources
from harness.errors import EnvironmentFileError

__all__ = ["RUNBOOKS_DIR", "Runbook", "RunbookStep", "load_runbook"]

# The built-in runbooks (package data); a project's own ``runbooks/`` come first by name.
RUNBOOKS_DIR = resources.builtin_dir("runbooks")


class RunbookStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    command: str | None = None  # for a person (manual), or a description
    options: list[str] = Field(default_factory=list)
    action: str | None = None  # a harness action: automated
    shell: str | None = None  # a shell command on a node: automated
    target: str = "the primary"  # the role the shell command runs on (not `on:`, which YAML reads as true)
    expect_s: float | None = Field(default=None, ge=0)  # scripted duration of a manual step in CI

    @model_validator(mode="after")
    def _one_kind(self) -> RunbookStep:
        if self.action and self.shell:
            raise ValueError("a step is either an action or a shell command, not both")
        return self

    @property
    def kind(self) -> Literal["action", "shell", "manual"]:
        return "action" if self.action else "shell" if self.shell else "manual"


class Runbook(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    incident_type: str
    severity: Literal["critical", "warning", "info"]
    description: str = ""
    steps: list[RunbookStep] = Field(min_length=1)


def load_runbook(name: str | Path) -> Runbook:
    p = Path(name)
    if not p.exists():
        found = resources.runbook(p.stem if p.suffix in (".yaml", ".yml") and p.parent == Path("runbooks") else str(name))
        if found is not None:
            p = found.path
    if not p.exists():
        known = ", ".join(f.name for f in resources.catalog("runbooks"))
        raise EnvironmentFileError(str(name), [f"no such runbook (known: {known})"])
    try:
        return Runbook.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise EnvironmentFileError(str(p), [str(exc)]) from exc
