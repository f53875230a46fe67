"""`harness env check` says what kind of topology a valid file describes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.environment import ENVIRONMENTS_DIR


@pytest.mark.parametrize(("name", "expected"), [
    ("streaming", "2 async replicas"),
    ("patroni", "Patroni: 3 nodes"),
    ("two-region", "two regions: 2 node(s) in 'east', 1 DR standby(s) in 'west'"),
])
def test_env_check_describes_the_topology(name: str, expected: str) -> None:
    out = CliRunner().invoke(app, ["env", "check", str(ENVIRONMENTS_DIR / f"{name}.yaml")])
    assert out.exit_code == 0, out.output
    assert expected in " ".join(out.output.split())
