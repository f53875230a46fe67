"""The ``direct`` path: the harness's own view of the primary, asked before every attempt.

No application can do this (it knows what the harness knows the moment it knows it), so it
is the ideal the real paths are measured against. Its probes are the workload's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from harness.clients.base import Cluster, conninfo_for
from harness.runtime.docker import DockerNode

__all__ = ["DirectPath"]


class DirectPath:
    name = "direct"

    def __init__(self, cluster: Cluster, primary: str, *, connect_timeout_s: int = 2) -> None:
        self.cluster, self.primary, self.connect_timeout_s = cluster, primary, connect_timeout_s

    def write_conninfo(self) -> str:
        return conninfo_for([self.cluster.address(self.primary)], 5432, timeout_s=self.connect_timeout_s,
                            app="pgharness-direct")

    def read_conninfo(self) -> str:
        return self.write_conninfo()

    @property
    def components(self) -> Mapping[str, DockerNode]:
        return {}

    def logs(self) -> dict[str, str]:
        return {}

    def __enter__(self) -> DirectPath:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        return None
