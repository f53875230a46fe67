"""What a user meets when things go wrong: killed runs, Ctrl-C, bad files, unknown steps, no daemon."""

from __future__ import annotations

import json
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
from harness.runtime.docker import DockerRuntime

REPO = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "harness.cli"]


def _labelled(client: docker.DockerClient, run_id: str) -> tuple[int, int]:
    flt = {"label": [f"{labels.RUN}={run_id}"]}
    return len(client.containers.list(all=True, filters=flt)), len(client.networks.list(filters=flt))


def _env(reports: Path, run_id: str | None = None) -> dict[str, str]:
    env = dict(os.environ, HARNESS_REPORTS_DIR=str(reports), PYTHONUNBUFFERED="1")
    env.pop("HARNESS_RUN_ID", None)
    if run_id:
        env["HARNESS_RUN_ID"] = run_id
    return env


def _wait_for(pred, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    pytest.fail("condition not reached")


def test_a_sigkilled_run_is_reaped_on_the_next_start_and_by_clean(tmp_path: Path, run_id: str, node_image: str) -> None:
    client = docker.from_env()
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from harness.drill import Drill
        d = Drill({run_id!r}, "s01", Path({str(tmp_path / 'drill')!r}))
        d.cluster
        print("up", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "up"
        assert _labelled(client, run_id) == (3, 1)
    finally:
        proc.kill()  # SIGKILL: no cleanup code of the harness runs
        proc.wait()
    assert _labelled(client, run_id) == (3, 1), "a SIGKILLed run cannot clean up after itself"
    # The next start of the harness reaps the dead run before making anything of its own.
    rt = DockerRuntime("t" + labels.new_run_id(), "probe")
    try:
        assert _labelled(client, run_id) == (0, 0)
    finally:
        rt.teardown()
    assert _labelled(client, rt.run_id) == (0, 0)


def test_harness_clean_removes_everything_labelled(tmp_path: Path, run_id: str, node_image: str) -> None:
    client = docker.from_env()
    rt = DockerRuntime(run_id, "x")  # alive (our own pid): the reaper would keep it, clean must not
    rt.create_node("node1", image=node_image, env={"HARNESS_NODE": "node1"})
    assert _labelled(client, run_id) == (1, 1)
    out = subprocess.run([*HARNESS, "clean"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "removed 1 containers, 1 networks" in out.stdout
    assert _labelled(client, run_id) == (0, 0)


def test_ctrl_c_mid_scenario_heals_removes_and_still_reports(tmp_path: Path, run_id: str, node_image: str) -> None:
    client = docker.from_env()
    feature = tmp_path / "long.feature"
    feature.write_text(textwrap.dedent("""
        Feature: interrupted
          Scenario: a long drill that is interrupted
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            And the write probe is running every 50 ms
            When I kill the primary
            And I wait 120 seconds
            Then the write RTO is under 10 seconds
    """))
    reports = tmp_path / "reports"
    proc = subprocess.Popen([*HARNESS, "run", str(feature)], cwd=REPO, env=_env(reports, run_id),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    journal = reports / "runs" / run_id / "scenarios"
    try:
        _wait_for(lambda: any('"fault":"kill"' in p.read_text() for p in journal.glob("*/journal.jsonl")), 90)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0, out
    assert _labelled(client, run_id) == (0, 0), out
    summary = json.loads((reports / "runs" / run_id / "summary.json").read_text())
    assert summary["scenarios"][0]["status"] == "aborted", summary


def test_a_failing_scenario_still_removes_everything_and_exits_non_zero(tmp_path: Path, run_id: str,
                                                                        node_image: str) -> None:
    client = docker.from_env()
    feature = tmp_path / "strict.feature"
    feature.write_text(textwrap.dedent("""
        Feature: impossible target
          Scenario: an RTO nobody can meet
            Given a PostgreSQL cluster with 1 primary and 1 async replica
            And the write probe is running every 50 ms
            When I kill the primary
            And I wait 1 seconds
            And the harness fails over to the most advanced replica
            Then the write RTO is under 1 ms
    """))
    reports = tmp_path / "reports"
    out = subprocess.run([*HARNESS, "run", str(feature)], cwd=REPO, env=_env(reports, run_id),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "write RTO" in out.stdout and "is not under 0.001 s" in out.stdout
    assert _labelled(client, run_id) == (0, 0)
    summary = json.loads((reports / "runs" / run_id / "summary.json").read_text())
    s = summary["scenarios"][0]
    assert s["status"] == "failed"
    assert s["measurements"]["rto_write_s"] > 0.5  # the harness failed over only after 1 s
    assert any(v["name"] == "rto_write_s" for v in s["violations"])


def test_unknown_step_names_the_closest_phrasings(tmp_path: Path) -> None:
    feature = tmp_path / "typo.feature"
    feature.write_text(textwrap.dedent("""
        Feature: typo
          Scenario: a misspelt step
            Given a PostgreSQL cluster with 1 primary and 2 async replicas
            When I kil the primary
    """))
    out = subprocess.run([*HARNESS, "run", str(feature)], cwd=REPO, env=_env(tmp_path / "r"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "I kil the primary" in text and "did you mean" in text and "I kill {target:Target}" in text


def test_malformed_environment_file_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntopology:\n  replicas: two\n")
    out = subprocess.run([*HARNESS, "env", "check", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 2
    assert f"{bad}:3: topology.replicas" in out.stderr.replace("\n", "")


def test_malformed_feature_file_is_reported_with_its_line(tmp_path: Path) -> None:
    feature = tmp_path / "broken.feature"
    feature.write_text("Feature: broken\n  Scenario: x\n    Given a step\n  Whatever this is\n")
    out = subprocess.run([*HARNESS, "run", str(feature)], cwd=REPO, env=_env(tmp_path / "r"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "broken.feature" in text and "line 4" in text.lower() or "(4:" in text, text[-2000:]


def test_no_docker_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no-such.sock")
    out = subprocess.run([*HARNESS, "clean"], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert out.returncode == 2
    assert "no reachable Docker daemon" in out.stderr and "dockerd" in out.stderr
