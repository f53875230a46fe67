"""One scenario's result, and the list of numbers every view of it shows.

:class:`ScenarioResult` is filled while the scenario runs (status, measurements, targets,
violations, sections) and rendered, unchanged, by every view: ``summary.json``
(:meth:`ScenarioResult.to_json`, whose keys scripts read and which stay as they are),
summary.md/html (:mod:`harness.report.summary`), the CLI table (``harness run``) and the
Allure parameters. No view lists measurement names of its own: they come from
:data:`METRICS`.

Extension points:

- a new number: a field of :class:`~harness.checkers.Measurements`, then
  ``register_metric(Metric("my_number_s", "my number", unit=" s", target="max_my_number_s"))``
  (``target`` names the :class:`~harness.checkers.Targets` bound, if any): it appears in the
  summary table, the CLI table, the Allure parameters and the measurements attachment.
- a new section (versions, client paths, cost, ...): a pydantic model stored under a name in
  ``ScenarioResult.sections`` (a drill part does it by implementing
  :class:`harness.parts.ReportsSection`); summary.json gets it under ``sections.<name>``,
  summary.md/html a table per section (one row per scenario, a column per top-level field),
  Allure a parameter per field (``<name>.<field>``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from harness.checkers import Measurements, Targets, Violation
from harness.checkers.load import LoadPhase

__all__ = ["METRICS", "FaultResult", "fault_results", "Metric", "MetricVerdict", "ScenarioResult", "Status", "fmt_value",
           "metric", "register_metric", "section_rows", "target_text", "with_target"]

#: passed; failed (a target was missed, an expectation did not hold); error (the drill broke:
#: the harness or the system under test could not run it); aborted (stopped by a guard or a signal).
Status = Literal["passed", "failed", "error", "aborted"]


@dataclass(frozen=True)
class Metric:
    """One number of :class:`Measurements` as the views show it."""

    key: str  # the Measurements field (and the Violation name)
    label: str  # for people: "write RTO"
    unit: str = ""  # " s", " ms", "" (counts); "%" formats a 0..1 ratio as a percentage
    target: str | None = None  # the Targets field that bounds it ("max_rto_write_s")
    bound: Literal["<", "≤", "≥"] = "<"
    #: Shown in the summary's and the CLI's main table (the headline numbers).
    headline: bool = True
    #: Left out of the Allure parameters when None (a number only some drills have).
    optional: bool = False


METRICS: list[Metric] = [
    Metric("rto_write_s", "write RTO", " s", "max_rto_write_s"),
    Metric("rto_read_s", "read RTO", " s", "max_rto_read_s"),
    Metric("rpo_lost_writes", "lost writes", "", "max_lost_writes", "≤"),
    Metric("rpo_s", "RPO (span of lost data)", " s", "max_rpo_s"),
    Metric("downtime_s", "downtime", " s", "max_downtime_s"),
    Metric("error_budget_used", "error budget used", "%", "max_error_budget_used", "≤"),
    Metric("availability", "availability", "%", "min_availability", "≥"),
    Metric("faults", "write RTO per fault", " s"),
    Metric("detection_s", "detection (MTTD)", " s"),
    Metric("ha_detection_s", "HA detection", " s", headline=False, optional=True),
    Metric("ha_new_leader_s", "new leader", " s", headline=False, optional=True),
    Metric("ha_first_write_s", "first write on the new leader", " s", headline=False, optional=True),
    Metric("ha_rejoin_s", "old leader rejoined", " s", headline=False, optional=True),
    Metric("ha_took_back_s", "old leader took leadership back", " s", headline=False, optional=True),
    Metric("ha_rto_minus_ttl_s", "write RTO - ttl", " s", headline=False, optional=True),
    Metric("probe_interval_s", "probe interval", " s", headline=False),
]


def register_metric(m: Metric) -> Metric:
    """Add a number to every view (replaces one of the same key)."""
    METRICS[:] = [x for x in METRICS if x.key != m.key] + [m]
    return m


def metric(key: str) -> Metric:
    for m in METRICS:
        if m.key == key:
            return m
    raise KeyError(key)


def fmt_value(m: Metric, v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, list):  # the faults, in injection order: "pause node1 0.812 s; kill node2 n/a"
        rows = [x if isinstance(x, Mapping) else x.model_dump() for x in v]
        return "; ".join(f"{r['name']} {r['target']} {fmt_value(m, r['rto_write_s'])}" for r in rows) or "no fault"
    if m.unit == "%":
        return f"{v * 100:.2f} %"
    return f"{v:.3f}{m.unit}" if isinstance(v, float) else f"{v}{m.unit}"


def target_text(m: Metric, targets: Mapping[str, Any]) -> str:
    """"< 10 s", "≥ 99.9 %", "" (no bound)."""
    if m.target is None:
        return ""
    t = targets.get(m.target)
    if t is None:
        return ""  # nothing bounds it (availability unless asked; lost writes, downtime)
    if m.unit == "%":
        return f"{m.bound} {t * 100:g} %"
    return f"{m.bound} {t:g}{m.unit}"


class MetricVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    label: str
    value: float | int | None
    target: str  # "" when nothing bounds it
    verdict: Literal["met", "missed", "unjudged"]


class FaultResult(BaseModel):
    """Per-fault numbers of a drill with several faults (filled by the checkers that split them)."""

    model_config = ConfigDict(frozen=True)
    fault: str
    target: str
    numbers: dict[str, float | int | None] = Field(default_factory=dict)


class ScenarioResult(BaseModel):
    """What summary.json says of one scenario (filled as the scenario runs)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    feature: str
    scenario: str
    directory: Path
    status: Status = "error"
    message: str = ""
    measurements: Measurements | None = None
    targets: Targets | None = None
    violations: list[Violation] = Field(default_factory=list)
    asserted: set[str] = Field(default_factory=set)
    topology: str = ""
    tags: list[str] = Field(default_factory=list)
    load_phases: list[LoadPhase] = Field(default_factory=list)
    faults: list[FaultResult] = Field(default_factory=list)
    #: Typed sections contributed by drill parts (see the module's docstring).
    sections: dict[str, SerializeAsAny[BaseModel]] = Field(default_factory=dict)

    def verdicts(self) -> list[MetricVerdict]:
        """Each number of :data:`METRICS` against its target."""
        missed = {v.name for v in self.violations}
        m = self.measurements
        t = self.targets.model_dump() if self.targets else {}
        out = []
        for spec in METRICS:
            value = getattr(m, spec.key, None) if m is not None else None
            text = target_text(spec, t)
            verdict: Literal["met", "missed", "unjudged"] = (
                "missed" if spec.key in missed else "met" if text and m is not None else "unjudged")
            out.append(MetricVerdict(key=spec.key, label=spec.label, value=value, target=text, verdict=verdict))
        return out

    def to_json(self) -> dict[str, Any]:
        m = self.measurements.model_dump() if self.measurements else {}
        if self.status == "error" and m:
            # The harness broke: whatever it measured is no result of the system under test,
            # so every number reads n/a, never a measured-looking 0 s or 100 %.
            m = {k: (v if k in _KEPT_ON_ERROR else None) for k, v in m.items()}
        out: dict[str, Any] = {
            "feature": self.feature,
            "scenario": self.scenario,
            "status": self.status,
            "message": self.message,
            "tags": self.tags,
            "load": [p.model_dump() for p in self.load_phases],
            "topology": self.topology,
            "measurements": m,
            "targets": self.targets.model_dump() if self.targets else {},
            "asserted": sorted(self.asserted),
            "violations": [v.model_dump() for v in self.violations],
            "journal": str(self.directory / "journal.jsonl"),
        }
        if self.faults:
            out["faults"] = [f.model_dump() for f in self.faults]
        if self.sections:
            out["sections"] = {k: v.model_dump(mode="json") for k, v in self.sections.items()}
            if "cost" in out["sections"]:  # what the drill cost is a headline of its own (also where it was)
                out["cost"] = out["sections"]["cost"]
        return out


