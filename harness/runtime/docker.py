"""The Docker runtime: nodes are containers on a user-defined network made for the run.

Everything carries the owner and run labels (see :mod:`harness.labels`); ``reap`` removes
the resources of runs whose harness process is gone, so a crashed or Ctrl-C'd run is
cleaned on the next start. The guard refuses to act on a container without our labels.
A node's loop-mounted data and WAL volumes (:mod:`harness.runtime.volumes`) are found by the
state files beside them instead of labels, and removed after the containers that use them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors
from docker.models.containers import Container

from harness import labels
from harness.errors import ForeignResource, SetupError
from harness.runtime.base import ExecResult, ReapReport
from harness.runtime.docker_client import docker_client
from harness.runtime.hostdirs import reap_host_dirs
from harness.runtime.volumes import (
    CONTAINER_PATHS,
    Kind,
    LoopVolume,
    VolumeSizes,
    create_node_volumes,
    reap_volumes,
    remove_volume,
    remove_volumes,
)

__all__ = ["DockerNode", "DockerRuntime", "docker_node", "docker_runtime", "reap"]

log = logging.getLogger(__name__)


def _guard(container: Container) -> None:
    if container.labels.get(labels.OWNER) != "pgharness":
        raise ForeignResource(f"refusing to act on container {container.name}: it was not made by the harness")


class DockerNode:
    """A container running the node image (tini as PID 1, PostgreSQL under it)."""

    def __init__(self, container: Container, name: str, network: str,
                 volumes: Mapping[Kind, LoopVolume] | None = None) -> None:
        _guard(container)
        self._c = container
        self.name = name
        self.hostname = name
        self._network = network
        self._address: str | None = None
        # Killed or stopped by the harness: Docker may give its address to the next container
        # created, so until it starts again it has none (a probe must not reach another node).
        self._stopped = False
        #: Its loop-mounted data and WAL filesystems (empty when the environment has none).
        self.volumes: dict[Kind, LoopVolume] = dict(volumes or {})

    @property
    def container(self) -> Container:
        return self._c

    def address_on(self, network: str) -> str | None:
        """The container's address on ``network`` now (None: not on it, or not running)."""
        self._c.reload()
        return self._c.attrs["NetworkSettings"]["Networks"].get(network, {}).get("IPAddress") or None

    def _refresh(self) -> None:
        self._address = self.address_on(self._network)

    def address(self) -> str:
        if self._stopped:
            raise SetupError(f"node {self.name} is not running (killed or stopped): it has no address")
        if not self._address:
            self._refresh()
        if not self._address:
            raise SetupError(f"node {self.name} has no address (is it running?)")
        return self._address

    def is_running(self) -> bool:
        try:
            self._c.reload()
        except docker.errors.NotFound:
            return False
        return bool(self._c.status == "running" and not self._c.attrs["State"].get("Paused"))

    def start(self) -> None:
        self._c.start()
        self._stopped = False
        self._refresh()

    def stop(self, timeout: float = 10) -> None:
        self._stopped = True
        self._address = None
        self._c.stop(timeout=int(timeout))

    def kill(self) -> None:
        self._stopped = True
        self._address = None
        self._c.kill()

    def pause(self) -> None:
        # The cgroup freezer gives up ("unable to freeze") when a process forks while it freezes
        # (pg_autoctl's keeper runs pg_ctl and friends every second): try again, a few times.
        for attempt in range(5):
            try:
                self._c.pause()
                return
            except docker.errors.APIError as exc:
                if "unable to freeze" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.1)

    def resume(self) -> None:
        self._c.unpause()

    def pid(self) -> int:
        self._c.reload()
        return int(self._c.attrs["State"]["Pid"])

    def exec(self, cmd: Sequence[str], *, user: str = "postgres", timeout: float = 60) -> ExecResult:
        # The timeout is enforced inside the node so a hung command cannot hang the harness.
        full = ["timeout", "--kill-after=2", str(int(max(1, timeout))), *cmd]
        res = self._c.exec_run(full, user=user, demux=False, environment={"PGDATA": "/var/lib/postgresql/data"})
        out = res.output.decode(errors="replace") if isinstance(res.output, bytes) else str(res.output or "")
        return ExecResult(int(res.exit_code if res.exit_code is not None else -1), out)

    def exec_detached(self, cmd: Sequence[str], *, user: str = "postgres") -> None:
        _guard(self.container)
        self.container.exec_run(list(cmd), user=user, detach=True)

    def logs(self, tail: int = 200) -> str:
        parts = []
        res = self.exec(["tail", "-n", str(tail), "/var/log/postgresql/postgresql.log"], user="root", timeout=5) if self.is_running() else None
        if res is not None and res.exit_code == 0:
            parts.append(res.output)
        try:
            parts.append(self._c.logs(tail=tail).decode(errors="replace"))
        except docker.errors.APIError:
            pass
        return "".join(parts)


