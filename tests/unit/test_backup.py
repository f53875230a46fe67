"""Pure parts of harness.backup: info parsing, numbers over a history, targets, the reaper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.backup.checks import backup_measures, backup_stats, fallback_loss, restore_rpo, restore_stats
from harness.backup.faults import BreakArchivePush, CorruptBackup
from harness.backup.pgbackrest import parse_info, parse_verify
from harness.backup.repo import Repository, archive_settings, pgbackrest_config, reap_repositories
from harness.backup.restore import RecoveryTarget, expected_rows
from harness.checkers.measure import measure
from harness.environment import load_environment
from harness.errors import EnvironmentFileError, SetupError
from harness.history import ActionEvent, BackupFallback, BackupStop, BackupTaken, Event, FaultEvent, FinalRead, ProbeOp, Stamp
from harness.report.summary import write_summaries

INFO = json.dumps([{"name": "main", "backup": [
    {"label": "20261128-175000F", "type": "full", "timestamp": {"start": 100, "stop": 103},
     "lsn": {"start": "0/2000028", "stop": "0/2000100"},
     "info": {"size": 23259020, "delta": 23259020, "repository": {"size": 3063739, "delta": 3063739}}},
    {"label": "20261128-175000F_20261128-175010I", "type": "incr", "timestamp": {"start": 110, "stop": 112},
     "info": {"size": 23291788, "delta": 73994, "repository": {"size": 3066373, "delta": 9000}}},
]}, {"name": "other", "backup": [{"label": "x", "type": "full", "timestamp": {"start": 1, "stop": 2}}]}])


def at(t: float) -> Stamp:
    return Stamp(t=t, wall=1000 + t)


def write(seq: int, start: float, end: float, outcome: str = "ok") -> ProbeOp:
    return ProbeOp(at=at(start), end=at(end), probe="write", seq=seq, node="node1", outcome=outcome)  # type: ignore[arg-type]


def taken(kind: str, t: float, size: int, repo_size: int = 0) -> BackupTaken:
    return BackupTaken(at=at(t), type=kind, label=f"{kind}-{t:g}", size=size, repo_size=repo_size)


def act(action: str, start: float, end: float, target: str = "node1", outcome: str = "ok", detail: str = "") -> ActionEvent:
    return ActionEvent(at=at(start), end=at(end), action=action, target=target, outcome=outcome,  # type: ignore[arg-type]
                       detail=detail)


def test_parse_info_reads_the_stanzas_backups_in_order() -> None:
    full, incr = parse_info(INFO)
    assert (full.type, full.size, full.repo_size, full.lsn_stop) == ("full", 23259020, 3063739, "0/2000100")
    assert (incr.type, incr.delta, incr.repo_delta, incr.stop - incr.start) == ("incr", 73994, 9000, 2)


def test_backup_stats_counts_failures_and_sizes() -> None:
    events: list[Event] = [
        act("backup.full", 0, 3), taken("full", 3, 10, 2),
        act("backup.incr", 5, 6, outcome="failed"),
        act("backup.verify", 7, 8),  # not a backup
    ]
    s = backup_stats(events)
    assert (s.attempts, s.succeeded, s.success_rate, s.sizes, s.repo_sizes) == (2, 1, 0.5, [10], [2])
    assert s.durations_s == [3, 1]
    assert backup_stats([]).success_rate is None


def test_restore_stats_times_each_phase_from_the_decision() -> None:
    events: list[Event] = [
        act("restore.decision", 10, 10, "restore1", detail="latest"),
        act("restore.fetch", 11, 13, "restore1"),
        act("restore.replay", 13, 14.5, "restore1"),
        act("restore.verify", 14.5, 15, "restore1", outcome="failed"),
    ]
    (r,) = restore_stats(events)
    assert r.rto_from == "decision"
    assert (r.rto_s, r.fetch_s, r.replay_s, r.verify_s, r.verified) == (4.5, 2, 1.5, 0.5, False)
    events[2] = act("restore.replay", 13, 40, "restore1", outcome="failed")
    assert restore_stats(events)[0].rto_s is None  # never writable: no RTO, never a small number


def test_restore_rpo_counts_only_writes_before_the_decision_against_the_restored_node() -> None:
    events: list[Event] = [write(1, 0, 0.1), write(2, 1, 1.1), write(3, 2, 2.1),
                           act("restore.decision", 3, 3, "restore1"),
                           write(4, 4, 4.1),  # after the decision: in no backup, not a loss
                           FinalRead(at=at(5), node="restore1", present=[(1, 1)]),
                           FinalRead(at=at(6), node="node1", present=[(1, 4)])]
    r = restore_rpo(events, "restore1")
    assert (r.lost, r.lost_seqs, r.final_read_node) == (2, [(2, 3)], "restore1")
    # The span of lost data runs from the last safe write (seq 1, acked at 0.1) to the last lost one (2.1).
    assert r.window_s is not None and abs(r.window_s - 2.0) < 1e-9


def test_expected_rows_around_a_target() -> None:
    events: list[Event] = [write(1, 0, 0.1), write(2, 0.95, 1.05), write(3, 1.2, 1.3, "timeout"), write(4, 2, 2.1)]
    t = RecoveryTarget("time", "2026-11-28 17:50:59+00", wall_before=1001.0, wall_after=1001.1)
    must, must_not = expected_rows(events, t)
    assert must == {1} and must_not == {3, 4}  # 2 raced the target: either outcome is right
    assert expected_rows(events, RecoveryTarget("latest")) == (set(), set())


def test_target_options() -> None:
    assert RecoveryTarget("latest").options() == []
    assert RecoveryTarget("xid", "856", exclusive=True).options() == [
        "--type=xid", "--target=856", "--target-action=promote", "--target-exclusive"]
    assert RecoveryTarget("name", "before_migration").describe() == "name before_migration"


def test_archiving_goes_through_pgbackrest() -> None:
    s = archive_settings()
    assert s["archive_mode"] == "on" and s["archive_command"] == "pgbackrest --stanza=main archive-push %p"
    assert "repo1-path=/var/lib/pgbackrest" in pgbackrest_config() and "[main]" in pgbackrest_config()


def test_reaper_removes_repositories_of_dead_runs_only(tmp_path: Path) -> None:
    dead = Repository.create("tdead", "s", root=tmp_path)
    alive = Repository.create("talive", "s", root=tmp_path)
    (dead.host_path / "archive").mkdir()
    dead.state_file.write_text(json.dumps({"run": "tdead", "scope": "s", "pid": 999_999_999}))
    assert reap_repositories(root=tmp_path) == 1
    assert not dead.host_path.exists() and not dead.state_file.exists() and alive.host_path.exists()
    assert reap_repositories(root=tmp_path, everything=True) == 1
    assert not any(tmp_path.iterdir())


def test_immediate_target_of_a_chosen_backup() -> None:
    t = RecoveryTarget("immediate", backup_set="20261128-175749F", wall_before=1.0, wall_after=2.0)
    assert t.options() == ["--set=20261128-175749F", "--type=immediate", "--target-action=promote"]
    assert t.describe() == "end of backup of 20261128-175749F"


VERIFY_TEXT = """stanza: main
status: error
  archiveId: 15-1, total WAL checked: 5, total valid WAL: 5
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261128-190520F, status: valid, total files checked: 967, total valid files: 967
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261128-190520F_20261128-190525I, status: invalid, total files checked: 967, total valid files: 966
    missing: 0, checksum invalid: 1, size invalid: 0, other: 0
