"""Stop conditions: a watcher that aborts the drill when the system is hurt more than agreed.

When a condition trips, the guard records why, then interrupts the main thread exactly as
Ctrl-C would: every fault heals, the load stops, the topology goes, and the scenario is
reported as aborted with the reason.
"""

from __future__ import annotations

import _thread
import logging
import threading
import time
from dataclasses import dataclass

from harness.checkers.steady import rolling_availability
from harness.history import History, Sample

__all__ = ["AbortCondition", "Guard"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AbortCondition:
    """``metric`` is "availability" (rolling, over ``for_s``), or a monitor metric
    ("lag_bytes", "disk_max_pct"), which trips when above ``threshold`` for ``for_s``."""

    metric: str
    threshold: float
    for_s: float

    def describe(self) -> str:
        if self.metric == "availability":
            return f"availability below {self.threshold * 100:g} % for {self.for_s:g} s"
        return f"{self.metric} above {self.threshold:g} for {self.for_s:g} s"


class Guard:
    def __init__(self, history: History, conditions: list[AbortCondition], *, interval_s: float,
                 check_every_s: float = 0.5, max_duration_s: float = 3600) -> None:
        self.history = history
        self.conditions = conditions
        self.interval_s = interval_s
        self.check_every_s = check_every_s
        self.max_duration_s = max_duration_s
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since: dict[int, float] = {}
        self.started = time.monotonic()

    def start(self) -> None:
        if self._thread is None and self.conditions:
            self._thread = threading.Thread(target=self._run, name="abort-guard", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self, t: float) -> str | None:
        """The reason to abort at monotonic time ``t``, if any condition has held long enough."""
        events = self.history.events()
        for i, c in enumerate(self.conditions):
            if c.metric == "availability":
                if t - c.for_s < self.started:
                    continue  # not a full look-back yet
                value = rolling_availability(events, start=t - c.for_s, end=t, interval_s=self.interval_s)
                if value is not None and value < c.threshold:
                    return f"aborted: {c.describe()} (measured {value * 100:.1f} %)"
                continue
            samples = [e for e in events if isinstance(e, Sample) and c.metric in e.metrics]
            latest = max((s.metrics[c.metric] for s in samples if s.at.t >= t - 2 * self.check_every_s - 1),
                         default=None)
            if latest is not None and latest > c.threshold:
                since = self._since.setdefault(i, t)
                if t - since >= c.for_s:
                    return f"aborted: {c.describe()} (measured {latest:g})"
            else:
                self._since.pop(i, None)
        return None

    def _run(self) -> None:
        self.started = time.monotonic()
        while not self._stop.wait(self.check_every_s) and time.monotonic() - self.started < self.max_duration_s:
            reason = self.check(time.monotonic())
            if reason is not None:
                self.reason = reason
                self.history.note("drill.aborted", reason)
                log.warning("%s", reason)
                _thread.interrupt_main()  # the same road as Ctrl-C
                return
