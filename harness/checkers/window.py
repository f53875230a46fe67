"""The drill window: the span the numbers are measured over."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from harness.history import Event, Note, ProbeOp, Stamp

__all__ = ["WINDOW_END", "WINDOW_START", "Window", "drill_window"]

# Note names that bound the drill window; without them the window spans the write probes.
WINDOW_START = "window_start"
WINDOW_END = "window_end"


class Window(BaseModel):
    model_config = ConfigDict(frozen=True)
    start: Stamp
    end: Stamp

    @property
    def length_s(self) -> float:
        return self.end.t - self.start.t


def drill_window(events: Sequence[Event]) -> Window | None:
    """From the ``window_start`` note to the ``window_end`` note; without them, the write probes' span."""
    writes = [e for e in events if isinstance(e, ProbeOp) and e.probe == "write"]
    notes = [e for e in events if isinstance(e, Note)]
    first = next((n.at for n in notes if n.name == WINDOW_START), None)
    if first is None:
        if not writes:
            return None
        first = min((o.at for o in writes), key=lambda s: s.t)
    last = next((n.at for n in notes if n.name == WINDOW_END and n.at.t >= first.t), None)
    if last is None:
        if not writes:
            return None
        last = max((o.end for o in writes), key=lambda s: s.t)
    return Window(start=first, end=last)