class DockerRuntime:
    """Creates the run's network and containers; ``teardown`` removes them all."""

    name = "docker"

    def __init__(self, run_id: str, scope: str = "main", *, extra_binds: Mapping[str, str] | None = None) -> None:
        """``scope`` separates the topologies of one run (one per scenario); ``extra_binds``:
        host folder -> path, bind-mounted read-write into every node (a backup repository)."""
        self.run_id = run_id
        self.scope = scope
        self.extra_binds = dict(extra_binds or {})
        self.client = docker_client()
        # Leftovers of runs whose harness process died are removed before we add our own.
        reap(self.client)
        self.network_name = f"pgh-{run_id}-{scope}"
        self._labels = labels.owner_labels(run_id, "network") | {labels.SCOPE: scope}
        self._network = self.client.networks.create(
            self.network_name, driver="bridge", labels=self._labels, check_duplicate=True
        )
        self._nodes: dict[str, DockerNode] = {}

    @classmethod
    def attach(cls, run_id: str, scope: str) -> DockerRuntime:
        """The runtime of a topology made by an earlier process (`harness up`), found by label."""
        self = cls.__new__(cls)
        self.run_id, self.scope = run_id, scope
        self.extra_binds = {}
        self.client = docker_client()
        self.network_name = f"pgh-{run_id}-{scope}"
        self._labels = labels.owner_labels(run_id, "network") | {labels.SCOPE: scope}
        try:
            self._network = self.client.networks.get(self.network_name)
        except docker.errors.NotFound:
            raise SetupError(f"no topology {run_id}/{scope} is running (its network is gone)") from None
        self._nodes = {}
        flt = {"label": [f"{labels.OWNER}=pgharness", f"{labels.RUN}={run_id}", f"{labels.SCOPE}={scope}"]}
        for c in self.client.containers.list(all=True, filters=flt):
            name = c.labels.get(labels.NODE, "")
            self._nodes[name] = DockerNode(c, name, self.network_name)
        return self

    def container_name(self, name: str) -> str:
        return f"pgh-{self.run_id}-{self.scope}-{name}"

    def create_network(self, suffix: str) -> str:
        """Another network of this run and scope (a region), labelled and removed with the rest."""
        name = f"{self.network_name}-{suffix}"
        self.client.networks.create(name, driver="bridge", labels=self._labels, check_duplicate=True)
        return name

    def create_node(self, name: str, *, image: str, env: Mapping[str, str],
                    volumes: VolumeSizes | None = None, network: str | None = None,
                    command: Sequence[str] | None = None, more_networks: Sequence[str] = ()) -> DockerNode:
        """Create and boot a node; with ``volumes``, its PGDATA and WAL on their own filesystems.

        ``network``: one made by :meth:`create_network` instead of the run's; ``command``:
        instead of the image's (a node that runs no PostgreSQL, such as a WAN router);
        ``more_networks``: joined too before it boots (its name resolves there as well).
        """
        net_name = network or self.network_name
        lab = labels.owner_labels(self.run_id, "node") | {labels.NODE: name, labels.SCOPE: self.scope}
        vols: dict[Kind, LoopVolume] = {}
        binds: dict[str, dict[str, str]] = {}
        env = dict(env)
        if volumes is not None:
            vols = create_node_volumes(self.run_id, self.scope, name, volumes)
            binds = {str(v.bind_source): {"bind": v.container_path, "mode": "rw"} for v in vols.values()}
            env["HARNESS_WAL_DIR"] = CONTAINER_PATHS["wal"]  # tells node-init to fill the volumes
        binds |= {host: {"bind": path, "mode": "rw"} for host, path in self.extra_binds.items()}
        try:
            c = self.client.containers.create(
                image,
                name=self.container_name(name),
                hostname=name,
                labels=lab,
                environment=env,
                volumes=binds,
                init=True,
                detach=True,
                network=net_name,
                networking_config={
                    net_name: self.client.api.create_endpoint_config(aliases=[name]),
                },
                command=list(command) if command is not None else None,
                # Needed later for nftables and tc inside the node's own namespace.
                cap_add=["NET_ADMIN"],
                # Neighbours that do not answer yet (a peer container still starting) are asked
                # again after 100 ms instead of 1 s: first contacts between new nodes are quick.
                sysctls={"net.ipv4.neigh.eth0.retrans_time_ms": "100"},
                shm_size="128m",
            )
            for extra in more_networks:
                if extra != net_name:
                    self.client.networks.get(extra).connect(c, aliases=[name])
            c.start()
        except BaseException as exc:
            # A failed start removes what it made: the container, if any, then its volumes.
            self._drop_container(name)
            for v in vols.values():
                try:
                    remove_volume(v)
                except Exception:  # the start's error matters more; the reaper retries
                    log.exception("could not remove volume %s", v.image)
            if isinstance(exc, docker.errors.ImageNotFound):
                raise SetupError(f"node image {image} is missing: run `harness images build`") from exc
            raise
        node = DockerNode(c, name, net_name, vols)
        self._nodes[name] = node
        return node

    def _drop_container(self, name: str) -> None:
        try:
            self.client.containers.get(self.container_name(name)).remove(force=True, v=True)
        except docker.errors.APIError:  # NotFound included: nothing was made
            pass

    def create_nodes(self, specs: Sequence[tuple[str, str, Mapping[str, str]]], *,
                     volumes: VolumeSizes | None = None) -> list[DockerNode]:
        with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
            return list(pool.map(lambda s: self.create_node(s[0], image=s[1], env=s[2], volumes=volumes), specs))

    def nodes(self) -> list[DockerNode]:
        return list(self._nodes.values())

    def node(self, name: str) -> DockerNode:
        return self._nodes[name]

    def teardown(self) -> None:
        remove_run(self.client, self.run_id, self.scope)
        self._nodes.clear()

    def reap(self, *, everything: bool = False) -> ReapReport:
        return reap(self.client, everything=everything)


