"""A region drill repeated N times (for MTTR): lose the region, follow the runbook, bring the
region back, fail back. Above both the recovery functions and the runbooks, which it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checkers.dr import REPETITION_SERIES
from harness.errors import SetupError, TargetMissed
from harness.history import ActionEvent, ProbeOp, RepetitionMark, now
from harness.recovery.regions import fail_back, lose_region, region_comes_back, regions_of
from harness.runbooks import load_runbook
from harness.runbooks.runner import follow
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["repeat_region_drill"]


def _writes_back(drill: Drill, since: float, timeout: float = 30) -> None:
    def ok() -> bool:
        return any(o.probe == "write" and o.outcome == "ok" and o.at.t >= since for o in drill.history.of(ProbeOp))

    wait_until(ok, timeout=timeout, interval=0.05, what="an acknowledged write on the new primary")


def repeat_region_drill(drill: Drill, region: str, runbook: str, times: int) -> list[str]:
    """``times`` repetitions of: lose ``region``, follow ``runbook``, the region comes back, fail back.

    One ``RepetitionMark`` (series "dr") starts each repetition (its slice of the history, for MTTR).
    A repetition that fails is recorded and re-raised: the next would run on a broken topology.
    """
    if not 1 <= times <= 100:
        raise SetupError(f"repeat a drill between 1 and 100 times, not {times}")
    book = load_runbook(runbook)
    c = regions_of(drill)
    key = c.check_region(region)
    if drill.write_probe is None:
        raise SetupError("MTTR needs the write probe (Given the write probe is running)")
    lines = []
    for i in range(1, times + 1):
        drill.history.add(RepetitionMark(at=now(), series=REPETITION_SERIES, index=i, of=times,
                                         action=f"lose region {key}", region=key, runbook=runbook))
        s0 = now()
        try:
            if c.region_of(c.primary) != key:
                raise SetupError(f"repetition {i}: the primary is not in region {key!r} ({c.primary})")
            lose_region(drill, key)
            steps = follow(drill, book, drill.runbook_answers)
            failed = [s for s in steps if s.outcome != "ok"]
            if failed:
                raise TargetMissed(f"runbook {runbook} in repetition {i}", f"step {failed[0].target!r} failed: "
                                   f"{failed[0].detail}", "every step succeeds")
            _writes_back(drill, now().t)
            region_comes_back(drill, key)
            fail_back(drill, key)
            _writes_back(drill, now().t)
        except Exception as exc:
            drill.history.add(ActionEvent(at=s0, end=now(), action="dr.repetition", target=str(i), outcome="failed",
                                          detail=str(exc)[:800]))
            raise
        line = f"repetition {i}/{times}: {key} lost, {runbook} followed, {key} back, failed back to {c.primary}"
        drill.history.add(ActionEvent(at=s0, end=now(), action="dr.repetition", target=str(i), outcome="ok",
                                      detail=line))
        lines.append(line)
    return lines
