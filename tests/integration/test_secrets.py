"""Secrets: a drill with a password really needs it, and the password appears nowhere the
harness writes (journal, node logs, summaries, Allure results), even when a node's log holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from harness import secrets
from harness.drill import Drill
from harness.environment import load_environment
from harness.errors import SetupError
from harness.topology.auth import scram_verifier
from harness.topology.pg import conninfo, sql

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Tr0ub4dor-and-3-horses"  # what a leak would look like in a file


def _env_file(tmp_path: Path) -> Path:
    f = tmp_path / "auth.yaml"
    f.write_text(textwrap.dedent("""
        name: auth
        topology: {replicas: 1, replication: async, settings: {log_statement: all}}
        auth: {password_env: PGH_TEST_PASSWORD}
    """))
    return f


def test_the_host_needs_the_password_and_it_is_masked_in_logs(tmp_path: Path, run_id: str, node_image: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGH_TEST_PASSWORD", PASSWORD)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    d = Drill(run_id, "sec", tmp_path / "drill", load_environment(_env_file(tmp_path)))
    try:
        primary = d.cluster.address(d.cluster.primary)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(conninfo(primary), password="wrong-password").close()
        assert sql(primary, "SELECT current_user")[0][0] == "postgres"  # PGPASSWORD, set by the drill
        # The password in a statement: with log_statement = all the node's log now holds it.
        sql(primary, "SELECT %s::text", (PASSWORD,))
        assert PASSWORD in d.cluster.node_logs(d.cluster.primary, 50)
        d.start_probes(0.05)
        d.wait(1)
        d.history.note("leak.attempt", f"host=node1 password={PASSWORD} postgresql://postgres:{PASSWORD}@node1/db")
        d.step_failed = True  # node logs are saved, as for a failed step
    finally:
        d.close()
    assert "PGPASSWORD" not in os.environ
    written = [p for p in (tmp_path / "drill").rglob("*") if p.is_file()]
    assert any(p.name == "node1.log" for p in written), written
    for p in written:
        assert PASSWORD not in p.read_text(errors="replace"), p
    journal = (tmp_path / "drill" / "journal.jsonl").read_text()
    assert "password=********" in journal and "postgres:********@" in journal


def test_an_unset_password_variable_is_a_clear_error(tmp_path: Path, run_id: str, node_image: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGH_TEST_PASSWORD", raising=False)
    d = Drill(run_id, "sec2", tmp_path / "drill", load_environment(_env_file(tmp_path)))
    try:
        with pytest.raises(SetupError, match=r"\$PGH_TEST_PASSWORD, which is not set"):
            _ = d.cluster
    finally:
        d.close()


@pytest.mark.slow  # over 20 s: the slow suite
def test_a_whole_run_writes_the_password_nowhere(tmp_path: Path, run_id: str, node_image: str) -> None:
    env_file = _env_file(tmp_path)
    feature = tmp_path / "auth.feature"
    feature.write_text(textwrap.dedent(f"""
        Feature: a cluster that needs a password
          Scenario: kill the primary, fail over, miss a target (so logs are attached)
            Given the environment "{env_file}"
            And the write probe is running every 50 ms
            When I kill the primary
            And the harness fails over to the most advanced replica
            Then the write RTO is under 1 ms
    """))
    reports = tmp_path / "reports"
    env = {**os.environ, "HARNESS_REPORTS_DIR": str(reports), "HARNESS_RUN_ID": run_id,
           "PGH_TEST_PASSWORD": PASSWORD}
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(feature)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]  # the 1 ms target, nothing else
    assert "is not under 0.001 s" in out.stdout
    assert PASSWORD not in out.stdout + out.stderr
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any(p.name.endswith("-result.json") for p in files), files
    leaks = [p for p in files if PASSWORD.encode() in p.read_bytes()]
    assert not leaks, leaks


def test_redact_masks_registered_secrets_and_connection_strings() -> None:
    secrets.register("s3cret-value")
    text = "a s3cret-value; host=x password='a b' user=y postgresql://u:pw@h/db PGPASSWORD=zz"
    out = secrets.redact(text)
    assert "s3cret-value" not in out and "'a b'" not in out and ":pw@" not in out and "zz" not in out
    assert "host=x" in out and "user=y" in out
    with pytest.raises(ValueError):
        secrets.register("abc")


def test_scram_verifier_has_postgres_format() -> None:
    v = scram_verifier("pw", salt=b"0123456789abcdef")
    assert v.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$") and v.count(":") == 2
