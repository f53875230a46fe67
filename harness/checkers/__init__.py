"""Pure checkers over a run's history: the numbers (RTO, RPO, availability) and their targets.

Every checker takes a :class:`~harness.history.History` (or any iterable of events) and
returns a frozen result with a tri-state ``status``. The functions are re-exported under the
names of their modules (``rto``, ``rpo``, ``availability``, ``measure``), so reach a module
itself with ``importlib.import_module("harness.checkers.rpo")``.
"""

from harness.checkers.availability import (
    WINDOW_END,
    WINDOW_START,
    AvailabilityResult,
    availability,
)
from harness.checkers.measure import Measurements, measure
from harness.checkers.rpo import (
    RpoResult,
    acknowledged_writes,
    indeterminate_writes,
    rpo,
)
from harness.checkers.rto import ProbeKind, RtoResult, injected_fault, rto
from harness.checkers.targets import Targets, Violation, evaluate, evaluate_mttr
from harness.checkers.verdict import Status, combine

__all__ = [
    "WINDOW_END",
    "WINDOW_START",
    "AvailabilityResult",
    "Measurements",
    "ProbeKind",
    "RpoResult",
    "RtoResult",
    "Status",
    "Targets",
    "Violation",
    "acknowledged_writes",
    "availability",
    "combine",
    "evaluate",
    "evaluate_mttr",
    "indeterminate_writes",
    "injected_fault",
    "measure",
    "rpo",
    "rto",
]
