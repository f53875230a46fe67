"""Split brain: at every instant at most one node accepted writes.

Pure, over the history's fan-out write attempts (``ProbeOp`` with ``probe="fanout"``, one
writer per node). A node's *writable span* is a maximal run of its consecutive acknowledged
attempts, from the first one's start to the last one's acknowledgement: a failed or
timed-out attempt ends the span, since we then no longer know it accepted writes. Two spans
of different nodes that overlap in time are a split brain: both acknowledged writes then.

Rewound writes: after the window the drill reads which fan-out rows the surviving primary
holds (a :class:`~harness.history.FanoutRead`, made by :func:`fanout_final_read`); a fan-out write that a
node acknowledged and the survivor lacks was lost, typically acknowledged by a deposed leader
and rewound away by pg_rewind. :func:`rewound_writes` lists them; the RPO checker counts them
as lost acknowledged writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import FanoutRead, ProbeOp, Stamp, now, seq_ranges

__all__ = ["LostFanout", "Overlap", "SplitBrain", "Span", "fanout_final_read", "rewound_writes", "split_brain",
           "writable_spans"]


@dataclass(frozen=True)
class Span:
    node: str
    start: float  # monotonic: start of the first acknowledged attempt
    end: float  # monotonic: acknowledgement of the last one
    start_wall: float
    end_wall: float
    acks: int


@dataclass(frozen=True)
class Overlap:
    a: Span
    b: Span

    @property
    def start(self) -> float:
        return max(self.a.start, self.b.start)

    @property
    def end(self) -> float:
        return min(self.a.end, self.b.end)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def describe(self) -> str:
        wall = max(self.a.start_wall, self.b.start_wall)
        if self.seconds == 0:  # one side is a single late acknowledgement inside the other's span
            return (f"{self.a.node} and {self.b.node} both acknowledged writes at wall {wall:.3f} "
                    f"({self.a.node}: {self.a.acks} acks in its span, {self.b.node}: {self.b.acks})")
        return (f"{self.a.node} and {self.b.node} both acknowledged writes for {self.seconds:.3f} s "
                f"(from wall {wall:.3f}; {self.a.node}: {self.a.acks} acks in its span, "
                f"{self.b.node}: {self.b.acks})")


@dataclass(frozen=True)
class SplitBrain:
    spans: list[Span]
    overlaps: list[Overlap]
    attempts: int

    @property
    def ok(self) -> bool:
        return not self.overlaps

    @property
    def max_writable(self) -> int:
        """The most nodes that were writable at one instant (0 without acknowledged writes)."""
        points = sorted([(s.start, 1) for s in self.spans] + [(s.end, -1) for s in self.spans],
                        key=lambda p: (p[0], -p[1]))  # a start at the same instant as an end overlaps
        best = cur = 0
        for _, d in points:
            cur += d
            best = max(best, cur)
        return best


def writable_spans(events: Iterable[object], *, slow_s: float = 1.0) -> list[Span]:
    """Each node's runs of acknowledged fan-out attempts.

    An attempt answered after more than ``slow_s`` (a write sent to a frozen node and
    acknowledged when it thawed) says only that the node acknowledged at that instant, not
    that it took writes all along: it is a span of its own, at its acknowledgement.
    """
    by_node: dict[str, list[ProbeOp]] = {}
    for e in events:
        if isinstance(e, ProbeOp) and e.probe == "fanout" and e.node is not None:
            by_node.setdefault(e.node, []).append(e)
    spans: list[Span] = []

    def close(node: str, run: list[ProbeOp]) -> None:
        if run:
            spans.append(Span(node, run[0].at.t, max(o.end.t for o in run), run[0].at.wall,
                              max(o.end.wall for o in run), len(run)))

    for node, ops in sorted(by_node.items()):
        run: list[ProbeOp] = []
        for op in sorted(ops, key=lambda o: (o.at.t, o.seq)) + [None]:
            if op is not None and op.outcome == "ok" and op.end.t - op.at.t > slow_s:
                close(node, run)
                run = []
                spans.append(Span(node, op.end.t, op.end.t, op.end.wall, op.end.wall, 1))
                continue
            if op is not None and op.outcome == "ok":
                run.append(op)
                continue
            close(node, run)
            run = []
    return spans


def split_brain(events: Iterable[object], *, slow_s: float = 1.0) -> SplitBrain:
    evs = list(events)
    spans = writable_spans(evs, slow_s=slow_s)
    overlaps = [Overlap(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
                if a.node != b.node and a.start <= b.end and b.start <= a.end]
    attempts = sum(1 for e in evs if isinstance(e, ProbeOp) and e.probe == "fanout")
    return SplitBrain(spans, sorted(overlaps, key=lambda o: o.start), attempts)


def fanout_final_read(survivor: str, rows: Iterable[tuple[str, int]]) -> FanoutRead:
    """The event recording which fan-out rows ``survivor`` holds, per writer node."""
    by_node: dict[str, list[int]] = {}
    for node, seq in rows:
        by_node.setdefault(node, []).append(int(seq))
    return FanoutRead(at=now(), node=survivor, present={n: seq_ranges(s) for n, s in sorted(by_node.items())})


@dataclass(frozen=True)
class LostFanout:
    survivor: str
    lost: list[tuple[str, int, Stamp]]  # (node that acknowledged it, its seq, acknowledgement)

    def describe(self) -> str:
        if not self.lost:
            return f"every acknowledged fan-out write is on {self.survivor}"
        by: dict[str, list[int]] = {}
        for node, seq, _ in self.lost:
            by.setdefault(node, []).append(seq)
        parts = ", ".join(f"{len(v)} acknowledged by {n} (seqs {seq_ranges(v)})" for n, v in sorted(by.items()))
        return f"{len(self.lost)} acknowledged fan-out writes absent from {self.survivor}: {parts}"


def rewound_writes(events: Iterable[object]) -> LostFanout | None:
    """Fan-out writes acknowledged by any node and absent from the survivor (None: no final read)."""
    evs = list(events)
    reads = [e for e in evs if isinstance(e, FanoutRead)]
    if not reads:
        return None
    present = reads[-1].present
    acks: dict[tuple[str, int], Stamp] = {}
    for e in evs:
        if isinstance(e, ProbeOp) and e.probe == "fanout" and e.outcome == "ok" and e.node is not None:
            key = (e.node, e.seq)
            if key not in acks or e.end.t < acks[key].t:
                acks[key] = e.end
    lost = [(n, seq, at) for (n, seq), at in acks.items()
            if not any(lo <= seq <= hi for lo, hi in present.get(n, []))]
    return LostFanout(reads[-1].node, sorted(lost, key=lambda x: (x[2].t, x[0], x[1])))
