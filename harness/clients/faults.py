"""Faults on the client path: kill, freeze or restart HAProxy or PgBouncer; a taken pool."""

from __future__ import annotations

import psycopg

from harness.runtime.docker import DockerNode
from harness.wait import wait_until

__all__ = ["FreezeComponent", "KillComponent", "RestartComponent", "TakePool"]


class KillComponent:
    """SIGKILL the component's container; healing starts it again (as systemd would)."""

    name = "kill"
    one_shot = False

    def __init__(self, node: DockerNode) -> None:
        self.node, self.target = node, node.name
        self._killed = False

    def inject(self) -> str:
        self.node.kill()
        self._killed = True
        return f"{self.target} killed"

    def heal(self) -> str:
        if not self._killed:
            return f"{self.target} was not killed"
        self.node.start()
        self._killed = False
        return f"{self.target} started again"


class FreezeComponent:
    """Freeze the component (docker pause: its sockets stay open, nothing answers)."""

    name = "freeze"
    one_shot = False

    def __init__(self, node: DockerNode) -> None:
        self.node, self.target = node, node.name
        self._frozen = False

    def inject(self) -> str:
        self.node.pause()
        self._frozen = True
        return f"{self.target} frozen"

    def heal(self) -> str:
        if not self._frozen:
            return f"{self.target} was not frozen"
        self.node.resume()
        self._frozen = False
        return f"{self.target} thawed"


class RestartComponent:
    """Restart the component's process (its container): every client session through it is cut."""

    name = "restart"
    one_shot = True

    def __init__(self, node: DockerNode) -> None:
        self.node, self.target = node, node.name

    def inject(self) -> str:
        self.node.container.restart(timeout=2)
        self.node.start()  # refresh its address (the same container, so the same name)
        wait_until(self.node.is_running, timeout=10, interval=0.05, what=f"{self.target} to run again")
        return f"{self.target} restarted"

    def heal(self) -> str:
        return f"{self.target}: nothing to undo"


class TakePool:
    """Open as many sessions as the pool has server connections, each idle in a transaction.

    In transaction mode a session holds its server connection for its whole transaction, so
    these take the pool: every other client waits (``cl_waiting``) until
    ``query_wait_timeout`` and fails. Healing ends the sessions."""

    name = "pool-taken"
    one_shot = False

    def __init__(self, conninfo: str, sessions: int, target: str = "pgbouncer") -> None:
        self.conninfo, self.sessions, self.target = conninfo, sessions, target
        self._held: list[psycopg.Connection[tuple[object, ...]]] = []

    def inject(self) -> str:
        for _ in range(self.sessions):
            conn = psycopg.connect(self.conninfo, prepare_threshold=None)  # not autocommit: BEGIN is implicit
            conn.execute("SELECT txid_current()")  # the transaction now holds a server connection
            self._held.append(conn)
        return f"{len(self._held)} sessions idle in a transaction hold the pool of {self.target}"

    def heal(self) -> str:
        held, self._held = self._held, []
        for conn in held:
            try:
                conn.close()
            except psycopg.Error:
                pass
        return f"{len(held)} idle-in-transaction sessions ended"
