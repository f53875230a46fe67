"""Failover phases: detection, new leader, first write on it, old leader's rejoin, timelines.

Pure, over the history: the HA manager's view as observed (``ha.view`` notes written by
:class:`harness.topology.patroni.PatroniWatch`, one per change), the fault, and the write
probe's attempts. All times are seconds from the fault (``t_f``, the injector's stamp):

- detection: the first view after the fault in which the old leader no longer holds the
  leader key as before (the key expired or moved, the member vanished, or its role, state
  or timeline changed): the HA manager noticed.
- new leader: the first view naming another leader.
- first write: the first write-probe attempt acknowledged by the new leader.
- rejoin: the first view, after the new leader, in which the old leader runs as a replica on
  the new leader's timeline (rewound or re-initialised).
- timelines: each member's timeline in the last view before the fault and in the last view;
  every change of leader after the fault with the timeline it led on (each promotion forks
  a timeline; a leader on an older timeline than the one before it is an abandoned fork).

Resolution is the watcher's poll interval (0.2 s) plus one REST answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.checkers.rto import injected_fault
from harness.checkers.verdict import Status
from harness.checkers.served import node_addresses, served_node
from harness.history import Event, FaultEvent, HaSettings, HaView, History, ProbeOp, Stamp

__all__ = ["FailoverPhases", "LeaderChange", "View", "failover_phases", "views"]

_REPLICA_ROLES = ("replica", "sync_standby", "standby")
_RUNNING = ("running", "streaming")


class View(BaseModel):
    model_config = ConfigDict(frozen=True)
    at: Stamp
    leader: str | None
    members: dict[str, tuple[str, str, int | None]]  # name -> (role, state, timeline)
    unreachable: bool = False

    def timeline(self, name: str | None) -> int | None:
        m = self.members.get(name or "")
        return m[2] if m else None


class LeaderChange(BaseModel):
    model_config = ConfigDict(frozen=True)
    after_s: float  # from the fault
    leader: str | None  # None: no leader (key expired, none elected yet)
    timeline: int | None


class FailoverPhases(BaseModel):
    model_config = ConfigDict(frozen=True)
    old_leader: str | None
    new_leader: str | None
    detection_s: float | None
    new_leader_s: float | None
    first_write_s: float | None
    rejoin_s: float | None
    timelines_before: dict[str, int | None]
    timelines_after: dict[str, int | None]
    leaders: list[LeaderChange]
    abandoned_forks: int  # leader changes onto a timeline older than the previous leader's
    ttl_s: float | None = None  # the leader key's lifetime, when the history holds the settings
    status: Status
    reason: str

    def describe(self) -> str:
        def n(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.2f} s"

        chain = ", ".join(f"{c.leader or 'none'}@tl{c.timeline if c.timeline is not None else '?'} (+{c.after_s:.2f} s)"
                          for c in self.leaders) or "no change"
        return (f"old leader {self.old_leader}, new leader {self.new_leader}: detection {n(self.detection_s)}, "
                f"new leader {n(self.new_leader_s)}, first write on it {n(self.first_write_s)}, "
                f"old leader rejoined {n(self.rejoin_s)}; timelines before {self.timelines_before}, "
                f"after {self.timelines_after}; leaders after the fault: {chain}"
                + (f"; {self.abandoned_forks} abandoned timeline fork(s)" if self.abandoned_forks else ""))


def views(events: Iterable[Event]) -> list[View]:
    out: list[View] = []
    for e in events:
        if isinstance(e, HaView):
            out.append(View(at=e.at, leader=e.leader, members=dict(e.members), unreachable=e.unreachable))
    return sorted(out, key=lambda v: v.at.t)


def failover_phases(history: History | Iterable[Event], fault: FaultEvent | None = None,
                    until: float | None = None) -> FailoverPhases:
    """The phases of the failover after ``fault`` (default: the first fault of the window),
    looking at events before ``until`` (monotonic; default: all)."""
    events = [e for e in history if until is None or e.at.t < until]
    fault = fault or injected_fault(events)
    vs = views(events)
    if fault is None or not vs:
        why = "no fault was injected" if fault is None else "no view of the HA manager was recorded"
        return FailoverPhases(old_leader=None, new_leader=None, detection_s=None, new_leader_s=None,
                              first_write_s=None, rejoin_s=None, timelines_before={}, timelines_after={},
                              leaders=[], abandoned_forks=0, status="unknown", reason=why)
    t_f = fault.at.t
    began = (fault.began or fault.at).t
    before = [v for v in vs if v.at.t < began]
    after = [v for v in vs if v.at.t >= began]
    base = before[-1] if before else vs[0]
    old = base.leader
    old_state = base.members.get(old or "")

    detected = next((v for v in after if v.leader != old or v.members.get(old or "") != old_state), None)
    elected = next((v for v in after if v.leader is not None and v.leader != old), None)
    new = elected.leader if elected is not None else None

    first_write: float | None = None
    if new is not None and elected is not None:
        addresses = node_addresses(events)  # behind a client path a write names its server's address
        acks = sorted(e.end.t for e in events if isinstance(e, ProbeOp) and e.probe == "write"
                      and e.outcome == "ok" and served_node(e, addresses) == new and e.end.t > t_f)
        first_write = acks[0] - t_f if acks else None

    rejoin: float | None = None
    if elected is not None and old is not None:
        for v in after:
            if v.at.t < elected.at.t:
                continue
            m = v.members.get(old)
            lead_tl = v.timeline(v.leader)
            if (m is not None and v.leader not in (None, old) and m[0] in _REPLICA_ROLES and m[1] in _RUNNING
                    and (lead_tl is None or m[2] == lead_tl)):
                rejoin = v.at.t - t_f
                break

    # Each run of views under one leader; its timeline is the highest it showed while leading
    # (a view right at the election still shows the timeline from before the promotion).
    runs: list[tuple[View, int | None]] = []
    prev = old
    for v in after:
        if v.leader != prev:
            runs.append((v, v.timeline(v.leader)))
            prev = v.leader
        elif runs and v.leader is not None:
            tl, seen = v.timeline(v.leader), runs[-1][1]
            runs[-1] = (runs[-1][0], tl if seen is None or (tl is not None and tl > seen) else seen)
    changes = [LeaderChange(after_s=round(v.at.t - t_f, 3), leader=v.leader, timeline=tl) for v, tl in runs]
    forks = 0
    prev_tl = base.timeline(old)
    for c in changes:
        if c.leader is not None:
            if c.timeline is not None and prev_tl is not None and c.timeline < prev_tl:
                forks += 1
            prev_tl = c.timeline if c.timeline is not None else prev_tl
    last = vs[-1]
    settings = [e for e in events if isinstance(e, HaSettings)]
    ttl = settings[-1].ttl if settings else None
    result = FailoverPhases(
        ttl_s=None if ttl is None else float(ttl),
        old_leader=old, new_leader=new,
        detection_s=None if detected is None else max(0.0, detected.at.t - t_f),
        new_leader_s=None if elected is None else max(0.0, elected.at.t - t_f),
        first_write_s=first_write, rejoin_s=rejoin,
        timelines_before={k: m[2] for k, m in base.members.items()},
        timelines_after={k: m[2] for k, m in last.members.items()},
        leaders=changes, abandoned_forks=forks, status="valid", reason="")
    return result.model_copy(update={"reason": result.describe()})