def _remove_containers(containers: list[Container]) -> int:
    def rm(c: Container) -> int:
        try:
            c.remove(force=True, v=True)
            return 1
        except docker.errors.NotFound:
            return 0
        except docker.errors.APIError as exc:
            log.warning("could not remove container %s: %s", c.name, exc)
            return 0

    if not containers:
        return 0
    with ThreadPoolExecutor(max_workers=min(8, len(containers))) as pool:
        return sum(pool.map(rm, containers))


def remove_run(client: docker.DockerClient, run_id: str, scope: str | None = None) -> ReapReport:
    want = [f"{labels.OWNER}=pgharness", f"{labels.RUN}={run_id}"]
    if scope is not None:
        want.append(f"{labels.SCOPE}={scope}")
    flt = {"label": want}
    n_c = _remove_containers(client.containers.list(all=True, filters=flt, sparse=True))
    # After the containers: a volume is unmounted and detached once nothing uses it.
    n_loop = remove_volumes(run_id, scope)
    n_n = 0
    for net in client.networks.list(filters=flt):
        try:
            net.remove()
            n_n += 1
        except docker.errors.APIError as exc:
            log.warning("could not remove network %s: %s", net.name, exc)
    n_v = 0
    for vol in client.volumes.list(filters=flt):
        try:
            vol.remove(force=True)
            n_v += 1
        except docker.errors.APIError as exc:
            log.warning("could not remove volume %s: %s", vol.name, exc)
    return ReapReport(n_c, n_n, n_v + n_loop)


def reap(client: docker.DockerClient | None = None, *, everything: bool = False) -> ReapReport:
    """Remove what earlier runs left: all of it with ``everything``, else only dead runs'."""
    client = client or docker_client()
    flt = {"label": f"{labels.OWNER}=pgharness"}
    runs: dict[str, str | None] = {}
    # Sparse listing: no inspect per container, so one removed meanwhile by another harness
    # process (its own teardown) cannot fail this one.
    for c in client.containers.list(all=True, filters=flt, sparse=True):
        lab = c.attrs.get("Labels") or {}
        runs[lab.get(labels.RUN, "")] = lab.get(labels.PID)
    for n in client.networks.list(filters=flt):
        runs.setdefault(n.attrs.get("Labels", {}).get(labels.RUN, ""), n.attrs.get("Labels", {}).get(labels.PID))
    total = ReapReport(0, 0, 0)
    t0 = time.monotonic()
    for run_id, pid in runs.items():
        if everything or (not labels.process_alive(pid) and not labels.is_kept(run_id)):
            r = remove_run(client, run_id)
            total = ReapReport(total.containers + r.containers, total.networks + r.networks, total.volumes + r.volumes)
    # Loop volumes of dead runs whose containers are already gone (their state files say whose).
    total = ReapReport(total.containers, total.networks, total.volumes + reap_volumes(everything=everything))
    # Host folders of dead runs (backup repositories mounted into their nodes) go the same way.
    total = ReapReport(total.containers, total.networks, total.volumes + reap_host_dirs(everything=everything))
    if everything:
        for run_id in labels.kept_runs():
            labels.unkeep(run_id)
    if total.total:
        log.info("reaped %d leftover resources in %.2f s", total.total, time.monotonic() - t0)
    return total


def docker_runtime(runtime: object, what: str) -> DockerRuntime:
    """``runtime`` as the Docker runtime, for what only Docker offers (networks, namespaces)."""
    if not isinstance(runtime, DockerRuntime):
        raise SetupError(f"{what} needs the docker runtime, not {getattr(runtime, 'name', type(runtime).__name__)!r}")
    return runtime


def docker_node(node: object, what: str) -> DockerNode:
    """``node`` as a container, for what only a container offers (its namespaces, its pid)."""
    if not isinstance(node, DockerNode):
        raise SetupError(f"{what} needs a Docker container, not {node!r}")
    return node
