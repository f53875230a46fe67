"""One verdict per scenario, the same in pytest, Allure, the CLI table and ``harness run``'s exit code.

A scenario's outcome comes from what its steps did (``status``) and from the targets its
measurements missed (``violations``: its own Then steps and the environment's default
targets, judged when the drill closes):

    passed    every step passed and no target was missed
    failed    a target was missed (a Then step's, or a default one at the end of the drill)
    broken    the harness could not do its job (setup, injection, a wait that timed out)
    aborted   interrupted (Ctrl-C, SIGTERM) or stopped by a declared abort condition

pytest reports ``failed`` as a failed test (the plugin raises :class:`TargetMissed` when only
a default target was missed), Allure shows it "failed" in the category "target missed", the
CLI table prints the outcome, and ``harness run`` exits 1 for failed, 2 for broken.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from harness.checkers.targets import Violation
from harness.errors import TargetMissed

__all__ = [
    "CATEGORIES",
    "DefaultTargetMissed",
    "Outcome",
    "allure_status",
    "default_target_miss",
    "exit_code",
    "outcome",
    "paragraph",
    "write_categories",
]

Outcome = Literal["passed", "failed", "broken", "aborted"]

# Allure's statuses for each outcome: an interrupted drill is "broken" there (not a verdict on
# the system); its own category tells it from a harness error.
_ALLURE: dict[Outcome, str] = {"passed": "passed", "failed": "failed", "broken": "broken", "aborted": "broken"}

# Allure groups failures into categories by status and message; the first match wins.
CATEGORIES: list[dict[str, Any]] = [
    {"name": "target missed", "matchedStatuses": ["failed"],
     "description": "the system under test missed a target (a Then step's or an environment default)"},
    {"name": "aborted", "matchedStatuses": ["broken"], "messageRegex": "(?s).*(KeyboardInterrupt|interrupted|aborted).*",
     "description": "Ctrl-C, SIGTERM, or a declared abort condition stopped the drill"},
    {"name": "harness error", "matchedStatuses": ["broken"],
     "description": "the harness could not do its job (setup, fault injection, a wait that timed out)"},
]


def outcome(status: str, violations: Sequence[Violation | Mapping[str, Any]] = ()) -> Outcome:
    """The scenario's verdict from its steps' ``status`` and the targets it missed.

    ``error`` (older summaries) reads as ``broken``; a passed scenario with any violation is
    ``failed``: a default target that was missed counts like a Then step that failed.
    """
    if status in ("error", "broken"):
        return "broken"
    if status == "aborted":
        return "aborted"
    if status == "failed" or violations:
        return "failed"
    if status == "passed":
        return "passed"
    return "broken"  # a status nothing set: the scenario never got as far as a verdict


def allure_status(verdict: Outcome) -> str:
    return _ALLURE[verdict]


def exit_code(verdicts: Iterable[Outcome], pytest_code: int = 0) -> int:
    """``harness run``'s exit code: 0 all passed, 1 a target missed, 2 a harness error (or
    pytest's own code when it reports a usage problem or nothing collected)."""
    vs = list(verdicts)
    if "broken" in vs:
        return 2
    if "failed" in vs or "aborted" in vs:
        return 1
    if pytest_code not in (0, 1):
        return pytest_code
    return 1 if pytest_code else 0


class DefaultTargetMissed(TargetMissed):
    """Every step passed, but the drill's measurements missed the environment's default targets."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        first = self.violations[0]
        self.what, self.measured, self.target = first.name, str(first.measured), first.target
        AssertionError.__init__(self, "missed the environment's default target"
                                + ("s" if len(self.violations) > 1 else "") + ": "
                                + "; ".join(v.message for v in self.violations))


def default_target_miss(violations: Sequence[Violation]) -> DefaultTargetMissed | None:
    """The error that fails a scenario whose steps passed but which missed a default target
    (None when it missed none). The message names every miss."""
    return DefaultTargetMissed(violations) if violations else None


def write_categories(results_dir: Path) -> None:
    """Allure's categories.json beside the results, so a missed target reads as one."""
    if results_dir.is_dir():
        (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n")


def paragraph(verdict: Outcome, message: str, *, scenario: str = "", location: str = "", step: str = "",
              logs: str = "", traceback_hint: bool = True) -> str:
    """One failure as one paragraph: what was missed or what broke, the step, where, the logs."""
    what = {"failed": "target missed", "broken": "harness error", "aborted": "aborted"}.get(verdict, verdict)
    lines = [f"{what}: {message.strip()}"]
    if scenario:
        lines.append(f"  scenario: {scenario}" + (f" ({location})" if location else ""))
    if step:
        lines.append(f"  step:     {step}")
    if logs:
        lines.append(f"  logs:     {logs}")
    if traceback_hint:
        lines.append("  (the traceback: `harness run --traceback`, or pytest --tb=long)")
    return "\n".join(lines)
