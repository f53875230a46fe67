"""`harness up / status / inject / failover / heal / down` as a person uses them, each a new process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from harness import labels

REPO = Path(__file__).resolve().parents[2]


def _h(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.slow  # over a minute: the slow suite
def test_a_topology_left_up_survives_other_runs_and_heals_by_hand(tmp_path: Path, node_image: str) -> None:
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(tmp_path / "reports"), COLUMNS="200")
    env.pop("HARNESS_RUN_ID", None)
    out = _h(env, "up", "--replicas", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    state = (tmp_path / "reports" / "up" / "state.json").read_text()
    run_id = state.split('"run_id": "')[1].split('"')[0]
    try:
        assert _h(env, "up").returncode == 2  # one session at a time, said clearly
        # Another harness process starting must not reap a kept topology.
        from harness.runtime.docker import reap

        reap()
        flt = {"label": [f"{labels.RUN}={run_id}"]}
        assert len(docker.from_env().containers.list(filters=flt)) == 3

        from harness.wait import wait_until

        # Each replica's upstream (a replica just started may still be catching up).
        wait_until(lambda: _h(env, "status").stdout.count("node1 (streaming)") == 2, timeout=60, interval=1,
                   what="both replicas streaming from node1")
        assert _h(env, "inject", "pause", "replica-2").returncode == 0  # node3
        assert _h(env, "inject", "kill", "the-primary").returncode == 0
        again = _h(env, "inject", "kill", "node1")
        assert again.returncode == 2 and "node1 is already down" in again.stderr and "Traceback" not in again.stderr
        status = _h(env, "status").stdout
        assert "down" in status and "stopped" in status
        failed_over = _h(env, "failover").stdout
        assert "new primary: node2" in failed_over, failed_over
        assert "node3: not repointed: it is paused" in failed_over, failed_over
        healed = _h(env, "heal")
        assert healed.returncode == 0 and "node1: pg_rewind" in healed.stdout, healed.stdout + healed.stderr
        assert "node3: unpaused, following node2" in healed.stdout, healed.stdout
        wait_until(lambda: _h(env, "status").stdout.count("node2 (streaming)") == 2, timeout=60, interval=1,
                   what="both replicas streaming from node2")
        status = _h(env, "status").stdout
        assert status.count("replica") >= 2 and "down (" not in status
        journal = tmp_path / "reports" / "up" / run_id / "journal.jsonl"
        text = journal.read_text()
        assert '"fault":"kill"' in text and '"action":"failover"' in text and '"action":"rejoin"' in text
    finally:
        down = _h(env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert docker.from_env().containers.list(all=True, filters={"label": [f"{labels.RUN}={run_id}"]}) == []
    assert not labels.is_kept(run_id)
    assert _h(env, "status").returncode == 2  # nothing up any more, said clearly


def test_up_refuses_what_it_cannot_stand_up(tmp_path: Path) -> None:
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(tmp_path / "reports"))
    out = _h(env, "up", "two-region")
    assert out.returncode == 2 and "cannot stand up" in out.stderr and "two regions" in out.stderr, out.stderr
    assert not (tmp_path / "reports" / "up" / "state.json").exists()
