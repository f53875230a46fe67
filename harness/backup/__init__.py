"""Backups and restore drills with pgBackRest.

- :mod:`.repo`: the repository (a host directory bind-mounted into every node), the runtime
  that mounts it, the archiving settings and the reaper of repositories of dead runs.
- :mod:`.pgbackrest`: backups (full, diff, incr) timed into the history, info, verify.
- :mod:`.restore`: restore drills into a fresh node, phase by phase, and their verification.
- :mod:`.checks`: pure numbers over the history (backup durations, success rate, restore RTO/RPO).
"""

from harness.backup.checks import BackupStats, RestoreStats, backup_stats, restore_stats
from harness.backup.pgbackrest import Backup, backup_info, stanza_create, take_backup, verify_repository
from harness.backup.repo import (
    REPO_PATH,
    STANZA,
    BackupRuntime,
    Repository,
    archive_settings,
    reap_repositories,
)
from harness.backup.restore import RecoveryTarget, RestoreResult, expected_rows, restore_to_new_node

__all__ = [
    "REPO_PATH",
    "STANZA",
    "Backup",
    "BackupRuntime",
    "BackupStats",
    "RecoveryTarget",
    "Repository",
    "RestoreResult",
    "RestoreStats",
    "archive_settings",
    "backup_info",
    "backup_stats",
    "expected_rows",
    "reap_repositories",
    "restore_stats",
    "restore_to_new_node",
    "stanza_create",
    "take_backup",
    "verify_repository",
]
