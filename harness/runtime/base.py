"""The runtime and node slots: where topologies get their hosts from.

A runtime creates the run's network and nodes, all labelled with the run id, and removes
them on teardown; ``reap`` finds and removes what an earlier, dead run left behind.
Optional capabilities (pause, for instance) are their own protocols rather than methods
that raise ``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from harness.runtime.volumes import VolumeSizes

__all__ = ["ExecResult", "Node", "Pausable", "ReapReport", "Runtime"]


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


@dataclass(frozen=True)
class ReapReport:
    containers: int
    networks: int
    volumes: int

    @property
    def total(self) -> int:
        return self.containers + self.networks + self.volumes


class Node(Protocol):
    """One host of a topology.

    ``address()`` is reachable from the harness process (only the harness's own hosts are
    ever contacted); ``hostname`` is how the nodes name each other.
    """

    name: str
    hostname: str

    def address(self) -> str: ...

    def is_running(self) -> bool: ...

    def start(self) -> None:
        """Boot the host again after a stop or kill (its disk is kept)."""

    def stop(self, timeout: float = 10) -> None:
        """Shut the host down (SIGTERM, then SIGKILL after ``timeout``)."""

    def kill(self) -> None:
        """Crash the host: SIGKILL to everything on it at once."""

    def exec(self, cmd: Sequence[str], *, user: str = "postgres", timeout: float = 60) -> ExecResult:
        """Run a command on the host; never raises for a non-zero exit."""

    def exec_detached(self, cmd: Sequence[str], *, user: str = "postgres") -> None:
        """Start a long-running command on the host and return at once (a daemon such as Patroni)."""

    def logs(self, tail: int = 200) -> str: ...


@runtime_checkable
class Pausable(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Runtime(Protocol):
    name: str
    run_id: str
    scope: str

    def create_node(self, name: str, *, image: str, env: Mapping[str, str],
                    volumes: VolumeSizes | None = None) -> Node:
        """Create and boot one host on the run's network (with ``volumes``: its data and WAL
        directories on filesystems of their own)."""

    def create_nodes(self, specs: Sequence[tuple[str, str, Mapping[str, str]]], *,
                     volumes: VolumeSizes | None = None) -> Sequence[Node]:
        """Several hosts at once: (name, image, environment) each."""

    def nodes(self) -> Sequence[Node]: ...

    def node(self, name: str) -> Node: ...

    def teardown(self) -> None:
        """Remove every node, network and volume of this run. Idempotent."""

    def reap(self, *, everything: bool = False) -> ReapReport:
        """Remove leftovers of dead runs (all labelled resources with ``everything``)."""
