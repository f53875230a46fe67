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
from harness.backup.restore import RecoveryTarget, verify_restored
from harness.backup.session import BackupSession
from harness.drill import Drill
from harness.history import ActionEvent
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

