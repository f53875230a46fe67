"""The client-path part of a drill: where the probes and the load connect, and the ideal beside it.

It is a drill part (:mod:`harness.parts`) implementing the seam's ``ClientPath`` (harness.parts): the drill's
own write and read probes and the locust load ask it for the primary's endpoint before every
attempt, and on a real path it answers with the path's service address (a connection string)
under a fixed label, so that they follow the service the way an application does, never the
harness's view. The fan-out probe still reaches every node directly.

On a real path it also starts the ``direct`` probes beside the drill's (recorded as
``direct-write``/``direct-read``, into a table of their own), the ideal the path is measured
against, and records which path was chosen (``ClientPathChosen``) and the nodes' addresses
(``NodeAddresses``: each operation through a path names its server's address).

Which path: the steps' choice (:func:`use_client_path`), else the environment file's
``clients:``, else HAProxy on a Patroni topology (as Patroni is deployed) and direct on the
others. The path starts right before the measured window opens (``before_window``), or on first use
(a load started before the probes); a failed start is a SetupError naming the component, with its log, and
nothing of it is left running.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from harness.clients.base import ServicePath, node_addresses
from harness.clients.haproxy import HaproxyPath
from harness.clients.libpq import LibpqPath
from harness.clients.pgbouncer import PgbouncerPath, PoolSampler
from harness.clients.writes import PathWrites, path_writes
from harness.environment import ClientsSection
from harness.errors import SetupError
from harness.history import ClientPathChosen, NodeAddresses, now
from harness.runtime.docker import DockerNode, DockerRuntime
from harness.topology.pg import sql
from harness.topology.regions import RegionCluster
from harness.workload.probe import Probe, ReadProbe, WriteProbe

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.topology.base import Topology

__all__ = ["ClientsPart", "default_clients", "use_client_path"]


#: The topologies a real client path can front: PostgreSQL nodes whose primary a check can tell
#: (Patroni's REST API, or the ``in_hot_standby`` a node reports at login). On two regions
#: HAProxy's and PgBouncer's container joins both regions' networks, where Docker's DNS names
#: each region's nodes: one service address in front of both, as a global load balancer.
PATH_TOPOLOGIES = ("streaming", "patroni", "pg_auto_failover", "regions")


def region_networks(topology: Topology) -> list[str]:
    """Every region's network on two regions (the component joins them all); else none."""
    return [r.network for r in topology.regions.values()] if isinstance(topology, RegionCluster) else []


def default_clients(kind: str) -> ClientsSection:
    """Patroni is deployed behind HAProxy; every other topology keeps the ideal."""
    return ClientsSection(path="haproxy" if kind == "patroni" else "direct")


def use_client_path(drill: Drill, path: str | None = None, **settings: Any) -> ClientsPart:
    """Choose the drill's client path (before it starts); ``settings``: ClientsSection fields,
    ``haproxy=``/``pgbouncer=`` as dicts of their fields. A bad value is a SetupError naming it."""
    part = drill.maybe_part(ClientsPart)
    if part is None:
        part = drill.add_part(ClientsPart(drill))
    part.configure(path, **settings)
    return part


