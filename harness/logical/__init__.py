"""Logical replication (publication/subscription) between the drill's cluster and a second one."""

from harness.logical.conflicts import ApplyError, apply_errors, differing_keys
from harness.logical.replica import ConflictReport, LogicalReplica, LogicalSectionResult, check_available

__all__ = ["ApplyError", "ConflictReport", "LogicalReplica", "LogicalSectionResult", "apply_errors", "check_available",
           "differing_keys"]
