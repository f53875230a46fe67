"""Interrupt the harness at random moments (SIGINT, SIGTERM, SIGKILL) mid-drill; the next start
must leave nothing of those runs: no container, network, mount, loop device, nft table or
namespace on the host, delayer or process.

Bounded: HARNESS_INTERRUPT_ITERATIONS runs (default 6 here; the issue's 20 with `-m slow`).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest

from harness import labels
from harness.runtime.docker import DockerRuntime

REPO = Path(__file__).resolve().parents[2]

FEATURE = textwrap.dedent("""
    Feature: interrupted
      Scenario: many faults at once
        Given a PostgreSQL cluster with 1 primary and 2 async replicas
        And the write probe is running every 50 ms
        When I add 100 ms of latency with 10 ms jitter to replica 1
        And I fill the data disk of the primary to 90 %
        And I cut replica 2 off from the primary in one direction
        And I kill the primary
        And the harness fails over to the most advanced replica
        And I wait 30 seconds
        Then the write RTO is under 10 seconds
""")


def _leftovers(run_ids: list[str]) -> list[str]:
    client = docker.from_env()
    found = []
    for run_id in run_ids:
        flt = {"label": [f"{labels.RUN}={run_id}"]}
        found += [f"container {c.name}" for c in client.containers.list(all=True, filters=flt, sparse=True)]
        found += [f"network {n.name}" for n in client.networks.list(filters=flt)]
        vol = Path("/var/lib/pgharness/volumes") / run_id
        if vol.exists() and any(vol.rglob("*.img")):
            found.append(f"volume images under {vol}")
    mounts = Path("/proc/mounts").read_text()
    found += [f"mount {line.split()[1]}" for line in mounts.splitlines()
              if any(r in line for r in run_ids)]
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    found += [f"loop {line.split(':')[0]}" for line in loops.splitlines() if any(r in line for r in run_ids)]
    # Fault rules live in the nodes' namespaces and die with them; none may ever reach the
    # host's own tables, and the harness makes no named namespaces on the host.
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    found += [f"host nft {t}" for t in tables.splitlines() if "pgharness" in t]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"host netns {n}" for n in netns.splitlines() if "pgh" in n or any(r in n for r in run_ids)]
    procs = subprocess.run(["pgrep", "-af", "harness.net.delayer|harness.cli run .*interrupt"], capture_output=True,
                           text=True).stdout
    found += [f"process {p}" for p in procs.splitlines() if p.strip()]
    return found


def _iterations() -> int:
    return max(1, min(20, int(os.environ.get("HARNESS_INTERRUPT_ITERATIONS", "6"))))


@pytest.mark.slow  # over 20 s: the slow suite
def test_interrupted_runs_leave_nothing_behind_after_the_next_start(tmp_path: Path, node_image: str) -> None:
    feature = tmp_path / "interrupt.feature"
    feature.write_text(FEATURE)
    rng = random.Random(int(os.environ.get("HARNESS_SEED", "7")))
    run_ids: list[str] = []
    log = []
    for i in range(_iterations()):
        sig = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
        delay = rng.uniform(1.0, 7.0)
        run_id = f"int{i}-{labels.new_run_id()}"
        run_ids.append(run_id)
        env = dict(os.environ, HARNESS_RUN_ID=run_id, HARNESS_REPORTS_DIR=str(tmp_path / "reports"))
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(feature)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(sig)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"iteration {i}: the harness did not stop within 90 s of {sig.name}")
        log.append(f"{i}: {sig.name} after {delay:.1f} s, exit {proc.returncode}")
    # The next start of the harness reaps whatever the killed runs left.
    nxt = DockerRuntime("int-next-" + labels.new_run_id(), "probe")
    nxt.teardown()
    deadline = time.monotonic() + 10  # delayers exit by themselves when their harness is gone
    left = _leftovers(run_ids)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _leftovers(run_ids)
    assert left == [], "\n".join(log + left)


@pytest.mark.slow
def test_twenty_interruptions(tmp_path: Path, node_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_INTERRUPT_ITERATIONS", "20")
    test_interrupted_runs_leave_nothing_behind_after_the_next_start(tmp_path, node_image)
