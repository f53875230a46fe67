"""Report pieces of recovery by runbook and of disaster recovery, from the history.

Each returns an HTML table (None when the scenario has nothing of the kind): every runbook
step with its kind, outcome and duration (so MTTR breaks down by step), and the DR numbers
(DR RTO, fail back outages, RPO exposure, MTTR over repetitions with each one listed).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from harness.checkers.dr import dr_rto, mttr, switchover_outages
from harness.checkers.exposure import rpo_exposure
from harness.history import ActionEvent, Event, RunbookStepTaken, Sample

__all__ = ["dr_html", "runbook_steps_html"]


def _row(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def _table(head: list[str], rows: list[str]) -> str:
    return ("<table border=1 cellpadding=4><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join(rows) + "</table>")


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f} s"


def runbook_steps_html(events: Iterable[Event]) -> str | None:
    steps = [e for e in events if isinstance(e, RunbookStepTaken)]
    if not steps:
        return None
    rows = []
    for e in steps:
        detail = e.detail + (f" (a person is expected to take {e.expected_s:g} s)" if e.expected_s else "")
        rows.append(_row(str(e.index), e.name, e.step_kind, e.outcome, f"{e.end.t - e.at.t:.3f} s", detail[:300]))
    total = steps[-1].end.t - steps[0].at.t
    return _table(["#", "step", "kind", "outcome", "duration", "detail"], rows) + \
        f"<p>{len(steps)} steps in {total:.3f} s (a runbook run more than once lists each run's steps)</p>"


def dr_html(events: Iterable[Event]) -> str | None:
    evs = list(events)
    has_dr = any(isinstance(e, Sample) and "dr_replayed_seq" in e.metrics for e in evs) or any(
        isinstance(e, ActionEvent) and e.action.startswith(("dr.", "failback", "region.")) for e in evs)
    if not has_dr:
        return None
    rows = []
    r = dr_rto(evs)
    if r.status != "unknown":
        rows.append(_row("DR RTO (region loss to writes that keep succeeding)", _s(r.value_s), r.reason))
    for fb, outage in switchover_outages(evs):
        rows.append(_row(f"fail back to {fb.target}: switchover", _s(fb.end.t - fb.at.t), fb.detail))
        rows.append(_row(f"fail back to {fb.target}: write outage", _s(outage.value_s), outage.reason))
    for e in evs:
        if isinstance(e, ActionEvent) and e.action in ("dr.promote", "region.return", "dr.rebuild", "dr.follow"):
            rows.append(_row(f"{e.action} {e.target} ({e.outcome})", _s(e.end.t - e.at.t), e.detail[:300]))
    x = rpo_exposure(evs)
    rows.append(_row("RPO exposure, max", _s(x.max_s), x.reason))
    rows.append(_row("RPO exposure, mean", _s(x.mean_s), f"acknowledged writes at risk at most: {x.max_writes}"))
    out = [_table(["measure", "value", "how"], rows)]
    m = mttr(evs)
    if m.repetitions:
        reps = [_row(str(p.index), p.outcome, _s(p.detection_s), _s(p.recovery_s), _s(p.switchover_s),
                     f"{p.manual_expected_s:g} s") for p in m.repetitions]
        out.append(_table(["repetition", "outcome", "detection", "recovery", "fail back outage",
                           "manual steps before recovery (runbook's estimate)"], reps))
        out.append(f"<p>MTTR {_s(m.mttr_s)} (stdev {_s(m.stdev_s)}, min {_s(m.min_s)}, max {_s(m.max_s)}); "
                   f"mean detection {_s(m.mttd_s)}; with the runbook's estimates of a person's manual steps "
                   f"{_s(m.with_people_s)}</p>")
    return "\n".join(out)
