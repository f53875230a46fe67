"""Recovery actions: each one timed and recorded in the history."""

from harness.recovery.failover import failover_to_most_advanced, rejoin_as_replica

__all__ = ["failover_to_most_advanced", "rejoin_as_replica"]
