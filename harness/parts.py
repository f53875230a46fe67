"""Drill parts: what a drill runs beside its topology and probes, each a context manager.

A part is added with ``drill.add_part(part)`` (entered at once, on the drill's exit stack) and
found again by type: ``drill.part(Backups)`` (created on first use when the class has a
``for_drill(drill)`` class method, else a SetupError), ``drill.maybe_part(T)`` (None when
absent). ``T`` may be a class or one of the protocols below. On close the drill exits its
parts in reverse order of adding, after the faults are healed and the numbers are taken;
an exception in one part's exit is reported and the others still close.

Hooks a part may offer (each is optional; the drill checks with ``isinstance``):

- :class:`StartsWithProbes`: ``probes_started(drill)`` when the probes start (at once when
  the part is added to a drill whose probes already run).
- :class:`StartsBeforeWindow`: ``before_window(drill)`` when the probes are about to start,
  before the window opens (the topology runs).
- :class:`EndsWithWindow`: ``window_ending(drill)`` right before the measured window's final
  read (stop a probe of its own, read what the survivor holds).
- :class:`ReportsSection`: ``section`` (a name) and ``result_section()``, a pydantic model or
  None; it lands in ``ScenarioResult.sections[section]``, then in summary.json (under
  ``sections``), the CLI table and the Allure parameters without a renderer naming it.
- :class:`ClientPath`: where the clients (probes, background load) send their requests.
  The drill asks the last ClientPath part added; without one, :class:`DirectPath` (the
  primary's own address).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.topology.base import Topology

__all__ = ["ClientPath", "DirectPath", "EndsWithWindow", "FollowsPrimary", "Part", "PartBase", "ReadPath",
           "ReportsSection", "StartsBeforeWindow", "StartsWithProbes"]


class Part(Protocol):
    def __enter__(self) -> Any: ...

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> bool | None: ...


class PartBase:
    """A part with nothing to set up or undo; subclasses override ``close``."""

    def __enter__(self) -> PartBase:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop and undo what the part did (called once, on the drill's close)."""


@runtime_checkable
class StartsWithProbes(Protocol):
    def probes_started(self, drill: Drill) -> None: ...


@runtime_checkable
class StartsBeforeWindow(Protocol):
    """Called when the probes are about to start, before the measured window opens (after
    the topology started): a part whose start is no outage (a client path's containers)."""

    def before_window(self, drill: Drill) -> None: ...


@runtime_checkable
class EndsWithWindow(Protocol):
    def window_ending(self, drill: Drill) -> None: ...


@runtime_checkable
class ReportsSection(Protocol):
    section: str

    def result_section(self) -> BaseModel | None: ...


@runtime_checkable
class ClientPath(Protocol):
    """Where clients reach the service."""

    name: str

    def endpoint(self, topology: Topology, node: str) -> str:
        """``address`` or ``address:port`` at which clients reach ``node`` (raises when it has none)."""

    def primary_endpoint(self, topology: Topology) -> tuple[str, str]:
        """(the node the requests are meant for, the address clients use for the primary)."""


@runtime_checkable
class ReadPath(Protocol):
    """A client path with a read-only side of its own (standbys): the read probe goes there."""

    def read_endpoint(self, topology: Topology) -> tuple[str, str]:
        """(a label for the read service, the address or connection string readers use)."""


@runtime_checkable
class FollowsPrimary(Protocol):
    """A part told when the harness moved the primary (a failover), e.g. to repoint a pooler."""

    def primary_moved(self, drill: Drill) -> None: ...


class DirectPath:
    """Clients connect to the nodes themselves; the primary is the topology's, asked each time."""

    name = "direct"

    def endpoint(self, topology: Topology, node: str) -> str:
        return topology.address(node)

    def primary_endpoint(self, topology: Topology) -> tuple[str, str]:
        primary = topology.primary
        return primary, self.endpoint(topology, primary)
