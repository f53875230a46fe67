"""Executable runbooks (the template of docs/runbooks.md) as recovery actions."""

from harness.runbooks.model import Runbook, RunbookStep, load_runbook

__all__ = ["Runbook", "RunbookStep", "load_runbook"]
