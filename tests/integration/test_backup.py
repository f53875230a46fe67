"""Real containers: pgBackRest backups into a per-drill repository, restores into a fresh node.

One drill covers the chain (full, incr, restore latest, restore to a noted time) so the
test stays under a few minutes on a shared 2-core machine; timings are not asserted tightly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backup.checks import backup_stats, restore_rpo, restore_stats
from harness.backup.restore import RecoveryTarget, row_checksums, verify_restored
from harness.backup.session import BackupSession
from harness.drill import Drill
from harness.history import ActionEvent
from harness.runtime.volumes import mount_source
from harness.topology.pg import sql


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "bak", tmp_path / "drill")
    d.configure(replicas=1)
    try:
        yield d
    finally:
        d.close()


def test_backup_restore_latest_and_pitr(drill: Drill, run_id: str) -> None:
    s = BackupSession.of(drill)
    repo = s.enable()
    drill.start_probes(0.05, reads=False)
    full = s.backup("full")
    assert full is not None and full.size > 0
    time.sleep(1)
    incr = s.backup("incr")
    assert incr is not None and incr.type == "incr"
    time.sleep(1)
    target = s.mark("time")
    time.sleep(1.5)  # writes after the target: they must be absent from the PITR restore

    pitr = s.restore(target)
    assert pitr.ok, pitr.problems
    lost = restore_rpo(drill.history.events(), pitr.node)
    assert lost.lost and lost.lost > 5  # the writes after the target are gone, as they should be

    latest = s.restore(RecoveryTarget("latest"))
    assert latest.ok, latest.problems
    # A missing row on the restored node is caught by the verification.
    node = drill.cluster.runtime.node(latest.node)
    first = latest.present[0][0]
    sql(node.address(), "DELETE FROM probe WHERE seq = %s", (first,))
    problems = verify_restored(drill.history, node, s.restores[-1].target)
    assert any("missing" in p for p in problems), problems
    # A restored row whose content differs from the source's is caught by its checksum.
    c = drill.cluster
    sql(node.address(), "UPDATE probe SET at = at + interval '1 second' WHERE seq = %s", (first + 1,))
    problems = verify_restored(drill.history, node, s.restores[-1].target,
                               source_rows=lambda: row_checksums(c.address(c.primary)))
    assert any("1 restored rows differ" in p for p in problems), problems

    stats = backup_stats(drill.history.events())
    assert stats.success_rate == 1.0 and stats.attempts == 2
    phases = restore_stats(drill.history.events())
    assert [p.node for p in phases] == ["restore1", "restore2"]
    assert all(p.rto_s is not None and p.fetch_s is not None for p in phases)
    report = {"backups": [(b.type, b.size, b.repo_size) for b in s.backups],
              "durations_s": stats.durations_s, "restores": [p.model_dump() for p in phases],
              "pitr_lost": lost.lost, "pitr_window_s": lost.window_s}
    print(json.dumps(report, indent=1))
    assert [a for a in drill.history.of(ActionEvent) if a.action == "backup.verify" and a.outcome == "ok"]
    assert repo.host_path.is_dir()
    drill.close()
    assert not repo.host_path.exists() and not repo.state_file.exists()



def test_repository_on_its_own_volume_fills_and_is_removed(drill: Drill) -> None:
    s = BackupSession.of(drill)
    repo = s.enable(size_mb=64)
    assert repo.volume is not None and mount_source(repo.volume.mountpoint) is not None
    assert s.backup("full") is not None
    fill = s.fill_repository()
    assert s.backup("full", must_succeed=False, archive_timeout=5) is None
    failed = [a for a in drill.history.of(ActionEvent) if a.action == "backup.full"][-1]
    assert failed.outcome == "failed"
    drill.faults.heal(fill)
    assert s.backup("full") is not None
    assert backup_stats(drill.history.events()).success_rate == 2 / 3
    drill.close()
    assert mount_source(repo.volume.mountpoint) is None and not repo.volume.image.exists()