_KEPT_ON_ERROR = {"status", "problems", "probe_interval_s"}


def fault_results(m: Measurements | None) -> list[FaultResult]:
    """Each fault's numbers (from ``Measurements.faults``) for :attr:`ScenarioResult.faults`."""
    if m is None:
        return []
    return [FaultResult(fault=f.name, target=f.target,
                        numbers=f.model_dump(exclude={"name", "target"})) for f in m.faults]


def _scalar(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_scalar(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k} {_scalar(x)}" for k, x in v.items())
    return str(v)


def section_rows(scenarios: list[Mapping[str, Any]]) -> Iterator[tuple[str, list[str], list[list[str]]]]:
    """Every section found in summary.json's scenarios: (name, head, rows), one row per scenario."""
    names: list[str] = []
    for s in scenarios:
        for k in (s.get("sections") or {}):
            if k not in names:
                names.append(k)
    for name in names:
        fields: list[str] = []
        for s in scenarios:
            for f in ((s.get("sections") or {}).get(name) or {}):
                if f not in fields:
                    fields.append(f)
        rows = [[str(s["scenario"])] + [_scalar(((s.get("sections") or {}).get(name) or {}).get(f)) for f in fields]
                for s in scenarios if (s.get("sections") or {}).get(name)]
        yield name, ["scenario", *fields], rows


def with_target(m: Metric, v: Any, targets: Mapping[str, Any]) -> str:
    text = target_text(m, targets)
    return fmt_value(m, v) + (f" ({text})" if text else "")
