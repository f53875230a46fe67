"""The ``libpq`` path: one connection string listing every node, as an application writes it.

Writes ask for ``target_session_attrs=read-write``: libpq tries the hosts in order, each
within ``connect_timeout``, and keeps the first that accepts writes. Reads ask for
``prefer-standby``. The host list is the nodes' addresses when the path starts (an
application's configuration does not follow the harness); what this path adds to an
outage is the time spent on hosts that are dead (``connect_timeout`` each) or read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from harness.clients.base import Cluster, conninfo_for
from harness.errors import SetupError
from harness.runtime.docker import DockerNode

__all__ = ["LibpqPath"]


class LibpqPath:
    name = "libpq"

    def __init__(self, cluster: Cluster, *, connect_timeout_s: int = 2) -> None:
        self.connect_timeout_s = connect_timeout_s
        hosts = []
        for n in cluster.names:
            try:
                hosts.append(cluster.address(n))
            except Exception as exc:  # noqa: BLE001 - named in the error
                raise SetupError(f"client path libpq: node {n} has no address to list ({exc})") from exc
        if not hosts:
            raise SetupError("client path libpq: the topology has no nodes to list")
        self.hosts = hosts

    def _conninfo(self, attrs: str) -> str:
        return conninfo_for(self.hosts, 5432, timeout_s=self.connect_timeout_s, app="pgharness-libpq",
                            target_session_attrs=attrs)

    def write_conninfo(self) -> str:
        return self._conninfo("read-write")

    def read_conninfo(self) -> str:
        return self._conninfo("prefer-standby")

    @property
    def components(self) -> Mapping[str, DockerNode]:
        return {}

    def logs(self) -> dict[str, str]:
        return {}

    def __enter__(self) -> LibpqPath:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        return None