class ClientsPart:
    #: The result section: which writes the path sent to which server (harness.clients.writes).
    section = "client_path_writes"

    def __init__(self, drill: Drill, settings: ClientsSection | None = None) -> None:
        self.drill = drill
        self._chosen = settings  # None: decided when the path starts (environment, topology kind)
        self._settings: ClientsSection | None = None
        self.path: ServicePath | None = None
        self.sampler: PoolSampler | None = None
        self.beside: list[Probe] = []
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False

    @classmethod
    def for_drill(cls, drill: Drill) -> ClientsPart:
        return cls(drill)

    def _rule_engine(self) -> Any:
        """The harness's own rule engine, fed the pool's samples (Prometheus reads PgBouncer itself: none)."""
        from harness.monitor import Monitor

        monitor = self.drill.monitor
        return monitor.engine if isinstance(monitor, Monitor) else None

    # -- choice ------------------------------------------------------------------------------

    def configure(self, path: str | None = None, **changes: Any) -> None:
        if self._settings is not None:
            raise SetupError("the client path must be chosen before the probes start")
        from pydantic import ValidationError

        base = self._chosen or self.drill.env.clients or default_clients(self.drill.topology_kind)
        data = base.model_dump()
        if path is not None:
            data["path"] = path
        for key in ("haproxy", "pgbouncer"):
            if key in changes:
                data[key] = {**data[key], **changes.pop(key)}
        data.update(changes)
        try:
            self._chosen = ClientsSection.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise SetupError(f"clients.{where}: {first['msg']} (got {first.get('input')!r})") from None

    @property
    def settings(self) -> ClientsSection:
        if self._settings is not None:
            return self._settings
        return self._chosen or self.drill.env.clients or default_clients(self.drill.topology_kind)

    @property
    def name(self) -> str:
        return self.settings.kind

    @property
    def real(self) -> bool:
        return self.name != "direct"

    # -- the seam: where clients connect -----------------------------------------------------

    def endpoint(self, topology: Topology, node: str) -> str:
        return topology.address(node)  # a client that wants one node (the fan-out) reaches it directly

    def primary_endpoint(self, topology: Topology) -> tuple[str, str]:
        if self._settings is None or self._settings.kind != "direct":
            self._start(topology)
        if self.path is None:  # direct: the harness's own view, the ideal
            primary = topology.primary
            return primary, topology.address(primary)
        return self.name, self.path.write_conninfo()

    def read_endpoint(self, topology: Topology) -> tuple[str, str]:
        """Where the read probe goes: the path's read-only side (HAProxy's read-only listener,
        libpq ``prefer-standby``, PgBouncer's ``postgres_ro``); on ``direct``, the primary."""
        label, conninfo = self.primary_endpoint(topology)
        if self.path is None:
            return label, conninfo
        return f"{self.name}-ro", self.path.read_conninfo()

    def primary_moved(self, drill: Drill) -> None:
        """The harness moved the primary (a failover): repoint what does not follow by itself
        (PgBouncer in front of the primary), as a team's failover hook does."""
        if isinstance(self.path, PgbouncerPath):
            self.path.follow(drill.cluster)

    # -- start and stop ----------------------------------------------------------------------

    def _start(self, topology: Topology) -> None:
        with self._lock:
            if self._error is not None:
                raise SetupError(f"client path {self.name} did not start: {self._error}")
            if self._settings is not None or self._closed:
                return
            settings = self.settings
            try:
                if settings.kind != "direct":
                    self._start_path(topology, settings)
            except BaseException as exc:
                self._error = exc
                self._stack.close()
                self.path = None
                raise
            self._settings = settings

    def _start_path(self, topology: Topology, s: ClientsSection) -> None:
        if topology.kind not in PATH_TOPOLOGIES:
            raise SetupError(f"clients.path {s.kind}: not available on a {topology.kind} topology "
                             f"(the paths run on {', '.join(PATH_TOPOLOGIES)})")
        history, max_s = self.drill.history, self.drill.env.probe.max_duration_s
        path: ServicePath
        if s.kind == "libpq":
            path = LibpqPath(topology, connect_timeout_s=s.connect_timeout_s)
        else:
            runtime = topology.runtime
            if not isinstance(runtime, DockerRuntime):
                raise SetupError(f"clients.path {s.kind}: HAProxy and PgBouncer run on the Docker runtime only")
            nets = region_networks(topology)
            if s.kind == "pgbouncer":  # in front of the primary itself: the failover repoints it
                path = PgbouncerPath(runtime, None, history, s.pgbouncer, cluster=topology,
                                     connect_timeout_s=s.connect_timeout_s, settle_s=s.settle_s, max_duration_s=max_s,
                                     networks=nets)
            else:
                ha = HaproxyPath(runtime, topology, history, s.haproxy, connect_timeout_s=s.connect_timeout_s,
                                 settle_s=s.settle_s, max_duration_s=max_s, networks=nets)
                path = ha if s.kind == "haproxy" else PgbouncerPath(
                    runtime, ha, history, s.pgbouncer, connect_timeout_s=s.connect_timeout_s, settle_s=s.settle_s)
        self._stack.enter_context(path)
        self.path = path
        if isinstance(path, PgbouncerPath):
            self.sampler = PoolSampler(history, path.address(), s.pgbouncer.default_pool_size,
                                       self._rule_engine,
                                       max_duration_s=max_s)
            self.sampler.start()
        history.add(NodeAddresses(at=now(), addresses=node_addresses(topology)))
        history.add(ClientPathChosen(at=now(), path=s.kind, detail=f"write service: {path.write_conninfo()}"))
        if s.beside_direct:
            primary = topology.address(topology.primary)
            sql(primary, f"CREATE TABLE IF NOT EXISTS {self.drill.env.probe.table}_direct "
                         "(seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")

    def before_window(self, drill: Drill) -> None:
        """Start the path before the window opens: its start is no outage of the service."""
        self._start(drill.cluster)

    def probes_started(self, drill: Drill) -> None:
        """Start the path now (a failed start fails the step), then the ideal's probes beside it."""
        topology = drill.cluster
        self._start(topology)
        if self.path is None or not self.settings.beside_direct or self.beside:
            return
        p = drill.env.probe

        def ideal() -> tuple[str, str] | None:
            try:
                primary = topology.primary
                return primary, topology.address(primary)
            except Exception:  # noqa: BLE001 - a node that is down has no address; the attempt fails
                return None

        for kind in (WriteProbe, ReadProbe):
            probe = kind(drill.history, ideal, table=f"{p.table}_direct", interval_s=p.interval_ms / 1000,
                         timeout_s=p.timeout_ms / 1000, max_duration_s=p.max_duration_s)
            probe.path, probe.beside = "direct", True
            probe.start()
            self.beside.append(probe)

    def window_ending(self, drill: Drill) -> None:
        for probe in self.beside:
            probe.stop()
        if self.path is not None and drill.topology_started:
            drill.history.add(NodeAddresses(at=now(), addresses=node_addresses(drill.cluster)))

    def component(self, name: str) -> DockerNode:
        comps = self.path.components if self.path is not None else {}
        if name not in comps:
            raise SetupError(f"this drill's client path ({self.name}) has no {name}"
                             + (f" (it runs {', '.join(comps)})" if comps else ""))
        return comps[name]

    def component_addresses(self, network: str) -> list[str]:
        """The path's own containers' addresses on ``network`` (a region's): the clients a region
        cut off from the clients must drop as well."""
        nodes = self.path.components.values() if self.path is not None else []
        return [ip for node in nodes if (ip := node.address_on(network)) is not None]

    def service_conninfo(self) -> str:
        if self.path is None:
            raise SetupError(f"the client path {self.name} runs no service")
        return self.path.write_conninfo()

    # -- the part ----------------------------------------------------------------------------

    def result_section(self) -> PathWrites | None:
        """Per server, the acknowledged writes the path sent there (a real path, after a fault)."""
        if self._settings is None or self._settings.kind == "direct":
            return None
        return path_writes(self.drill.history.events())

    def __enter__(self) -> ClientsPart:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close(self.drill.directory)

    def close(self, directory: Path) -> None:
        with self._lock:
            self._closed = True
        for probe in self.beside:
            probe.stop()
        if self.sampler is not None:
            self.sampler.stop()
        if self.path is not None:
            logs = directory / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            for name, text in self.path.logs().items():
                (logs / f"{name}.log").write_text(text)
        self._stack.close()
        self.path = None
