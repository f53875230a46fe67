"""The backup checkers, re-exported: they live in :mod:`harness.checkers.backup` (pure over the
history, and imported by :mod:`harness.checkers.measure` without the Docker side of this package)."""

from harness.checkers.backup import (
    BACKUP_ACTIONS,
    BACKUP_SIDE_FAULTS,
    BackupMeasures,
    BackupStats,
    FallbackLoss,
    RestoreMeasure,
    RestoreStats,
    backup_measures,
    backup_stats,
    fallback_loss,
    restore_rpo,
    restore_stats,
)

__all__ = ["BACKUP_ACTIONS", "BACKUP_SIDE_FAULTS", "BackupMeasures", "BackupStats", "FallbackLoss", "RestoreMeasure",
           "RestoreStats", "backup_measures", "backup_stats", "fallback_loss", "restore_rpo", "restore_stats"]
