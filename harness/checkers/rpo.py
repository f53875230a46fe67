"""Recovery point: acknowledged writes absent from the surviving primary, as a count and a span.

A write that failed or timed out is indeterminate (it may or may not have happened) and is
never counted as lost. Writes are keyed by (probe instance, seq); the probe table holds seq.

The span of lost data (``rpo_s``, DESIGN v2) runs from the acknowledgement of the last
surviving write acknowledged before the first lost one (the last safe point) to the
acknowledgement of the last lost write: one lost write at a 50 ms probe is ~0.05 s, not 0.
Survivors between two lost writes do not shorten it: a restore to a safe point goes back
to before the first loss.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from harness.checkers.splitbrain import rewound_writes
from harness.checkers.verdict import Status
from harness.checkers.window import drill_window
from harness.history import Event, FinalRead, History, ProbeOp, Stamp, seq_ranges

__all__ = ["Present", "RpoResult", "WriteKey", "acknowledged_writes", "indeterminate_writes", "rpo"]

WriteKey = tuple[str, int]  # (probe instance, seq)


class RpoResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    lost: int | None  # None: no final read, so loss is unknown
    lost_seqs: list[tuple[int, int]]  # inclusive ranges
    window_s: float | None  # the span of lost data (rpo_s), monotonic; 0 without loss
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


def acknowledged_writes(events: Iterable[Event]) -> dict[WriteKey, Stamp]:
    """Each acknowledged write, by (instance, seq), with its first acknowledgement (a retried
    one counts once; a restarted probe's writes are its own, whatever their seqs)."""
    acks: dict[WriteKey, Stamp] = {}
    for e in events:
        if isinstance(e, ProbeOp) and e.probe == "write" and e.outcome == "ok":
            first = acks.get(e.key)
            if first is None or e.end.t < first.t:
                acks[e.key] = e.end
    return acks


def indeterminate_writes(events: Iterable[Event]) -> set[WriteKey]:
    """Writes attempted but never acknowledged, by (instance, seq)."""
    evs = list(events)
    tried = {e.key for e in evs if isinstance(e, ProbeOp) and e.probe == "write"}
    return tried - acknowledged_writes(evs).keys()


class Present:
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
    present = Present(final.present)
    # Order by monotonic ack time: the wall clock may step.
    lost = sorted((k for k in acks if k[1] not in present), key=lambda k: (acks[k].t, k))
    fanout = rewound_writes(events)  # writes a deposed leader acknowledged count too
    lost_stamps = [acks[k] for k in lost] + ([at for _, _, at in fanout.lost] if fanout else [])
    first = min(lost_stamps, key=lambda x: x.t) if lost_stamps else None
    last = max(lost_stamps, key=lambda x: x.t) if lost_stamps else None
    window_s = 0.0
    if first is not None and last is not None:
        safe = [a.t for k, a in acks.items() if k[1] in present and a.t < first.t]
        since = max(safe) if safe else _start(events, first.t)
        window_s = last.t - since
    if lost:
        reason = (
            f"{len(lost)} of {len(acks)} acknowledged writes missing on {final.node} "
            f"(seqs {seq_ranges(k[1] for k in lost)}), {window_s:.2f} s of data from the last safe write"
        )
    else:
        reason = f"all {len(acks)} acknowledged writes present on {final.node}"
    if fanout is not None:
        reason += f"; fan-out probe: {fanout.describe()}"
    n_lost = len(lost) + (len(fanout.lost) if fanout else 0)
    return RpoResult(
        lost=n_lost,
        lost_fanout=len(fanout.lost) if fanout else None,
        lost_seqs=seq_ranges(k[1] for k in lost),
        window_s=window_s,
        first_lost_wall=first.wall if first is not None else None,
        last_lost_wall=last.wall if last is not None else None,
        acknowledged=len(acks),
        indeterminate=len(indeterminate),
        indeterminate_present=sum(1 for k in indeterminate if k[1] in present),
        final_read_node=final.node,
        status="invalid" if n_lost else "valid",
        reason=reason,
    )


def _start(events: Sequence[Event], fallback: float) -> float:
    """Where the data begins when no write survived before the first loss: the window's start."""
    w = drill_window(events)
    return min(w.start.t, fallback) if w is not None else fallback
