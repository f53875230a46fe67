"""Runbook files and the manual-step answers, without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import EnvironmentFileError
from harness.runbooks import RunbookStep, load_runbook
from harness.runbooks.actions import ACTIONS
from harness.runbooks.runner import _manual


@pytest.mark.parametrize("name", ["database_down", "replication_broken", "disk_full"])
def test_shipped_runbooks_load_and_name_only_known_actions(name: str) -> None:
    rb = load_runbook(name)
    assert rb.incident_type == name and rb.severity == "critical"
    for step in rb.steps:
        if step.kind == "action":
            assert step.action in ACTIONS, step.action
    assert any(s.kind == "manual" for s in rb.steps) and any(s.kind != "manual" for s in rb.steps)


def test_a_bad_runbook_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("incident_type: x\nseverity: loud\nsteps: []\n")
    with pytest.raises(EnvironmentFileError) as err:
        load_runbook(f)
    assert str(f) in str(err.value)
    with pytest.raises(EnvironmentFileError, match="known: "):
        load_runbook("no_such_runbook")


def test_scripted_answers_pick_the_matching_option() -> None:
    step = RunbookStep(name="root cause", options=["Out of memory: Scale up", "Host lost: Fail over"])
    assert _manual(step, ["host lost"]) == ("Host lost: Fail over", "scripted")
    assert _manual(step, []) == ("Out of memory: Scale up", "scripted (first option)")
    assert _manual(RunbookStep(name="log it", command="Update incident log"), []) == ("done", "scripted")


def test_a_step_is_an_action_or_a_shell_command_not_both() -> None:
    with pytest.raises(ValueError):
        RunbookStep(name="x", action="fail over", shell="true")
