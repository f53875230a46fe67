"""Process faults: crash a node, kill its postmaster, stop PostgreSQL cleanly."""

from __future__ import annotations

from harness.errors import CommandFailed
from harness.topology.streaming import PGDATA, StreamingCluster

__all__ = ["KillNode", "KillPostmaster", "StopPostgres"]


class KillNode:
    """The whole host crashes: SIGKILL to every process in the container (``docker kill``)."""

    name = "kill"
    one_shot = True

    def __init__(self, cluster: StreamingCluster, target: str) -> None:
        self.cluster, self.target = cluster, target

    def inject(self) -> str:
        self.cluster.node(self.target).kill()
        return f"SIGKILL to every process on {self.target}"

    def heal(self) -> str:
        self.cluster.node(self.target).start()
        return f"{self.target} booted again"


class KillPostmaster:
    """Only PostgreSQL crashes: SIGKILL to the postmaster; the host stays up."""

    name = "kill-postmaster"
    one_shot = True

    def __init__(self, cluster: StreamingCluster, target: str) -> None:
        self.cluster, self.target = cluster, target

    def inject(self) -> str:
        res = self.cluster.node(self.target).exec(
            ["sh", "-c", f"pid=$(head -1 {PGDATA}/postmaster.pid) && kill -KILL $pid && echo $pid"])
        if res.exit_code != 0:
            raise CommandFailed(self.target, "kill -KILL postmaster", res.exit_code, res.output)
        return f"SIGKILL to postmaster pid {res.output.strip()} on {self.target}"

    def heal(self) -> str:
        self.cluster.start_postgres(self.target)
        return f"postgres started again on {self.target}"


class StopPostgres:
    """A clean shutdown of PostgreSQL (``pg_ctl stop -m fast``); the host stays up."""

    name = "stop"
    one_shot = True

    def __init__(self, cluster: StreamingCluster, target: str) -> None:
        self.cluster, self.target = cluster, target

    def inject(self) -> str:
        self.cluster.pg_ctl(self.target, "-m", "fast", "-w", "stop")
        return f"pg_ctl stop -m fast on {self.target}"

    def heal(self) -> str:
        self.cluster.start_postgres(self.target)
        return f"postgres started again on {self.target}"
