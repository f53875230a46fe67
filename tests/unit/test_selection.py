"""Choosing scenarios by name: whole names or an unambiguous beginning, never substrings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.selection import SelectionError, choose, feature_files, split_target

REPO = Path(__file__).resolve().parents[2]
FAILOVER = REPO / "features" / "high_availability" / "primary_failover.feature"


def test_a_whole_name_or_an_unambiguous_beginning_selects_one() -> None:
    (c,) = choose([FAILOVER], "Kill the primary of a synchronous cluster: no acknowledged write is lost")
    assert c.name.startswith("Kill the primary of a synchronous")
    (c,) = choose([FAILOVER], "kill the primary of a SYNCHRONOUS cluster")  # case and spaces aside
    assert "synchronous cluster" in c.name and "asynchronous" not in c.name
    (c,) = choose(feature_files([REPO / "features"]), "Kill the primary of an asynchronous")
    assert c.feature == FAILOVER


def test_a_substring_is_no_selection_and_the_error_lists_the_scenarios() -> None:
    # "synchronous" is inside "asynchronous": pytest's -k would take both; a name takes neither.
    with pytest.raises(SelectionError) as exc:
        choose([FAILOVER], "synchronous")
    text = str(exc.value)
    assert "no scenario is named 'synchronous'" in text
    assert "primary_failover.feature:8: Kill the primary of an asynchronous cluster and fail over" in text


def test_several_matches_are_listed() -> None:
    with pytest.raises(SelectionError) as exc:
        choose([FAILOVER], "Kill the primary")
    assert "2 scenarios begin with 'Kill the primary'" in str(exc.value)


def test_feature_colon_name() -> None:
    assert split_target(f"{FAILOVER}:Stop the primary") == (FAILOVER, "Stop the primary")
    assert split_target(str(FAILOVER)) == (FAILOVER, "")
    assert split_target("features/x.feature:a: b") == (Path("features/x.feature"), "a: b")


def test_run_and_drill_refuse_a_name_that_selects_nothing_and_start_nothing(tmp_path: Path) -> None:
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(tmp_path), PYTHONPATH=str(REPO))
    for cmd in (["run", f"{FAILOVER}:synchronous"], ["drill", f"{FAILOVER}:synchronous"],
                ["run", "--scenario", "Kill the primary"]):
        out = subprocess.run([sys.executable, "-m", "harness.cli", *cmd], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2, out.stdout + out.stderr
        assert "Kill the primary of an asynchronous cluster" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/summary.json"))
