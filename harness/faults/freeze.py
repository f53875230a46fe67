"""Freezes: a node, or some of its PostgreSQL processes, stops running without dying.

Two mechanisms, because they freeze different things:

- ``PauseNode`` (``docker pause``: the cgroup freezer) freezes every process of the host at
  once, the way a VM stall or a long GC-like hiccup of the whole machine would. Its kernel
  still answers TCP handshakes (the network namespace is not frozen), so clients connect and
  then hear nothing. This is what the ``pause``/``freeze`` steps use.
- ``SigstopProcesses`` sends SIGSTOP to the postmaster and its children (or only to the WAL
  receiver or the startup process of a standby) and SIGCONT on heal: PostgreSQL hangs while
  the host stays responsive (``docker exec`` keeps working), closer to Jepsen's pause.

Both are healed by the fault set (``heal_after`` for "for 10 seconds", ``heal_all`` on exit).
"""

from __future__ import annotations

from typing import Literal

from harness.errors import CommandFailed, SetupError
from harness.runtime.base import Pausable
from harness.topology.base import Topology
from harness.topology.streaming import PGDATA

__all__ = ["FREEZE_FAULTS", "PauseNode", "Processes", "SigstopProcesses", "thaw"]

#: Names of the fault kinds that "thaw" heals.
FREEZE_FAULTS = ("pause", "sigstop")

Processes = Literal["postgres", "walreceiver", "startup", "walsender"]

# pgrep -f patterns of the process titles (``postgres: <cluster_name>: walreceiver ...``).
_PATTERNS: dict[str, str] = {
    "walreceiver": "^postgres: .*walreceiver",
    "startup": "^postgres: .*startup",
    "walsender": "^postgres: .*walsender",
}


def thaw(node: Pausable) -> bool:
    """Unpause ``node``; False (and no error) when it is not paused any more: a timed pause whose
    time ran out, or a node something else restarted or killed meanwhile."""
    try:
        node.resume()
    except Exception as exc:
        # Docker answers 409/500 "... is not paused" (or "is not running"): nothing is frozen.
        if "is not paused" in str(exc) or "is not running" in str(exc):
            return False
        raise
    return True


class PauseNode:
    """Every process of the node frozen with the cgroup freezer (``docker pause``)."""

    name = "pause"
    one_shot = False

    def __init__(self, cluster: Topology, target: str) -> None:
        self.cluster, self.target = cluster, target
        self._paused = False

    def _node(self) -> Pausable:
        node = self.cluster.node(self.target)
        if not isinstance(node, Pausable):
            raise SetupError(f"{self.target} cannot be paused on this runtime")
        return node

    def inject(self) -> str:
        node = self._node()
        node.pause()
        self._paused = True
        return f"docker pause (cgroup freezer) of every process on {self.target}"

    def heal(self) -> str:
        if not self._paused:
            return f"{self.target} was not paused"
        thawed = thaw(self._node())
        self._paused = False
        return f"{self.target} resumed (docker unpause)" if thawed else f"{self.target} was no longer paused"


class SigstopProcesses:
    """SIGSTOP to PostgreSQL processes of a node; SIGCONT to the same pids on heal.

    ``postgres``: the postmaster first (so it forks nothing new), then its children.
    ``walreceiver`` / ``startup``: only that process of a standby (the stream, or the replay,
    stops while the rest of the server answers queries). ``walsender``: a primary's senders.
    """

    name = "sigstop"
    one_shot = False

    def __init__(self, cluster: Topology, target: str, processes: Processes = "postgres") -> None:
        self.cluster, self.target, self.processes = cluster, target, processes
        self.pids: list[int] = []

    def _script(self) -> str:
        if self.processes == "postgres":
            return (f"pm=$(head -1 {PGDATA}/postmaster.pid) && kill -STOP $pm && "
                    "kids=$(pgrep -P $pm | tr '\\n' ' ') && "
                    "{ [ -z \"$kids\" ] || kill -STOP $kids; } && echo $pm $kids")
        pattern = _PATTERNS[self.processes]
        return f"pids=$(pgrep -f '{pattern}' | tr '\\n' ' ') && [ -n \"$pids\" ] && kill -STOP $pids && echo $pids"

    def inject(self) -> str:
        res = self.cluster.node(self.target).exec(["sh", "-c", self._script()], user="root", timeout=10)
        if res.exit_code != 0:
            raise CommandFailed(self.target, f"SIGSTOP {self.processes}", res.exit_code,
                                res.output or f"no {self.processes} process found")
        self.pids = [int(p) for p in res.output.split() if p.isdigit()]
        return f"SIGSTOP to {self.processes} on {self.target} (pids {' '.join(map(str, self.pids))})"

    def heal(self) -> str:
        if not self.pids:
            return f"nothing stopped on {self.target}"
        node = self.cluster.node(self.target)
        if not node.is_running():
            # The host went down meanwhile: its processes are gone, nothing is left stopped.
            self.pids = []
            return f"{self.target} is down: no stopped process left"
        pids = " ".join(map(str, self.pids))
        # A pid that is gone (or the host rebooted) is not an error: nothing is stopped then.
        res = node.exec(["sh", "-c", f"kill -CONT {pids} 2>/dev/null; true"], user="root", timeout=10)
        if res.exit_code != 0:
            raise CommandFailed(self.target, f"SIGCONT {pids}", res.exit_code, res.output)
        self.pids = []
        return f"SIGCONT to {self.processes} on {self.target} (pids {pids})"
