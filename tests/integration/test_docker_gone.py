"""The Docker daemon dies in the middle of a drill (a harness must say so in one line and leave nothing behind).

The run must end with a clear error naming the daemon and a non-zero exit; once a daemon
runs again, the next start removes every container, network, mount and loop device the run
made. This test kills the machine's dockerd (and starts it again the way scripts/setup
does), so it runs in the slow suite, alone, and never where systemd owns the daemon.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest

from harness import labels
from harness.labels import new_run_id
from harness.runtime.docker import reap

REPO = Path(__file__).resolve().parents[2]
DOCKERD_LOG = "/var/log/pgharness-dockerd.log"

pytestmark = pytest.mark.slow


def _dockerd_pids() -> list[int]:
    out = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def _start_dockerd() -> None:
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen(["setsid", "dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            docker.from_env(timeout=5).ping()
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    pytest.fail(f"dockerd did not come back in 90 s (see {DOCKERD_LOG})")


def _wait_for(pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_docker_daemon_killed_mid_run(tmp_path: Path, node_image: str) -> None:
    if subprocess.run(["systemctl", "is-active", "--quiet", "docker"], capture_output=True,
                      check=False).returncode == 0:
        pytest.skip("systemd runs this machine's dockerd: not killing it")
    if not _dockerd_pids():
        pytest.skip("no dockerd process to kill")
    run_id = new_run_id()
    feature = tmp_path / "gone.feature"
    feature.write_text(textwrap.dedent("""
        Feature: the daemon goes away
          Scenario: kill the primary after Docker died
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            And the write probe is running every 50 ms
            When I wait 3 seconds
            And I kill the primary
            Then the write RTO is under 10 seconds
    """))
    reports = tmp_path / "reports"
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(reports), HARNESS_RUN_ID=run_id, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(feature)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        journals = reports / "runs" / run_id / "scenarios"
        assert _wait_for(lambda: any("window_start" in p.read_text() for p in journals.glob("*/journal.jsonl")),
                         90), "the drill never started its probes"
        for pid in _dockerd_pids():
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=240)
    finally:
        proc.kill()
        if not _dockerd_pids():
            _start_dockerd()
    assert proc.returncode != 0, out[-3000:]
    assert "Docker daemon" in out and "stopped answering" in out, out[-3000:]
    # The next start (its reaper) removes whatever the dead run left, once a daemon answers.
    reap()
    client = docker.from_env()
    flt = {"label": [f"{labels.RUN}={run_id}"]}
    assert client.containers.list(all=True, filters=flt) == []
    assert client.networks.list(filters=flt) == []
    mounts = Path("/proc/mounts").read_text()
    assert run_id not in mounts
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=False).stdout
    assert run_id not in loops
    procs = subprocess.run(["pgrep", "-af", run_id], capture_output=True, text=True, check=False).stdout
    assert procs.strip() == "", procs
