"""Targets (what the environment or scenario demands) and their evaluation against measurements.

Checkers say what happened; targets decide pass or fail. RTO, RPO window and MTTR bounds are
strict ("under"), availability is "at least", the lost-write count "at most". A measurement
that is missing where a bound applies is a violation: no number is not a pass.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.checkers.measure import Measurements

__all__ = ["Targets", "Violation", "evaluate", "evaluate_mttr"]


class Targets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_rto_write_s: float = Field(default=3600, gt=0)
    max_rto_read_s: float = Field(default=3600, gt=0)
    max_rpo_s: float = Field(default=900, gt=0)  # bound on the RPO window
    max_lost_writes: int | None = Field(
        default=None, ge=0
    )  # None: no bound on the count
    min_availability: float = Field(default=0.999, ge=0, le=1)
    max_mttr_s: float = Field(default=1800, gt=0)

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
    out += _under(
        "rpo_window_s", "RPO window", m.rpo_window_s, t.max_rpo_s, "loss not measured"
    )

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

    pct = round(t.min_availability * 100, 6)
    target = f">= {pct:g} %"
    if m.availability is None:
        out.append(
            Violation(
                name="availability",
                measured=None,
                target=target,
                message=f"availability: not measured (target {target})",
            )
        )
    elif m.availability < t.min_availability:
        out.append(
            Violation(
                name="availability",
                measured=m.availability,
                target=target,
                message=f"availability {m.availability * 100:.3f} % is not at least {pct:g} %",
            )
        )
    if m.dr is not None and m.dr.repetitions:  # a repeated drill is held to the MTTR target
        out += evaluate_mttr(m.dr.mttr_s, t)
    return out


def evaluate_mttr(mttr_s: float | None, t: Targets) -> list[Violation]:
    """MTTR is a mean over a drill's repetitions, so it is judged apart from one run's measurements."""
    return _under("mttr_s", "MTTR", mttr_s, t.max_mttr_s, "no repetition recovered")
