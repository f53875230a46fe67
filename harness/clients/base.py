"""The client path slot: how the probes and the load reach the database.

A path gives the connection strings a client uses for writes and for reads (a service
address, never "the primary the harness knows"), and the components it runs (HAProxy,
PgBouncer containers) by name, for the faults on the path. ``direct`` is the harness's own
view and the ideal the real paths are compared with.

A path is a context manager: entering starts what it needs and waits until a write through
it is answered (within the settle time); leaving, or a failed start, removes what it made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Protocol

import psycopg

from harness.runtime.docker import DockerNode

__all__ = ["PATHS", "ServicePath", "Cluster", "conninfo_for", "node_addresses"]

#: The path names, as written in the environment file and in summary.json.
PATHS = ("direct", "libpq", "haproxy", "pgbouncer+haproxy", "pgbouncer")


class Cluster(Protocol):
    """The part of a topology a path needs: its nodes' names and addresses, and its kind."""

    kind: str
    names: list[str]

    @property
    def primary(self) -> str: ...

    def address(self, name: str) -> str: ...


class ServicePath(Protocol):
    name: str  # one of PATHS

    def write_conninfo(self) -> str:
        """The connection string of the read-write service."""

    def read_conninfo(self) -> str:
        """The connection string of the read-only (standby-preferring) service."""

    @property
    def components(self) -> Mapping[str, DockerNode]:
        """What the path runs, by name ("haproxy", "pgbouncer"): targets of the path faults."""

    def logs(self) -> dict[str, str]:
        """Each component's log (for the report, and for an error that names it)."""

    def __enter__(self) -> ServicePath: ...

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None: ...


def conninfo_for(hosts: Sequence[str], port: int | Sequence[int], *, timeout_s: int, app: str,
                 **extra: str) -> str:
    """A libpq connection string over ``hosts`` (one port for all, or one each)."""
    ports = [port] * len(hosts) if isinstance(port, int) else list(port)
    return psycopg.conninfo.make_conninfo(
        host=",".join(hosts), port=",".join(str(p) for p in ports), user="postgres", dbname="postgres",
        connect_timeout=str(timeout_s), application_name=app, **extra)


def node_addresses(cluster: Cluster) -> dict[str, str]:
    """Address -> node name of every node that has one now."""
    out: dict[str, str] = {}
    for name in cluster.names:
        try:
            out[cluster.address(name)] = name
        except Exception:  # noqa: BLE001 - a node that is down has no address
            continue
    return out