"""


def test_parse_verify_tells_the_invalid_set_apart() -> None:
    r = parse_verify(VERIFY_TEXT)
    assert not r.ok
    assert r.valid("20261128-190520F") and not r.valid("20261128-190520F_20261128-190525I")
    assert not r.valid("unknown")
    assert parse_verify("stanza: main\nstatus: ok\n").ok
    assert not parse_verify("").ok  # no report is not a clean report


def _fallback_history(restored_kept: int) -> list[Event]:
    """Writes 1..30, one a second (ack at wall 1000+i+0.1); backups end at walls 1005 and 1015."""
    events: list[Event] = [write(i, i, i + 0.1) for i in range(1, 31)]
    note = BackupFallback(at=at(31), restored="F", restored_stop=1005, with_archive=False,
                          skipped=[BackupStop(label="F_I", stop=1015)])
    events += [note,
               act("restore.decision", 31, 31, "restore1"),
               FinalRead(at=at(40), node="restore1", present=[(1, restored_kept)])]
    return events


def test_fallback_loss_demands_every_write_between_the_backups_lost() -> None:
    # Acked after 1006 (stop + 1 s of rounding) up to 1015: seqs 6..14 (ack at 1006.1 .. 1014.1).
    r = fallback_loss(_fallback_history(5), "restore1")
    assert r.status == "valid" and r.must_lose == 9 and r.lost == 25, r.reason
    # A restore that kept writes past the older set's end did not fall back to its end.
    bad = fallback_loss(_fallback_history(10), "restore1")
    assert bad.status == "invalid" and "survived" in bad.reason
    assert fallback_loss([], "restore1").status == "unknown"


def test_backup_side_faults_do_not_start_the_restore_clock() -> None:
    events: list[Event] = [
        FaultEvent(at=at(1), fault="kill", target="node1", phase="inject"),
        FaultEvent(at=at(5), fault="backup-corruption", target="F_I", phase="inject"),
        act("restore.decision", 10, 10, "restore1"),
        act("restore.replay", 11, 14, "restore1"),
    ]
    (r,) = restore_stats(events)
    assert (r.rto_from, r.rto_s) == ("fault", 13)  # from the kill, not from the corruption


def test_backup_measures_per_type_and_restores() -> None:
    events: list[Event] = [
        write(1, 0, 0.1),
        act("backup.full", 1, 4), taken("full", 4, 10, 2),
        act("backup.full", 5, 6, outcome="failed"),
        act("backup.incr", 7, 8), taken("incr", 8, 11, 1),
        act("restore.decision", 9, 9, "restore1"), act("restore.replay", 10, 12, "restore1"),
        FinalRead(at=at(13), node="restore1", present=[(1, 1)]),
    ]
    m = backup_measures(events)
    assert m is not None
    assert (m.attempts, m.succeeded, m.durations_s, m.sizes) == (3, 2, {"full": [3, 1], "incr": [1]},
                                                                 {"full": [10], "incr": [11]})
    assert m.restores[0].rto_s == 3 and m.restores[0].lost_writes == 0
    assert backup_measures([write(1, 0, 0.1)]) is None
    assert measure(events, 0.05).backup == m


def test_corrupt_backup_changes_bytes_and_heal_puts_them_back(tmp_path: Path) -> None:
    repo = Repository.create("tcorrupt", "s", root=tmp_path)
    pg_data = repo.host_path / "backup" / "main" / "F" / "pg_data" / "base" / "5"
    pg_data.mkdir(parents=True)
    (pg_data / "small.gz").write_bytes(b"x" * 200)
    big = pg_data / "16384.gz"
    original = bytes(range(256)) * 8
    big.write_bytes(original)
    fault = CorruptBackup(repo, "F")
    assert "16384.gz" in fault.inject()
    damaged = big.read_bytes()
    assert len(damaged) == len(original) and sum(a != b for a, b in zip(damaged, original, strict=True)) == 64
    fault.heal()
    assert big.read_bytes() == original
    fault.heal()  # twice is harmless
    with pytest.raises(SetupError):
        CorruptBackup(repo, "missing").inject()


def test_break_archive_push_makes_the_archive_read_only_and_back(tmp_path: Path) -> None:
    repo = Repository.create("tarchive", "s", root=tmp_path)
    sub = repo.host_path / "archive" / "main" / "15-1" / "0000000100000000"
    sub.mkdir(parents=True, mode=0o750)
    sub.chmod(0o750)
    switched: list[int] = []
    fault = BreakArchivePush(repo, "node1", lambda: switched.append(1))
    fault.inject()
    assert sub.stat().st_mode & 0o777 == 0o555
    assert "WAL switched" in fault.heal() and switched == [1]
    assert sub.stat().st_mode & 0o777 == 0o750


def test_backup_settings_from_the_environment_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nbackup:\n  retention_full: 3\n  compress_type: lz4\n  archive_timeout_s: 30\n")
    env = load_environment(good)
    assert (env.backup.retention_full, env.backup.compress_type, env.backup.archive_timeout_s) == (3, "lz4", 30)
    assert archive_settings(archive_timeout_s=30)["archive_timeout"] == "30s"
    assert "compress-type=lz4" in pgbackrest_config(compress_type="lz4")
    assert load_environment("streaming").backup.tool == "pgbackrest"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nbackup:\n  retention_full: 2\n  compress_type: xz\n  repo_size_mb: 8\n")
    with pytest.raises(EnvironmentFileError) as err:
        load_environment(bad)
    text = "\n".join(err.value.problems)
    assert f"{bad}:4: backup.compress_type" in text and f"{bad}:5: backup.repo_size_mb" in text


def test_summary_shows_backups_and_the_run_wide_rate(tmp_path: Path) -> None:
    m = backup_measures([act("backup.full", 1, 4), taken("full", 4, 10),
                         act("backup.full", 5, 6, outcome="failed")])
    assert m is not None
    scenario = {"scenario": "repository full", "status": "passed", "tags": ["backup"],
                "measurements": {"backup": m.model_dump()}}
    md, page = write_summaries(tmp_path, {"run_id": "r", "scenarios": [scenario],
                                          "backups": {"attempts": 2, "succeeded": 1, "success_rate": 0.5}})
    text = md.read_text()
    assert "run-wide backup success rate: 50.00 %" in text and "| repository full | 1/2 | full 3.0, 1.0 |" in text
    assert "Backups and restores" in page.read_text()
