"""Split brain (issue 4): at every instant at most one node accepted writes.

Pure, over the history's fan-out write attempts (``ProbeOp`` with ``probe="fanout"``, one
writer per node). A node's *writable span* is a maximal run of its consecutive acknowledged
attempts, from the first one's start to the last one's acknowledgement: a failed or
timed-out attempt ends the span, since we then no longer know it accepted writes. Two spans
of different nodes that overlap in time are a split brain: both acknowledged writes then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.history import ProbeOp

__all__ = ["Overlap", "SplitBrain", "Span", "split_brain", "writable_spans"]


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


def writable_spans(events: Iterable[object]) -> list[Span]:
    by_node: dict[str, list[ProbeOp]] = {}
    for e in events:
        if isinstance(e, ProbeOp) and e.probe == "fanout" and e.node is not None:
            by_node.setdefault(e.node, []).append(e)
    spans: list[Span] = []
    for node, ops in sorted(by_node.items()):
        run: list[ProbeOp] = []
        for op in sorted(ops, key=lambda o: (o.at.t, o.seq)) + [None]:
            if op is not None and op.outcome == "ok":
                run.append(op)
                continue
            if run:
                spans.append(Span(node, run[0].at.t, max(o.end.t for o in run), run[0].at.wall,
                                  max(o.end.wall for o in run), len(run)))
                run = []
    return spans


def split_brain(events: Iterable[object]) -> SplitBrain:
    evs = list(events)
    spans = writable_spans(evs)
    overlaps = [Overlap(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
                if a.node != b.node and a.start <= b.end and b.start <= a.end]
    attempts = sum(1 for e in evs if isinstance(e, ProbeOp) and e.probe == "fanout")
    return SplitBrain(spans, sorted(overlaps, key=lambda o: o.start), attempts)
