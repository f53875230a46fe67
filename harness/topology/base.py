"""What every topology offers the drill, and the capabilities only some have.

:class:`Topology` is the interface the drill, the probes, the generic faults and the generic
Then steps use; every topology implements it (mypy checks the built-in ones at the end of
this module). What only some topologies can do is its own protocol, checked at run time with
:func:`need`, which turns a missing capability into one clear line::

    need(drill.cluster, ManagedPostgres, "stopping PostgreSQL")
    # SetupError: not available on a patroni topology: stopping PostgreSQL (...)

Capabilities:

- :class:`Attachable`: another process can take the running topology over (``harness up``).
- :class:`Restartable`: a node that was killed or stopped can be started again (a deposed
  primary rejoins as a replica of the new one).
- :class:`ManagedPostgres`: the harness runs ``pg_ctl`` itself (no manager in between).
- :class:`Promotable`: harness-driven failover (promote a replica, repoint the others).
- :class:`HaManaged`: a manager (Patroni, ...) elects the leader; the harness only watches.
- :class:`MultiRegion`: nodes in regions joined by a WAN link.
- :class:`HasVolumes`: nodes with their own data and WAL filesystems (disk faults).
- :class:`HasParts`: watchers the topology runs for the drill (Patroni's view, the RPO
  exposure sampler): the drill adds them as parts once the topology started.

Topologies are created through :mod:`harness.topology.registry` by kind; the drill never
names one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from harness.errors import SetupError

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.history import History
    from harness.runtime.base import Node, Runtime
    from harness.runtime.volumes import Kind, LoopVolume
    from harness.topology.roles import Roles

__all__ = [
    "Attachable",
    "HaManaged",
    "HasParts",
    "HasVolumes",
    "ManagedPostgres",
    "MultiRegion",
    "NotAvailable",
    "Promotable",
    "Restartable",
    "Topology",
    "need",
]


class NotAvailable(SetupError):
    """A step asked a topology for something it cannot do."""


class Topology(Protocol):
    """A running set of PostgreSQL nodes with one primary at a time.

    Not runtime-checkable on purpose: ``isinstance`` would read ``primary``, which may ask the
    nodes (mypy checks conformance; tests/unit/test_seams.py checks the members at run time).
    """

    #: The word used in messages ("not available on a <kind> topology") and the registry key.
    kind: str
    env: Environment
    history: History
    runtime: Runtime
    #: PGDATA on the nodes (for faults that touch its files: postmaster.pid, pages).
    data_directory: str
    #: The PostgreSQL nodes, in a stable order (helpers such as etcd or a router are not in it).
    names: list[str]
    started: bool
    roles: Roles

    @property
    def primary(self) -> str:
        """The node that takes writes now (raises UnknownTarget when there is none)."""

    def start(self, *, timeout: float = ...) -> None:
        """Create the nodes and wait until the primary takes writes and every replica streams."""

    def teardown(self) -> None:
        """Remove every node (idempotent)."""

    def release(self) -> list[str]:
        """Stop what the topology runs outside its nodes (watchers, delayers); problems met."""

    def node(self, name: str) -> Node: ...

    def nodes(self) -> Sequence[Node]: ...

    def address(self, name: str) -> str:
        """Where the harness reaches ``name`` (raises when the node has none: it is down)."""

    def replicas(self) -> list[str]: ...

    def resolve(self, role: str) -> str:
        """A role as a step writes it ("the primary", "a replica", "node2") to a node name, now."""

    def in_recovery(self, name: str, timeout: float = 1) -> bool | None:
        """True for a standby, False for a writable primary, None when it does not answer."""

    def writable_nodes(self) -> list[str]: ...

    def wait_one_primary(self, timeout: float) -> str: ...

    def wait_streaming(self, *, timeout: float = ..., expect: list[str] | None = None) -> None:
        """Until every expected replica (default: all) streams from the primary, caught up."""

    def wait_ready(self, name: str, timeout: float = 30) -> None:
        """Until ``name`` accepts connections."""

    def node_logs(self, name: str, tail: int = 100) -> str: ...

    def describe(self) -> str:
        """One line for the journal and the report."""

    def disk_usage(self, name: str) -> dict[str, float]:
        """Use % of the node's volumes for the monitor ({} when it has none)."""


@runtime_checkable
class Attachable(Protocol):
    def attach(self, *, primary: str | None, old_primary: str | None, down: list[str]) -> None:
        """Take over the running nodes an earlier process started (``harness up``), roles as it
        left them (a topology whose manager names the primary ignores ``primary``)."""


@runtime_checkable
class Restartable(Protocol):
    def start_again(self, name: str, *, deposed: bool) -> str:
        """Boot ``name`` again after a kill or stop; a ``deposed`` primary comes back as a
        replica of the current primary. Returns how (for the journal)."""


@runtime_checkable
class ManagedPostgres(Protocol):
    """The harness itself starts and stops PostgreSQL on the nodes."""

    def pg_ctl(self, name: str, *args: str, timeout: float = 60) -> str: ...

    def postgres_running(self, name: str) -> bool: ...

    def start_postgres(self, name: str) -> None: ...

    def configure_standby(self, name: str, primary: str, *, host: str | None = None) -> None: ...


@runtime_checkable
class Promotable(Protocol):
    """Failover driven by the harness: promote a replica, repoint the others to it."""

    sync: bool

    def sync_setting(self, primary: str) -> str:
        """``synchronous_standby_names`` for ``primary`` ("" when replication is asynchronous)."""

    def repoint(self, name: str, primary: str) -> None:
        """A running standby follows ``primary``."""


@runtime_checkable
class HaManaged(Protocol):
    """A manager elects the leader; the harness observes it."""

    def leader_or_none(self) -> str | None: ...

    def wait_new_leader(self, old: str, timeout: float) -> str: ...

    def ha_view(self) -> Mapping[str, Any] | None:
        """The manager's own view of the members now (None: nobody answered)."""


@runtime_checkable
class MultiRegion(Protocol):
    def region_of(self, node: str) -> str: ...

    def dr_region(self) -> str: ...

    def promote_in(self, region: str) -> str: ...


@runtime_checkable
class HasVolumes(Protocol):
    def volumes_of(self, name: str) -> Mapping[Kind, LoopVolume]:
        """The node's loop volumes by kind ("data", "wal"); empty without volumes."""


@runtime_checkable
class HasParts(Protocol):
    def drill_parts(self) -> list[Any]:
        """Context managers the drill adds as parts after the topology started (see harness.parts)."""


C = TypeVar("C")


def need(topology: Topology, capability: type[C], what: str) -> C:
    """``topology`` as ``capability``, or a NotAvailable naming the topology's kind."""
    if not isinstance(topology, capability):
        raise NotAvailable(f"not available on a {topology.kind} topology: {what}")
    return topology


if TYPE_CHECKING:
    # mypy checks here that the built-in topologies implement what they claim.
    from harness.topology.patroni import PatroniCluster
    from harness.topology.regions import RegionCluster
    from harness.topology.streaming import StreamingCluster

    def _conforms(s: StreamingCluster, p: PatroniCluster, r: RegionCluster) -> tuple[
            Topology, Topology, Topology, Restartable, Restartable, ManagedPostgres, Promotable, Promotable,
            HaManaged, MultiRegion, HasVolumes, HasVolumes]:
        return s, p, r, s, p, s, s, r, p, r, s, r
