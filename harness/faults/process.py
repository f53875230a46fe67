"""Process faults: crash a node, kill its postmaster, stop PostgreSQL cleanly."""

from __future__ import annotations

from harness.errors import CommandFailed, SetupError
from harness.faults.base import Fault
from harness.topology.base import ManagedPostgres, Topology, need

__all__ = ["PROCESS_FAULTS", "KillNode", "KillPostmaster", "StopPostgres", "fault_named"]

class KillNode:
    """The whole host crashes: SIGKILL to every process in the container (``docker kill``)."""

    name = "kill"
    one_shot = True

    def __init__(self, cluster: Topology, target: str) -> None:
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

    def __init__(self, cluster: Topology, target: str) -> None:
        self.cluster, self.target = cluster, target

    def inject(self) -> str:
        pid_file = f"{self.cluster.data_directory}/postmaster.pid"
        res = self.cluster.node(self.target).exec(
            ["sh", "-c", f"pid=$(head -1 {pid_file}) && kill -KILL $pid && echo $pid"])
        if res.exit_code != 0:
            raise CommandFailed(self.target, "kill -KILL postmaster", res.exit_code, res.output)
        return f"SIGKILL to postmaster pid {res.output.strip()} on {self.target}"

    def heal(self) -> str:
        if isinstance(self.cluster, ManagedPostgres):
            self.cluster.start_postgres(self.target)
            return f"postgres started again on {self.target}"
        return f"left to the topology's manager to start PostgreSQL again on {self.target}"


class StopPostgres:
    """A clean shutdown of PostgreSQL (``pg_ctl stop -m fast``); the host stays up."""

    name = "stop"
    one_shot = True

    def __init__(self, cluster: Topology, target: str) -> None:
        self.pg = need(cluster, ManagedPostgres, f"stopping PostgreSQL on {target} (its manager starts it again)")
        self.cluster, self.target = cluster, target

    def inject(self) -> str:
        self.pg.pg_ctl(self.target, "-m", "fast", "-w", "stop")
        return f"pg_ctl stop -m fast on {self.target}"

    def heal(self) -> str:
        self.pg.start_postgres(self.target)
        return f"postgres started again on {self.target}"


PROCESS_FAULTS: dict[str, type[KillNode] | type[KillPostmaster] | type[StopPostgres]] = {
    KillNode.name: KillNode, KillPostmaster.name: KillPostmaster, StopPostgres.name: StopPostgres}


def fault_named(name: str, cluster: Topology, target: str) -> Fault:
    """The process fault called ``name`` ("kill", "kill-postmaster", "stop") against ``target``."""
    try:
        cls = PROCESS_FAULTS[name]
    except KeyError:
        raise SetupError(f"unknown fault {name!r}: one of {', '.join(PROCESS_FAULTS)}") from None
    return cls(cluster, target)
