"""Following a runbook: every step timed and recorded, so MTTR breaks down by step.

Manual steps prompt the operator in a game day (``HARNESS_INTERACTIVE=1``, the terminal
attached) and time their answer; in CI they take a scripted answer (``Given the on-call
engineer answers "..."``) and the step's ``expect_s`` as their duration, recorded as scripted.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Literal

from harness.drill import Drill
from harness.errors import CommandFailed, HarnessError
from harness.history import ActionEvent, RunbookStepTaken, now
from harness.runbooks.actions import run_action
from harness.runbooks.model import Runbook, RunbookStep

__all__ = ["follow"]


def _interactive() -> bool:
    return bool(os.environ.get("HARNESS_INTERACTIVE")) and sys.stdin is not None and sys.stdin.isatty()


def _manual(step: RunbookStep, answers: list[str]) -> tuple[str, str]:
    if _interactive():
        print(f"\n>>> runbook step: {step.name}", file=sys.__stdout__, flush=True)
        if step.command:
            print(f"    {step.command}", file=sys.__stdout__, flush=True)
        for i, opt in enumerate(step.options, 1):
            print(f"    [{i}] {opt}", file=sys.__stdout__, flush=True)
        reply = input("    done? (Enter, or the number of the option) > ").strip()
        if reply.isdigit() and 1 <= int(reply) <= len(step.options):
            return step.options[int(reply) - 1], "operator"
        return reply or "done", "operator"
    if step.options:
        for a in answers:
            for opt in step.options:
                if a.lower() in opt.lower():
                    return opt, "scripted"
        return step.options[0], "scripted (first option)"
    return "done", "scripted"


def follow(drill: Drill, runbook: Runbook, answers: list[str] | None = None) -> list[ActionEvent]:
    """Run every step in order; stop at the first failing automated step (it is recorded)."""
    answers = answers or []
    events: list[ActionEvent] = []
    drill.history.note("runbook.start", f"{runbook.incident_type} ({runbook.severity}), {len(runbook.steps)} steps")
    for i, step in enumerate(runbook.steps, 1):
        t0 = now()
        outcome: Literal["ok", "failed"] = "ok"
        detail = ""
        scripted, expected = False, None
        try:
            if step.kind == "action":
                detail = run_action(step.action or "", drill)
            elif step.kind == "shell":
                target = drill.target(step.target)
                res = drill.cluster.node(target).exec(["sh", "-c", step.shell or ""], timeout=120)
                if res.exit_code != 0:
                    raise CommandFailed(target, step.shell or "", res.exit_code, res.output)
                detail = f"on {target}: {res.output.strip()[-300:]}"
            else:
                answer, who = _manual(step, answers)
                detail = f"{who}: {answer}"
                scripted = who.startswith("scripted")
                if scripted and step.expect_s:
                    expected = float(step.expect_s)
                    # Never slept through or added: the measured time stays the machine's; the
                    # runbook's estimate of the person's time is noted beside it.
                    detail += f" (a person is expected to take {step.expect_s:g} s)"
        except HarnessError as exc:
            outcome, detail = "failed", str(exc)[:500]
        t1 = now()
        ev = drill.history.add(ActionEvent(at=t0, end=t1, action=f"runbook.step {i}", target=step.name,
                                           outcome=outcome, detail=f"[{step.kind}] {detail}"))
        drill.history.add(RunbookStepTaken(at=t0, end=t1, index=i, name=step.name, step_kind=step.kind, outcome=outcome,
                                      scripted=scripted, expected_s=expected, detail=detail))
        events.append(ev)
        if outcome == "failed":
            drill.history.note("runbook.stopped", f"step {i} ({step.name}) failed")
            break
    drill.history.note("runbook.end", runbook.incident_type)
    time.sleep(0)  # a yield point for the probes between runbook and next step
    return events
