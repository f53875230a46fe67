"""Who streams from whom, and how late each replica applies WAL (pure: no nodes asked).

Replicas are numbered as the steps name them at the start: replica N is ``node{N+1}``.
``topology.replica_settings`` (or the Given steps) say, per replica number, an upstream replica
(cascading: its ``primary_conninfo`` points there) and an apply delay
(``recovery_min_apply_delay``). :func:`check` turns a replica that does not exist, a cycle or a
delay that does not parse into one line naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from harness.units import parse_duration

__all__ = ["NodePlan", "ReplicaOptions", "check", "delay_setting", "describe", "node_name", "plan", "replica_number"]


class ReplicaOptions(Protocol):
    """What the environment's ``ReplicaSettings`` holds (a protocol: no import of the model)."""

    @property
    def apply_delay(self) -> str | None: ...

    @property
    def streams_from(self) -> int | None: ...


@dataclass(frozen=True)
class NodePlan:
    """One node as it starts: its upstream (None for the primary) and its apply delay in seconds."""

    name: str
    upstream: str | None
    apply_delay_s: float = 0.0

    @property
    def cascaded(self) -> bool:
        return self.upstream is not None and self.upstream != "node1"


def node_name(replica: int) -> str:
    """Replica N at the start is node{N+1} (node1 is the first primary)."""
    return f"node{replica + 1}"


def replica_number(name: str) -> int:
    return int(name.removeprefix("node")) - 1


def check(replicas: int, settings: Mapping[int, ReplicaOptions]) -> None:
    """Raise ValueError (one line) for a replica that does not exist, a cycle, or a bad delay."""
    for n, opt in sorted(settings.items()):
        if not 1 <= n <= replicas:
            raise ValueError(f"replica {n} does not exist: the topology has {replicas} replicas (1..{replicas})")
        if opt.apply_delay is not None:
            try:
                delay = parse_duration(opt.apply_delay)
            except ValueError as exc:
                raise ValueError(f"replica {n}: apply delay: {exc}") from None
            if delay <= 0:
                raise ValueError(f"replica {n}: apply delay {opt.apply_delay!r} must be more than 0")
        up = opt.streams_from
        if up is not None:
            if up == n:
                raise ValueError(f"replica {n} cannot stream from itself")
            if not 1 <= up <= replicas:
                raise ValueError(f"replica {n} streams from replica {up}, which does not exist "
                                 f"(the topology has {replicas} replicas)")
    for n in sorted(settings):
        seen = [n]
        cur = settings[n].streams_from
        while cur is not None:
            if cur in seen:
                loop = seen[seen.index(cur):] + [cur]
                raise ValueError("replicas stream from each other in a cycle ("
                                 + " -> ".join(f"replica {x}" for x in loop)
                                 + "): one of them must stream from the primary")
            seen.append(cur)
            nxt = settings.get(cur)
            cur = nxt.streams_from if nxt is not None else None


def plan(replicas: int, settings: Mapping[int, ReplicaOptions]) -> dict[str, NodePlan]:
    """Every node's upstream and delay as the topology starts (checked first)."""
    check(replicas, settings)
    out = {"node1": NodePlan("node1", None)}
    for n in range(1, replicas + 1):
        opt = settings.get(n)
        up = node_name(opt.streams_from) if opt is not None and opt.streams_from is not None else "node1"
        delay = parse_duration(opt.apply_delay) if opt is not None and opt.apply_delay is not None else 0.0
        out[node_name(n)] = NodePlan(node_name(n), up, delay)
    return out


def delay_setting(seconds: float) -> str:
    """recovery_min_apply_delay's value (milliseconds: a whole number PostgreSQL accepts)."""
    return f"{int(round(seconds * 1000))}ms"


def describe(replicas: int, settings: Mapping[int, ReplicaOptions]) -> str:
    """'replica 2 (node3) streams from replica 1 (node2), replica 2 (node3) applies WAL 300 s late' ('' if none)."""
    out = []
    for name, p in plan(replicas, settings).items():
        n = replica_number(name)
        if p.cascaded and p.upstream is not None:
            out.append(f"replica {n} ({name}) streams from replica {replica_number(p.upstream)} ({p.upstream})")
        if p.apply_delay_s > 0:
            out.append(f"replica {n} ({name}) applies WAL {p.apply_delay_s:g} s late")
    return ", ".join(out)
