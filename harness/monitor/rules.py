"""Alert rules (YAML) and their evaluation over samples, as a small state machine per node.

A rule is ``when: <metric> <op> <number>``, optional ``for_s`` (how long it must hold) and
``only: primary|replica``. A metric missing from a sample makes the condition false, except
``up``, which every sample carries.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness import resources
from harness.errors import EnvironmentFileError
from harness.history import AlertEvent, Sample, now

__all__ = ["AlertRule", "AlertRules", "RuleEngine", "alert_key", "load_rules", "DEFAULT_RULES"]

# The built-in default rules (package data); ``load_rules()`` takes the project's own
# ``environments/alerts/default.yaml`` first when it has one.
DEFAULT_RULES = resources.builtin_dir("alerts") / "default.yaml"
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
_WHEN = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")


def alert_key(name: str) -> str:
    """An alert's name without case, spaces or signs: "database down" and DatabaseDown match."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


class AlertRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    severity: Literal["critical", "warning", "info"]
    when: str
    for_s: float = Field(default=0, ge=0)
    only: Literal["primary", "replica"] | None = None

    @field_validator("when")
    @classmethod
    def _parses(cls, v: str) -> str:
        if not _WHEN.match(v):
            raise ValueError(f"{v!r} is not '<metric> <op> <number>' (op: < <= > >= == !=)")
        return v

    def holds(self, sample: Sample) -> bool:
        m = _WHEN.match(self.when)
        assert m is not None
        metric, op, number = m.group(1), m.group(2), float(m.group(3))
        if self.only == "primary" and sample.role != "primary":
            return False
        if self.only == "replica" and sample.role != "replica":
            return False
        value = sample.metrics.get(metric)
        return value is not None and _OPS[op](value, number)


class AlertRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rules: list[AlertRule]

    def named(self, name: str) -> AlertRule:
        for r in self.rules:
            if r.name.lower() == name.lower():
                return r
        raise KeyError(name)


def load_rules(path: Path | None = None) -> AlertRules:
    try:
        path = path or resources.alert_rules("default")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return AlertRules.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise EnvironmentFileError(str(path), [str(exc)]) from exc


class RuleEngine:
    """Feeds samples through the rules; returns the firing/resolved events to record."""

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self._since: dict[tuple[str, str], float] = {}  # condition true since (monotonic)
        self._firing: set[tuple[str, str]] = set()

    def feed(self, sample: Sample) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        for rule in self.rules.rules:
            key = (rule.name, sample.node)
            if rule.holds(sample):
                since = self._since.setdefault(key, sample.at.t)
                if key not in self._firing and sample.at.t - since >= rule.for_s:
                    self._firing.add(key)
                    out.append(AlertEvent(at=now(), alert=rule.name, severity=rule.severity, node=sample.node,
                                          phase="firing", detail=f"{rule.when} for {sample.at.t - since:.1f} s"))
            else:
                self._since.pop(key, None)
                if key in self._firing:
                    self._firing.discard(key)
                    out.append(AlertEvent(at=now(), alert=rule.name, severity=rule.severity, node=sample.node,
                                          phase="resolved"))
        return out

    @property
    def firing(self) -> set[tuple[str, str]]:
        return set(self._firing)
