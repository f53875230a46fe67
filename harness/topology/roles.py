"""Who plays which part in a topology right now: the one owner of role state.

A topology holds one :class:`Roles`; nothing else keeps a primary, an old primary or a set of
nodes that are down. The state changes only through the methods below, each named for what
happened (a fault took nodes down, a node was promoted, a node came back), and they are called
from the drill's fault and recovery paths (``Drill.apply``/``inject``/``restart``, the
recovery functions) or, for a manager that elects its own leader (Patroni), from what the
topology observed (:meth:`observed_leader`). Readers get copies: ``roles.down`` is a frozenset.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["Roles"]


class Roles:
    def __init__(self, primary: str | None = None) -> None:
        self._lock = threading.Lock()
        self._primary = primary
        self._old_primary: str | None = None
        self._down: set[str] = set()
        self._paused: set[str] = set()
        self._leader: str | None = None
        self._upstream: dict[str, str] = {}  # replica -> the node it streams from (cascading)

    def __repr__(self) -> str:
        return (f"Roles(primary={self._primary!r}, old_primary={self._old_primary!r}, down={sorted(self._down)}, "
                f"paused={sorted(self._paused)}, leader={self._leader!r})")

    # -- reading -----------------------------------------------------------------------------

    @property
    def primary(self) -> str | None:
        """The node the harness made (or last saw as) primary; None before one is known."""
        return self._primary

    @property
    def old_primary(self) -> str | None:
        """The primary that a fault or a switchover deposed most recently."""
        return self._old_primary

    @property
    def down(self) -> frozenset[str]:
        """Nodes a fault took down that nothing has brought back yet."""
        with self._lock:
            return frozenset(self._down)

    @property
    def paused(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._paused)

    @property
    def leader(self) -> str | None:
        """The leader an HA manager named when last asked (None for harness-driven topologies)."""
        return self._leader

    @property
    def upstreams(self) -> dict[str, str]:
        """Replicas that stream from another node than the primary, and that node (a copy)."""
        with self._lock:
            return {k: v for k, v in self._upstream.items() if v != self._primary and k != self._primary}

    def upstream_of(self, name: str) -> str | None:
        """The node ``name`` streams from: its cascading upstream, else the primary (None for the primary)."""
        with self._lock:
            if name == self._primary:
                return None
            return self._upstream.get(name, self._primary)

    # -- the fault path ----------------------------------------------------------------------

    def took_down(self, names: Iterable[str]) -> None:
        """A fault took these nodes down; the primary among them becomes the old primary."""
        with self._lock:
            for name in names:
                if name == self._primary or (self._leader is not None and name == self._leader):
                    self._old_primary = name
                self._down.add(name)

    def deposed(self, name: str) -> None:
        """``name`` stopped being the primary without going down (cut off, switched over, a zombie)."""
        with self._lock:
            self._old_primary = name

    def paused_node(self, name: str) -> None:
        with self._lock:
            self._paused.add(name)

    def resumed(self, name: str) -> None:
        with self._lock:
            self._paused.discard(name)

    # -- the recovery path -------------------------------------------------------------------

    def came_back(self, name: str) -> None:
        """A node the harness brought back (booted, rejoined, rebuilt)."""
        with self._lock:
            self._down.discard(name)
            self._paused.discard(name)

    def streams_from(self, name: str, upstream: str) -> None:
        """The harness pointed replica ``name`` at ``upstream`` (at the start, a repoint, a rejoin)."""
        with self._lock:
            self._upstream[name] = upstream

    def promoted(self, name: str) -> None:
        """The harness made ``name`` the primary (failover, a DR promotion, a switchover)."""
        with self._lock:
            self._upstream.pop(name, None)
            if name != self._primary:
                self._old_primary = self._primary
                self._primary = name

    def observed_leader(self, name: str) -> None:
        """An HA manager names ``name`` leader: a change from the last one deposes that one."""
        with self._lock:
            if self._leader is not None and name != self._leader:
                self._old_primary = self._leader
            self._leader = name
            self._primary = name

    def restore(self, *, primary: str | None, old_primary: str | None, down: Iterable[str] = (),
                paused: Iterable[str] = ()) -> None:
        """Roles as an earlier process left them (a topology taken over by ``harness status``)."""
        with self._lock:
            self._primary, self._old_primary = primary, old_primary
            self._down, self._paused = set(down), set(paused)
