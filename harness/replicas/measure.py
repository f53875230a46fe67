"""Pure numbers over the history: the delayed-replica recovery, PITR beside it, a cascaded leaf's lag.

- delayed-replica recovery: the ``delayed.*`` ActionEvents of :mod:`harness.replicas.delayed`,
  from ``delayed.decision`` to the end of ``delayed.restore`` (the table back on the primary),
  and from the drop itself (the ``drop-table`` fault's ``began``);
- PITR: the ``restore.*`` phases of :mod:`harness.backup.restore`, from ``restore.decision`` to
  the restored node taking writes (the table is then on a side node, not yet on the primary);
- a cascaded leaf: after the first fault on its upstream, the largest ``replay_lag_bytes`` and
  ``replay_age_ms`` sampled, and whether its ``replay_lsn`` stood still.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from harness.history import ActionEvent, Event, FaultEvent, MetricReading, StreamingTree

__all__ = ["DELAYED_PHASES", "LeafLag", "PhasedRecovery", "ReplicaSection", "delayed_recovery", "leaf_lags",
           "pitr_recovery", "replica_section", "tree_text"]

DELAYED_PHASES = ("delayed.pause", "delayed.roll_forward", "delayed.dump", "delayed.restore", "delayed.resume")
SETTLE_S = 1.0
PITR_PHASES = ("restore.wal_flush", "restore.provision", "restore.fetch", "restore.replay")


class PhasedRecovery(BaseModel):
    model_config = ConfigDict(frozen=True)
    how: str  # "delayed replica" or "PITR"
    node: str  # where the table was taken from (the delayed replica, the restored node)
    total_s: float | None  # decision to the table back (None: it never came back)
    from_drop_s: float | None  # the drop's fault to the same end
    phases: dict[str, float]  # phase -> seconds, in order
    ok: bool

    def phases_text(self) -> str:
        return ", ".join(f"{k.split('.', 1)[1]} {v:.2f} s" for k, v in self.phases.items()) or "none"


def _drop_began(evs: list[Event], before: float) -> float | None:
    drops = [e for e in evs if isinstance(e, FaultEvent) and e.fault == "drop-table" and e.phase == "inject"
             and e.at.t <= before]
    return (drops[-1].began or drops[-1].at).t if drops else None


def _phased(evs: list[Event], prefix: str, names: tuple[str, ...], end_phase: str, how: str) -> PhasedRecovery | None:
    acts = [e for e in evs if isinstance(e, ActionEvent) and e.action.startswith(prefix)]
    decisions = [a for a in acts if a.action == f"{prefix}decision"]
    if not decisions:
        return None
    start = decisions[-1]
    mine = [a for a in acts if a.target == start.target and a.at.t >= start.at.t]
    phases = {a.action: a.end.t - a.at.t for a in mine if a.action in names}
    end = next((a for a in mine if a.action == end_phase), None)
    ok = end is not None and end.outcome == "ok"
    drop = _drop_began(evs, start.at.t)
    return PhasedRecovery(how=how, node=start.target, ok=ok, phases=phases,
                          total_s=end.end.t - start.at.t if ok and end is not None else None,
                          from_drop_s=end.end.t - drop if ok and end is not None and drop is not None else None)


def delayed_recovery(events: Iterable[Event]) -> PhasedRecovery | None:
    """The last table recovery from a delayed replica (None: there was none)."""
    return _phased(list(events), "delayed.", DELAYED_PHASES, "delayed.restore", "delayed replica")


def pitr_recovery(events: Iterable[Event]) -> PhasedRecovery | None:
    """The last point-in-time restore to a new node, timed the same way (None: there was none)."""
    return _phased(list(events), "restore.", PITR_PHASES, "restore.replay", "PITR")


class LeafLag(BaseModel):
    model_config = ConfigDict(frozen=True)
    leaf: str
    upstream: str
    upstream_fault_s: float  # monotonic time of the fault on the upstream
    samples: int  # samples after the fault
    max_lag_bytes: int | None
    max_replay_age_s: float | None
    replay_stalled: bool | None  # the replay position never moved from 1 s after the fault on (None: < 2 samples)


def _readings(evs: list[Event], metric: str, node: str, since: float) -> list[MetricReading]:
    return [e for e in evs if isinstance(e, MetricReading) and e.metric == metric and e.node == node
            and e.at.t >= since]


def leaf_lags(events: Iterable[Event]) -> list[LeafLag]:
    """Each cascaded replica whose upstream a fault hit: how far behind it fell, and whether replay stopped."""
    evs = list(events)
    trees = [e for e in evs if isinstance(e, StreamingTree)]
    if not trees:
        return []
    planned = {link.replica: link.planned for link in trees[0].links
               if link.planned is not None and link.planned != trees[0].primary}
    out = []
    for leaf, up in sorted(planned.items()):
        assert up is not None
        hits = [e for e in evs if isinstance(e, FaultEvent) and e.phase == "inject" and e.target == up]
        if not hits:
            continue
        t = (hits[0].began or hits[0].at).t
        lag = _readings(evs, "replay_lag_bytes", leaf, t)
        age = _readings(evs, "replay_age_ms", leaf, t)
        # Replay may finish what the leaf had already received for a moment after the fault.
        pos = _readings(evs, "replay_lsn", leaf, t + SETTLE_S)
        out.append(LeafLag(leaf=leaf, upstream=up, upstream_fault_s=t, samples=len(pos),
                           max_lag_bytes=max((r.value for r in lag), default=None),
                           max_replay_age_s=max(r.value for r in age) / 1000 if age else None,
                           replay_stalled=len({r.value for r in pos}) == 1 if len(pos) >= 2 else None))
    return out


def tree_text(tree: StreamingTree | None) -> str:
    """'node2 <- node1 (streaming); node3 <- node2 (streaming, 300 s late)' as the nodes said it."""
    if tree is None:
        return "not observed"
    parts = []
    for link in tree.links:
        seen = link.receiver_from or "nothing"
        state = link.receiver_status or "no WAL receiver"
        note = "" if link.planned in (None, seen) else f", planned {link.planned}"
        note += f", sender {link.sender}" if link.sender not in (None, seen) else ""
        note += f", {link.apply_delay_s:g} s late" if link.apply_delay_s else ""
        parts.append(f"{link.replica} <- {seen} ({state}{note})")
    return "; ".join(parts) or "no replica"


class ReplicaSection(BaseModel):
    """The report's "replicas" section: the tree, the delayed recovery beside PITR, a leaf's lag."""

    model_config = ConfigDict(frozen=True)
    tree: str
    delayed_recovery_s: float | None = None
    delayed_from_drop_s: float | None = None
    delayed_phases: str | None = None
    pitr_s: float | None = None
    pitr_from_drop_s: float | None = None
    pitr_phases: str | None = None
    leaf: str | None = None
    leaf_lag_bytes_max: int | None = None
    leaf_replay_age_s_max: float | None = None
    leaf_replay_stalled: bool | None = None


def replica_section(events: Iterable[Event]) -> ReplicaSection:
    evs = list(events)
    trees = [e for e in evs if isinstance(e, StreamingTree)]
    d, p, leaves = delayed_recovery(evs), pitr_recovery(evs), leaf_lags(evs)
    leaf = leaves[0] if leaves else None
    return ReplicaSection(
        tree=tree_text(trees[-1] if trees else None),
        delayed_recovery_s=d.total_s if d else None, delayed_from_drop_s=d.from_drop_s if d else None,
        delayed_phases=d.phases_text() if d else None,
        pitr_s=p.total_s if p else None, pitr_from_drop_s=p.from_drop_s if p else None,
        pitr_phases=p.phases_text() if p else None,
        leaf=leaf.leaf if leaf else None, leaf_lag_bytes_max=leaf.max_lag_bytes if leaf else None,
        leaf_replay_age_s_max=leaf.max_replay_age_s if leaf else None,
        leaf_replay_stalled=leaf.replay_stalled if leaf else None)
