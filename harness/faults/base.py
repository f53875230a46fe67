"""The fault slot and the set that guarantees every injected fault is healed.

A fault's ``inject`` returns once the fault has taken effect; the history gets a
``FaultEvent`` stamped right after it returns (that stamp is ``t_f`` for the checkers).
``FaultSet`` is a context manager: leaving it, by any route, heals whatever is still active.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Protocol

from harness.history import FaultEvent, History, now

__all__ = ["Fault", "FaultSet"]

log = logging.getLogger(__name__)


class Fault(Protocol):
    name: str
    target: str
    #: True when the fault leaves nothing to undo but what teardown removes anyway
    #: (a crash is "healed" by the recovery the scenario drives, or by removing the node).
    one_shot: bool

    def inject(self) -> str:
        """Make the fault take effect; return a short description of what was done."""

    def heal(self) -> str:
        """Undo the fault; safe to call twice."""


class FaultSet:
    def __init__(self, history: History) -> None:
        self.history = history
        self.active: list[Fault] = []
        self._lock = threading.RLock()
        self._timers: list[threading.Timer] = []

    def heal_after(self, fault: Fault, seconds: float) -> None:
        """Heal ``fault`` in the background after ``seconds`` ("pause the primary for 10 s")."""

        def fire() -> None:
            with self._lock:
                if fault in self.active:
                    try:
                        self.heal(fault)
                    except Exception:  # noqa: BLE001 - heal_all at exit tries again
                        log.exception("timed heal of %s on %s failed", fault.name, fault.target)

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def inject(self, fault: Fault) -> FaultEvent:
        began = now()
        try:
            detail = fault.inject()
        except BaseException:
            # Half-applied is still applied: make sure the exit heals it.
            if not fault.one_shot:
                self.active.append(fault)
            raise
        event = self.history.add(FaultEvent(at=now(), fault=fault.name, target=fault.target, phase="inject",
                                            detail=detail, began=began))
        if not fault.one_shot:
            self.active.append(fault)
        return event

    def heal(self, fault: Fault) -> None:
        with self._lock:
            began = now()
            detail = fault.heal()
            if fault in self.active:
                self.active.remove(fault)
        self.history.add(FaultEvent(at=now(), fault=fault.name, target=fault.target, phase="heal", detail=detail,
                                    began=began))

    def heal_all(self) -> list[str]:
        """Heal every active fault, newest first; errors are collected, never stop the others."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        errors = []
        for fault in reversed(list(self.active)):
            try:
                self.heal(fault)
            except Exception as exc:
                log.exception("healing %s on %s failed", fault.name, fault.target)
                errors.append(f"{fault.name} on {fault.target}: {exc}")
        return errors

    def __enter__(self) -> FaultSet:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.heal_all()
