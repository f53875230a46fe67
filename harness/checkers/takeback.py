"""A deposed leader that took leadership back (pure, over the history).

Patroni 3.0.2's thawed leader can put its leader key back in etcd although another member
was elected while it was frozen (fixed upstream after 3.0.2): the interim leader is demoted
and rewound, and every write it acknowledged on its own timeline is thrown away. This reads
the HA manager's watched view (``ha.view`` notes) after the fault: the old leader, someone
else, then the old leader again. The HA Then steps put :meth:`TakeBack.describe` in their
message instead of timing out, and ``Then the old leader took leadership back`` asserts it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.failover import failover_phases, views
from harness.checkers.splitbrain import rewound_writes
from harness.history import Event, FaultEvent, ProbeOp

__all__ = ["TakeBack", "took_back"]


class TakeBack(BaseModel):
    model_config = ConfigDict(frozen=True)
    old_leader: str
    interim: str  # the leader elected while the old one was away, deposed when it came back
    elected_s: float  # the interim's election, seconds from the fault
    back_s: float  # the old leader holds the key again, seconds from the fault
    back_wall: float  # the same moment, wall clock (epoch seconds)
    abandoned_timeline: int | None  # the interim's timeline, thrown away with its writes
    timeline: int | None  # the timeline the old leader leads on again
    acknowledged_on_abandoned: int  # writes the interim acknowledged during its term
    lost: int | None  # acknowledged writes absent from the survivor (None: no final read yet)

    def describe(self) -> str:
        when = dt.datetime.fromtimestamp(self.back_wall, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        lost = (f"{self.lost} acknowledged writes lost" if self.lost is not None
                else f"{self.acknowledged_on_abandoned} writes acknowledged by {self.interim} on it (lost with it)")
        def tl(v: int | None) -> str:
            return "?" if v is None else str(v)

        return (f"the old leader {self.old_leader} took leadership back at {when} UTC ({self.back_s:.1f} s after "
                f"the fault) from {self.interim}, elected at +{self.elected_s:.1f} s; timeline "
                f"{tl(self.abandoned_timeline)} of {self.interim} is abandoned ({self.old_leader} leads on timeline "
                f"{tl(self.timeline)}); {lost}")


def took_back(events: Iterable[Event], fault: FaultEvent | None = None) -> TakeBack | None:
    """The first time, after ``fault`` (default: the first of the window), that the leader before
    it held the key again after another member had led; None when that did not happen."""
    evs = list(events)
    phases = failover_phases(evs, fault)
    old = phases.old_leader
    if old is None:
        return None
    interim: tuple[str, float, int | None] | None = None
    for c in phases.leaders:
        if c.leader is None:
            continue
        if c.leader != old and interim is None:
            interim = (c.leader, c.after_s, c.timeline)
        elif c.leader == old and interim is not None:
            name, elected_s, tl = interim
            t_f = _fault_t(evs, fault)
            back_at = t_f + c.after_s
            wall = next((v.at.wall for v in views(evs) if abs(v.at.t - back_at) < 1e-3), None)
            term = [e for e in evs if isinstance(e, ProbeOp) and e.probe in ("write", "fanout") and e.outcome == "ok"
                    and e.node == name
                    and t_f + elected_s - 1.0 <= e.end.t <= back_at + 5.0]
            fan = rewound_writes(evs)
            return TakeBack(old_leader=old, interim=name, elected_s=elected_s, back_s=c.after_s,
                            back_wall=wall if wall is not None else 0.0, abandoned_timeline=tl,
                            timeline=c.timeline, acknowledged_on_abandoned=len(term),
                            lost=None if fan is None else len(fan.lost))
    return None


def _fault_t(evs: list[Event], fault: FaultEvent | None) -> float:
    from harness.checkers.rto import injected_fault

    f = fault or injected_fault(evs)
    return 0.0 if f is None else f.at.t
