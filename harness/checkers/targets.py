"""Targets (what the environment or scenario demands) and their evaluation against measurements.

Checkers say what happened; targets decide pass or fail. RTO, RPO, downtime and MTTR bounds
are strict ("under"), availability is "at least", the lost-write count and the share of the
error budget "at most". A measurement that is missing where a bound applies is a violation:
no number is not a pass.

By default the downtime is judged against the error budget (``slo`` over ``slo_period``:
99.9 % of 30 days is 2592 s), not a short drill window's availability against the SLO: a
10 s window with a 0.5 s outage is 95 % available, and is no breach of a monthly 99.9 %.
Availability is judged only where a scenario asks for it.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.checkers.availability import DEFAULT_SLO, DEFAULT_SLO_PERIOD_S
from harness.checkers.measure import Measurements
from harness.units import parse_duration

__all__ = ["Targets", "Violation", "evaluate", "evaluate_mttr"]


class Targets(BaseModel):
    """The targets every scenario is judged against; a scenario's Then steps tighten them."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
    max_rto_write_s: float = Field(default=3600, gt=0)
    """Write RTO under this (seconds): from each fault to the end of the outage it caused."""
    max_rto_read_s: float = Field(default=3600, gt=0)
    """Read RTO under this (seconds)."""
    max_rpo_s: float = Field(default=900, gt=0)
    """RPO under this (seconds): the span of data lost."""
    max_lost_writes: int | None = Field(default=None, ge=0)
    """At most this many acknowledged writes lost; none: no bound on the count."""
    min_availability: float | None = Field(default=None, ge=0, le=1)
    """Availability at least this (a fraction); none: reported, not judged."""
    max_mttr_s: float = Field(default=1800, gt=0)
    """MTTR over a drill's repetitions under this (seconds)."""
    max_downtime_s: float | None = Field(default=None, gt=0)
    """Total downtime in the window under this (seconds); none: judged by the error budget only."""
    max_error_budget_used: float = Field(default=1.0, gt=0)
    """At most this fraction of the error budget used by one drill."""
    slo: float = Field(default=DEFAULT_SLO, gt=0, lt=1)
    """The availability objective: a fraction, or "99.9 %"."""
    slo_period: float = Field(default=DEFAULT_SLO_PERIOD_S, gt=0)
    """The SLO's period: seconds, or "30 days", "1 hour"; with the SLO it gives the error budget."""

    @field_validator("slo", mode="before")
    @classmethod
    def _percent(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().endswith("%"):
            return float(v.strip().rstrip("%")) / 100
        return v

    @field_validator("slo_period", mode="before")
    @classmethod
    def _period(cls, v: object) -> object:
        if isinstance(v, str):
            days = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:days?|d)\s*", v.lower())
            return float(days.group(1)) * 86400 if days else parse_duration(v)
        return v

    @property
    def error_budget_s(self) -> float:
        return (1 - self.slo) * self.slo_period

    def with_(self, **changes: float | None) -> Targets:
        """A copy with ``changes`` applied, validated (an unknown name is an error)."""
        return Targets.model_validate({**self.model_dump(), **changes})


class Violation(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str  # the Measurements field, e.g. "rto_write_s"
    measured: float | int | None
    target: str  # e.g. "< 10 s"
    message: str


def _under(
    name: str, what: str, measured: float | None, bound: float, missing: str
) -> list[Violation]:
    target = f"< {bound:g} s"
    if measured is None:
        return [
            Violation(
                name=name,
                measured=None,
                target=target,
                message=f"{what}: {missing} (target {target})",
            )
        ]
    if measured < bound:
        return []
    return [
        Violation(
            name=name,
            measured=measured,
            target=target,
            message=f"{what} {measured:.2f} s is not under {bound:g} s",
        )
    ]


def outages_in_words(m: Measurements) -> str:
    """What a downtime is made of, for a missed target: how many outages, the longest, the sum."""
    if not m.outages:
        return ""
    longest = max(o.length_s for o in m.outages)
    many = "outage" if len(m.outages) == 1 else "outages"
    return f" ({len(m.outages)} {many}, the longest {longest:.2f} s, {m.downtime_s or 0:.2f} s in all)"


def _with_outages(violations: list[Violation], m: Measurements) -> list[Violation]:
    return [v.model_copy(update={"message": v.message + outages_in_words(m)}) for v in violations]


def evaluate(m: Measurements, t: Targets) -> list[Violation]:
    out = _under(
        "rto_write_s",
        "write RTO",
        m.rto_write_s,
        t.max_rto_write_s,
        "no recovery measured",
    )
    if (
        m.reads_ok + m.reads_failed > 0
    ):  # the read bound applies only when reads were probed
        out += _under(
            "rto_read_s",
            "read RTO",
            m.rto_read_s,
            t.max_rto_read_s,
            "no recovery measured",
        )
    out += _under("rpo_s", "RPO (span of lost data)", m.rpo_s, t.max_rpo_s, "loss not measured")
    if t.max_downtime_s is not None:
        out += _with_outages(_under("downtime_s", "downtime", m.downtime_s, t.max_downtime_s, "not measured"), m)
    budget = f"<= {t.max_error_budget_used * 100:g} % of {t.error_budget_s:g} s"
    if m.error_budget_used is None:
        out.append(Violation(name="error_budget_used", measured=None, target=budget,
                             message=f"error budget: downtime not measured (target {budget})"))
    elif m.error_budget_used > t.max_error_budget_used:
        out.append(Violation(name="error_budget_used", measured=m.error_budget_used, target=budget,
                             message=f"the drill used {m.error_budget_used * 100:.3g} % of the error budget "
                                     f"({m.downtime_s or 0:.2f} s of {t.error_budget_s:g} s), more than "
                                     f"{t.max_error_budget_used * 100:g} %{outages_in_words(m)}"))

    if t.max_lost_writes is not None:
        target = f"<= {t.max_lost_writes} writes"
        if m.rpo_lost_writes is None:
            out.append(
                Violation(
                    name="rpo_lost_writes",
                    measured=None,
                    target=target,
                    message=f"lost writes: loss not measured (target {target})",
                )
            )
        elif m.rpo_lost_writes > t.max_lost_writes:
            out.append(
                Violation(
                    name="rpo_lost_writes",
                    measured=m.rpo_lost_writes,
                    target=target,
                    message=f"{m.rpo_lost_writes} acknowledged writes lost, more than {t.max_lost_writes}",
                )
            )

    if t.min_availability is None:
        pass  # reported, judged only where a scenario asks
    elif m.availability is None:
        out.append(
            Violation(
                name="availability",
                measured=None,
                target=f">= {round(t.min_availability * 100, 6):g} %",
                message=f"availability: not measured (target >= {round(t.min_availability * 100, 6):g} %)",
            )
        )
    elif m.availability < t.min_availability:
        out.append(
            Violation(
                name="availability",
                measured=m.availability,
                target=f">= {round(t.min_availability * 100, 6):g} %",
                message=f"availability {m.availability * 100:.3f} % is not at least "
                        f"{round(t.min_availability * 100, 6):g} %{outages_in_words(m)}",
            )
        )
    if m.dr is not None and m.dr.repetitions:  # a repeated drill is held to the MTTR target
        out += evaluate_mttr(m.dr.mttr_s, t)
    return out


def evaluate_mttr(mttr_s: float | None, t: Targets) -> list[Violation]:
    """MTTR is a mean over a drill's repetitions, so it is judged apart from one run's measurements."""
    return _under("mttr_s", "MTTR", mttr_s, t.max_mttr_s, "no repetition recovered")
