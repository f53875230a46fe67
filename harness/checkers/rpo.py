"""Recovery point: acknowledged writes absent from the surviving primary, as a count and a window.

A write that failed or timed out is indeterminate (it may or may not have happened) and is
never counted as lost.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from harness.checkers.splitbrain import rewound_writes
from harness.checkers.verdict import Status
from harness.history import Event, FinalRead, History, ProbeOp, Stamp, seq_ranges

__all__ = ["RpoResult", "acknowledged_writes", "indeterminate_writes", "rpo"]


class RpoResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    lost: int | None  # None: no final read, so loss is unknown
    lost_seqs: list[tuple[int, int]]  # inclusive ranges
    window_s: float | None  # ack of the first lost write to ack of the last, monotonic
    first_lost_wall: float | None
    last_lost_wall: float | None
    acknowledged: int  # distinct acknowledged seqs
    indeterminate: int  # distinct seqs only ever failed or timed out
    indeterminate_present: int | None  # of those, how many the final read holds anyway
    final_read_node: str | None
    status: Status
    reason: str
    # Fan-out writes (one writer per node) acknowledged and absent from the survivor,
    # e.g. taken by a deposed leader and rewound away; included in ``lost``. None: no fan-out.
    lost_fanout: int | None = None


def acknowledged_writes(events: Iterable[Event]) -> dict[int, Stamp]:
    """Each acknowledged write seq with its first acknowledgement (a retried seq counts once)."""
    acks: dict[int, Stamp] = {}
    for e in events:
        if isinstance(e, ProbeOp) and e.probe == "write" and e.outcome == "ok":
            first = acks.get(e.seq)
            if first is None or e.end.t < first.t:
                acks[e.seq] = e.end
    return acks


def indeterminate_writes(events: Iterable[Event]) -> set[int]:
    """Write seqs attempted but never acknowledged."""
    evs = list(events)
    tried = {e.seq for e in evs if isinstance(e, ProbeOp) and e.probe == "write"}
    return tried - acknowledged_writes(evs).keys()


class _Present:
    """Membership in a list of inclusive ranges, merged so a bisect finds the one candidate."""

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self._los = [lo for lo, _ in merged]
        self._his = [hi for _, hi in merged]

    def __contains__(self, seq: int) -> bool:
        i = bisect.bisect_right(self._los, seq) - 1
        return i >= 0 and seq <= self._his[i]


def rpo(history: History | Iterable[Event]) -> RpoResult:
    events = list(history)
    acks = acknowledged_writes(events)
    indeterminate = indeterminate_writes(events)
    finals = [e for e in events if isinstance(e, FinalRead)]
    if not finals:
        return RpoResult(
            lost=None,
            lost_seqs=[],
            window_s=None,
            first_lost_wall=None,
            last_lost_wall=None,
            acknowledged=len(acks),
            indeterminate=len(indeterminate),
            indeterminate_present=None,
            final_read_node=None,
            status="unknown",
            reason="no final read of the surviving primary: loss cannot be checked",
        )

    final = finals[-1]
    present = _Present(final.present)
    # Order by monotonic ack time: the wall clock may step.
    lost = sorted((s for s in acks if s not in present), key=lambda s: (acks[s].t, s))
    fanout = rewound_writes(events)  # writes a deposed leader acknowledged count too
    lost_stamps = [acks[s] for s in lost] + ([at for _, _, at in fanout.lost] if fanout else [])
    first = min(lost_stamps, key=lambda x: x.t) if lost_stamps else None
    last = max(lost_stamps, key=lambda x: x.t) if lost_stamps else None
    window_s = last.t - first.t if first is not None and last is not None else 0.0
    if lost:
        reason = (
            f"{len(lost)} of {len(acks)} acknowledged writes missing on {final.node} "
            f"(seqs {seq_ranges(lost)}), acknowledged over {window_s:.2f} s"
        )
    else:
        reason = f"all {len(acks)} acknowledged writes present on {final.node}"
    if fanout is not None:
        reason += f"; fan-out probe: {fanout.describe()}"
    n_lost = len(lost) + (len(fanout.lost) if fanout else 0)
    return RpoResult(
        lost=n_lost,
        lost_fanout=len(fanout.lost) if fanout else None,
        lost_seqs=seq_ranges(lost),
        window_s=window_s,
        first_lost_wall=first.wall if first is not None else None,
        last_lost_wall=last.wall if last is not None else None,
        acknowledged=len(acks),
        indeterminate=len(indeterminate),
        indeterminate_present=sum(1 for s in indeterminate if s in present),
        final_read_node=final.node,
        status="invalid" if n_lost else "valid",
        reason=reason,
    )
