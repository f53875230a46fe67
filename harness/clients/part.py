"""The client-path part of a drill: the path, its probes, its samplers, its faults' targets.

The drill asks it for the write and read probes (through the path), starts the ``direct``
probes beside them (the ideal, writing to a table of their own so that both keep their
sequence numbers), and closes it before the runtime is removed (logs saved, containers
gone). For ``direct`` it makes nothing: the drill's own probes are the path.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.clients.base import ClientPath, Cluster, node_addresses
from harness.clients.haproxy import HaproxyPath
from harness.clients.libpq import LibpqPath
from harness.clients.pgbouncer import PgbouncerPath, PoolSampler
from harness.clients.probes import PathReadProbe, PathWriteProbe
from harness.environment import ClientsSection
from harness.errors import SetupError
from harness.history import History
from harness.monitor.rules import RuleEngine
from harness.runtime.docker import DockerNode, DockerRuntime
from harness.topology.pg import sql
from harness.workload.probe import Endpoint, Probe, ReadProbe, WriteProbe

__all__ = ["ClientsPart", "default_clients"]


def default_clients(kind: str) -> ClientsSection:
    """Patroni is deployed behind HAProxy; every other topology keeps the ideal."""
    return ClientsSection(path="haproxy" if kind == "patroni" else "direct")


class ClientsPart:
    def __init__(self, settings: ClientsSection, runtime: DockerRuntime, cluster: Cluster, history: History,
                 *, table: str, max_duration_s: float) -> None:
        self.settings, self.runtime, self.cluster, self.history = settings, runtime, cluster, history
        self.name = settings.kind
        self.table, self.max_duration_s = table, max_duration_s
        self.path: ClientPath | None = None
        self.sampler: PoolSampler | None = None
        self.beside: list[Probe] = []
        self._stack = ExitStack()
        self._addresses: dict[str, str] = {}

    @property
    def real(self) -> bool:
        return self.name != "direct"

    def start(self, engine: Callable[[], RuleEngine | None]) -> None:
        if not self.real or self.path is not None:
            return
        if self.cluster.kind not in ("streaming", "patroni"):
            raise SetupError(f"clients.path {self.name}: supported on the streaming and Patroni topologies only")
        s = self.settings
        path: ClientPath
        if self.name == "libpq":
            path = LibpqPath(self.cluster, connect_timeout_s=s.connect_timeout_s)
        else:
            ha = HaproxyPath(self.runtime, self.cluster, self.history, s.haproxy, connect_timeout_s=s.connect_timeout_s,
                             settle_s=s.settle_s, max_duration_s=self.max_duration_s)
            path = ha if self.name == "haproxy" else PgbouncerPath(
                self.runtime, ha, self.history, s.pgbouncer, connect_timeout_s=s.connect_timeout_s, settle_s=s.settle_s)
        self._stack.enter_context(path)
        self.path = path
        if isinstance(path, PgbouncerPath):
            self.sampler = PoolSampler(self.history, path.address(), s.pgbouncer.default_pool_size, engine,
                                       max_duration_s=self.max_duration_s)
            self.sampler.start()
        self._addresses = node_addresses(self.cluster)
        if s.beside_direct:
            primary = self._node_address(self.cluster.primary)
            sql(primary, f"CREATE TABLE IF NOT EXISTS {self.table}_direct "
                         "(seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")

    def _node_address(self, name: str) -> str:
        return self.cluster.address(name)

    def node_of(self, address: str) -> str | None:
        if address not in self._addresses:
            self._addresses = node_addresses(self.cluster)
        return self._addresses.get(address)

    def _budget(self) -> float:
        return self.path.attempt_budget_s() if isinstance(self.path, LibpqPath) else 0.0

    def probes(self, kw: dict[str, Any], *, reads: bool) -> tuple[WriteProbe, ReadProbe | None]:
        """The write probe (and read probe) through the path."""
        assert self.path is not None
        path = self.path
        w = PathWriteProbe(self.history, self.name, path.write_conninfo, self.node_of,
                           connect_budget_s=self._budget(), **kw)
        r = PathReadProbe(self.history, self.name, path.read_conninfo, self.node_of,
                          connect_budget_s=self._budget(), **kw) if reads else None
        return w, r

    def start_beside(self, endpoint: Endpoint, kw: dict[str, Any], *, reads: bool) -> None:
        """The ideal's probes beside the path's, recorded under the path ``direct``."""
        if not self.settings.beside_direct or self.beside:
            return
        kinds: list[type[Probe]] = [WriteProbe, ReadProbe] if reads else [WriteProbe]
        for kind in kinds:
            probe = kind(self.history, endpoint, **{**kw, "table": f"{self.table}_direct"})
            probe.path = "direct"
            probe.start()
            self.beside.append(probe)

    def stop_probes(self) -> None:
        for probe in self.beside:
            probe.stop()

    def load_conninfo(self) -> str:
        assert self.path is not None
        return self.path.write_conninfo()

    def component(self, name: str) -> DockerNode:
        comps = self.path.components if self.path is not None else {}
        if name not in comps:
            raise SetupError(f"this drill's client path ({self.name}) has no {name}"
                             f"{' (it runs ' + ', '.join(comps) + ')' if comps else ''}")
        return comps[name]

    def close(self, directory: Path) -> list[str]:
        problems: list[str] = []
        self.stop_probes()
        if self.sampler is not None:
            self.sampler.stop()
        if self.path is not None:
            logs = directory / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            for name, text in self.path.logs().items():
                (logs / f"{name}.log").write_text(text)
        try:
            self._stack.close()
        except Exception as exc:  # noqa: BLE001 - the runtime's teardown removes the rest
            problems.append(f"client path {self.name}: {exc!r}")
        self.path = None
        return problems
