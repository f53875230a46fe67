"""The S3 repository's pure parts: pgBackRest's options, credentials, TLS, HAProxy, the backlog checker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.backup.s3 import (
    describe_environment,
    external_repo,
    haproxy_s3_config,
    local_repo_lines,
    make_tls,
)
from harness.backup.s3part import pgbackrest_error
from harness.checkers.archive import backlog_windows
from harness.environment import BackupSection, S3Settings
from harness.errors import SetupError
from harness.history import ArchiveBacklog, Event, FaultEvent, Stamp
from harness.secrets import redact


def _s3(**kw: object) -> S3Settings:
    base: dict[str, object] = {"endpoint": "minio.example.test", "bucket": "drills", "key_env": "T_S3_KEY",
                               "secret_env": "T_S3_SECRET", "uri_style": "path", "port": 9000}
    return S3Settings.model_validate(base | kw)


def test_local_repository_is_path_style_tls_verified_with_the_run_ca() -> None:
    repo, lines = local_repo_lines("/var/lib/pgbackrest/s3-ca.crt")
    assert repo.local and repo.endpoint == "s3" and repo.port == 443
    for opt in ("repo1-type=s3", "repo1-s3-uri-style=path", "repo1-s3-bucket=pgharness", "repo1-s3-region=us-east-1",
                "repo1-storage-ca-file=/var/lib/pgbackrest/s3-ca.crt", "repo1-bundle=y"):
        assert opt in lines.splitlines()
    assert "verify-tls=n" not in lines and "repo1-storage-verify-tls=n" not in lines


def test_external_credentials_come_from_the_named_variables_and_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_S3_KEY", raising=False)
    monkeypatch.setenv("T_S3_SECRET", "s3cr3t-value-123")
    with pytest.raises(SetupError, match=r"\$T_S3_KEY .*not set") as exc:
        external_repo(_s3(), "run1", "s01", None)
    assert "s3cr3t" not in str(exc.value)
    monkeypatch.setenv("T_S3_KEY", "AKIAEXAMPLEKEY")
    repo, lines = external_repo(_s3(), "run1", "s01", None)
    assert "repo1-s3-key-secret=s3cr3t-value-123" in lines and repo.path == "/pgharness/run1/s01"
    assert "s3cr3t-value-123" not in redact(lines) and "AKIAEXAMPLEKEY" not in redact(lines)
    assert "s3cr3t" not in repo.describe() and "repo1-storage-ca-file" not in lines
    said = describe_environment(BackupSection(repository="s3", s3=_s3()))
    assert said is not None and "$T_S3_KEY set" in said and "AKIA" not in said


def test_environment_refuses_an_endpoint_without_an_s3_repository() -> None:
    with pytest.raises(ValidationError, match="repository is posix"):
        BackupSection(s3=_s3())
    with pytest.raises(ValidationError, match="needs tool: pgbackrest"):
        BackupSection(repository="s3", tool="basebackup")
    assert describe_environment(BackupSection()) is None
    assert "own endpoint" in (describe_environment(BackupSection(repository="s3")) or "")


def test_the_run_certificate_verifies_for_the_endpoint_name(tmp_path: Path) -> None:
    tls = make_tls()
    (tmp_path / "ca.pem").write_text(tls.ca_pem)
    (tmp_path / "server.pem").write_text(tls.server_pem)
    ok = subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "-verify_hostname", "s3", "server.pem"],
                        cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    other = subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "-verify_hostname", "node1", "server.pem"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert other.returncode != 0
    assert "PRIVATE KEY" in tls.server_pem and "PRIVATE KEY" not in tls.ca_pem


def test_haproxy_terminates_tls_and_answers_503_to_the_acl_share() -> None:
    cfg = haproxy_s3_config()
    assert "bind *:443 ssl crt /etc/s3/server.pem" in cfg
    assert "rand(100) -m int -f /etc/haproxy/fail.acl" in cfg and "return status 503" in cfg
    assert "server moto 127.0.0.1:5000" in cfg


def _at(t: float) -> Stamp:
    return Stamp(t=t, wall=1000 + t)


def _sample(t: float, ready: int, failed: int) -> ArchiveBacklog:
    return ArchiveBacklog(at=_at(t), node="node1", ready=ready, archived_count=10, failed_count=failed,
                          last_failed_wal="000000010000000000000005" if failed else "")


def test_backlog_window_peak_failures_and_drain() -> None:
    events: list[Event] = [
        _sample(0.5, 0, 0),
        FaultEvent(at=_at(1.0), fault="s3-endpoint-down", target="s3", phase="inject", began=_at(0.9)),
        _sample(2.0, 1, 2), _sample(3.0, 3, 5), _sample(4.0, 3, 6),
        FaultEvent(at=_at(5.0), fault="s3-endpoint-down", target="s3", phase="heal"),
        _sample(6.0, 2, 6), _sample(7.5, 0, 6), _sample(9.0, 0, 7),
    ]
    (w,) = backlog_windows(events)
    assert (w.ready_before, w.ready_peak, w.failed_archives) == (0, 3, 6)
    assert w.drain_s == pytest.approx(2.5) and w.last_failed_wal.endswith("05")


def test_a_backlog_that_never_drains_is_none_and_an_unsampled_fault_is_left_out() -> None:
    unsampled: list[Event] = [FaultEvent(at=_at(0.5), fault="s3-endpoint-slow", target="s3", phase="inject")]
    assert backlog_windows(unsampled) == []
    events: list[Event] = [
        FaultEvent(at=_at(1.0), fault="s3-endpoint-errors", target="s3", phase="inject"),
        _sample(2.0, 2, 1),
        FaultEvent(at=_at(3.0), fault="s3-endpoint-errors", target="s3", phase="heal"),
        _sample(4.0, 1, 1),
        FaultEvent(at=_at(6.0), fault="kill", target="node1", phase="inject"),  # not a repository fault
    ]
    (w,) = backlog_windows(events)
    assert w.fault == "s3-endpoint-errors" and w.drain_s is None and w.ready_peak == 2


def test_a_bad_repository_is_one_line_naming_what_s3_said() -> None:
    # pgBackRest 2.45's own output against a missing bucket and an unknown host (measured here)
    nobucket = ("ERROR: [039]: HTTP request failed with 404 (Not Found):\n  *** Path/Query ***:\n  GET /nosuchbucket/\n"
                "  *** Response Content ***:\n  <?xml version=\"1.0\" encoding=\"utf-8\"?>\n  <Error><Code>NoSuchBucket"
                "</Code><Message>The specified bucket does not exist</Message><BucketName>nosuchbucket</BucketName></Error>")
    said = pgbackrest_error(nobucket, 39)
    assert said == ("ERROR: [039]: HTTP request failed with 404 (Not Found): NoSuchBucket: "
                    "The specified bucket does not exist") and "\n" not in said
    nohost = "ERROR: [049]: unable to get address for 'nosuchhost': [-2] Name or service not known\n"
    assert pgbackrest_error(nohost, 49) == "ERROR: [049]: unable to get address for 'nosuchhost': [-2] Name or service not known"
    assert pgbackrest_error("", 7) == "exit 7"


def test_env_check_says_where_s3_backups_go_and_never_the_keys(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.environment import ENVIRONMENTS_DIR

    out = CliRunner().invoke(app, ["env", "check", str(ENVIRONMENTS_DIR / "streaming-s3.yaml")])
    assert out.exit_code == 0, out.output
    assert "backups in S3 on the run's own endpoint" in " ".join(out.output.split())
    monkeypatch.setenv("T_S3_KEY", "AKIAEXAMPLEKEY")
    monkeypatch.delenv("T_S3_SECRET", raising=False)
    f = tmp_path / "real.yaml"
    f.write_text("name: real\nbackup:\n  repository: s3\n  s3: {endpoint: minio.example.test, port: 9000, "
                 "bucket: drills, uri_style: path, key_env: T_S3_KEY, secret_env: T_S3_SECRET}\n")
    out = CliRunner().invoke(app, ["env", "check", str(f)])
    text = " ".join(out.output.split())
    assert out.exit_code == 0, out.output
    assert "s3://drills/pgharness at minio.example.test:9000" in text and "$T_S3_SECRET NOT SET" in text
    assert "AKIAEXAMPLEKEY" not in out.output
    f.write_text("name: bad\nbackup:\n  s3: {endpoint: x.test, bucket: drills, key_env: A, secret_env: B}\n")
    out = CliRunner().invoke(app, ["env", "check", str(f)])
    assert out.exit_code != 0 and "repository is posix" in out.output


class _FakeContainer:
    def __init__(self) -> None:
        self.removed = False

    def logs(self, tail: int = 40) -> bytes:
        return b"ModuleNotFoundError: No module named 'flask'\n"

    def remove(self, force: bool = False, v: bool = False) -> None:
        self.removed = True


class _ExitedNode:
    def __init__(self) -> None:
        self.container = _FakeContainer()

    def is_running(self) -> bool:
        return False

    def exec(self, cmd: list[str], *, user: str = "postgres", timeout: float = 60) -> object:
        from harness.runtime.base import ExecResult

        return ExecResult(1, "")


class _Runtime:
    run_id = "r"

    def __init__(self) -> None:
        self.node = _ExitedNode()

    def create_node(self, name: str, **kw: object) -> _ExitedNode:
        return self.node


def test_an_endpoint_that_will_not_start_is_one_error_with_its_log_and_is_removed() -> None:
    from harness.backup.s3 import S3Endpoint

    rt = _Runtime()
    with pytest.raises(SetupError, match=r"the S3 endpoint \(pgharness/s3:\w+\) did not start: exited at start") as exc:
        S3Endpoint(rt, make_tls(), start_timeout=5).start()  # type: ignore[arg-type]
    assert "No module named 'flask'" in str(exc.value) and rt.node.container.removed


def test_the_scorecard_counts_s3_drills_as_dr_tests() -> None:
    from harness.report.summary import scorecard

    def run(status: str, tags: list[str]) -> dict[str, object]:
        return {"scenario": "s", "status": status, "tags": tags, "violations": [], "measurements": {}, "targets": {}}

    def verdict(runs: list[dict[str, object]]) -> str:
        return next(c.verdict for c in scorecard(runs)[1] if c.name == "regular DR tests")

    assert verdict([run("passed", ["backup"])]) == "not tested"
    assert verdict([run("passed", ["backup", "s3", "pitr"])]) == "met"
    assert verdict([run("passed", ["s3"]), run("failed", ["backup", "s3"])]) == "missed"
