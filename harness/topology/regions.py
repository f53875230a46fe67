"""Two regions: each its own Docker network, joined by a WAN router.

::

    region east (the run's network pgh-<run>-<scope>)    region west (network pgh-<run>-<scope>-west)
      east1 (primary)  east2 (replica)  ──┐        ┌──  west1 (DR standby)
                                          └─ wan ──┘
                     router container on both networks, ip_forward on; the WAN is shaped here

Every node routes the other region's subnet through the router (``ip route`` in its network
namespace, entered from the host, again after each boot); Docker isolates its bridges from
each other, so there is no other path between the regions. The harness (the clients)
reaches each region directly over that region's bridge. Docker's DNS does not cross
networks, so nodes name each other by address, and the addresses are read again whenever a
node boots (a restarted container may get another one).

The DR standbys stream from the primary across the WAN. Latency, bandwidth and loss of the
WAN are the environment's (``regions.wan``) and steps change them (:class:`WanLink`). Every
network and container carries the run's and the scope's labels: the drill's teardown and the
reaper remove them with the rest.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import sql as psql

from harness.environment import Environment, RegionsSection
from harness.errors import CommandFailed, SetupError, UnknownTarget, WaitTimeout
from harness.history import ActionEvent, History, now
from harness.images.choose import image_for
from harness.net.measure import LinkMeasurement, ping_latency
from harness.net.netns import NetNS, RunNetwork, require_tools
from harness.net.wan import interface_of
from harness.net.wanlink import WanLink, describe_wan
from harness.recovery.failover import received_lsns
from harness.runtime.base import Runtime
from harness.runtime.docker import DockerNode, docker_node, docker_runtime
from harness.runtime.volumes import VolumeSizes
from harness.topology.pg import lsn_int, sql, sql_one
from harness.topology.roles import Roles
from harness.topology.streaming import PGDATA, StreamingCluster
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.monitor.exposure import ExposureSampler

__all__ = ["Region", "RegionCluster"]

log = logging.getLogger(__name__)
ROUTER = "wan"


@dataclass(frozen=True)
class Region:
    name: str
    network: str
    subnet: ipaddress.IPv4Network
    router_ip: str  # the router's address on this region's network: the next hop to the other
    nodes: tuple[str, ...]
    gateway: str  # the host's side of the region's bridge: where the clients come from


class RegionCluster(StreamingCluster):
    """Streaming replication across two regions: the primary's, and the DR region's standbys."""

    kind = "regions"

    def __init__(self, runtime: Runtime, env: Environment, history: History) -> None:
        super().__init__(runtime, env, history)
        if env.regions is None:
            raise SetupError("the two-region topology needs a regions: section in the environment")
        self.rspec: RegionsSection = env.regions
        a, b = self.rspec.primary, self.rspec.standby
        self.members: dict[str, list[str]] = {
            a: [f"{a}{i + 1}" for i in range(self.rspec.primary_nodes)],
            b: [f"{b}{i + 1}" for i in range(self.rspec.standby_nodes)],
        }
        self.names = self.members[a] + self.members[b]
        self.roles = Roles(self.names[0])
        self.sync = False  # cross-region sync is rspec.replication (remote_apply), set up here
        self.regions: dict[str, Region] = {}
        self.router: DockerNode | None = None
        self.wan: WanLink | None = None
        #: A node promoted in the DR region that the clients do not use yet ("repoint clients").
        self.promoted: str | None = None
        self.exposure: ExposureSampler | None = None

    # -- regions -----------------------------------------------------------------------------

    def region(self, name: str) -> Region:
        key = self.check_region(name)
        if key not in self.regions:
            raise SetupError(f"region {key!r} is not running yet")
        return self.regions[key]

    def check_region(self, name: str) -> str:
        key = name.strip().lower()
        if key not in self.members:
            raise UnknownTarget(f"no region named {name!r}: this deployment has regions "
                                f"{' and '.join(repr(r) for r in self.members)}")
        return key

    def region_of(self, node: str) -> str:
        for r, nodes in self.members.items():
            if node in nodes:
                return r
        raise UnknownTarget(f"{node!r} is in no region")

    def other_region(self, name: str) -> str:
        key = self.check_region(name)
        return next(r for r in self.members if r != key)

    def dr_region(self) -> str:
        """The region that does not hold the primary."""
        return self.other_region(self.region_of(self.primary))

    def resolve(self, role: str) -> str:
        r = re.sub(r"^the\s+", "", role.strip().lower())
        m = re.fullmatch(r"(?:dr standby|standby in (?:region )?\"?([a-z0-9]+)\"?)", r)
        if m:
            region = self.check_region(m.group(1)) if m.group(1) else self.dr_region()
            nodes = [n for n in self.members[region] if n != self.primary]
            if not nodes:
                raise UnknownTarget(f"region {region!r} has no standby: it holds the primary")
            return next((n for n in nodes if n not in self.roles.down), nodes[0])
        return super().resolve(role)

    def describe(self) -> str:
        parts = []
        for r, nodes in self.members.items():
            parts.append(f"{r} ({', '.join(n + (' primary' if n == self.primary else '') for n in nodes)})")
        wan = describe_wan(self.wan.settings) if self.wan is not None else describe_wan(self.rspec.wan)
        rep = "sync (remote_apply) across the WAN" if self.rspec.replication == "sync" else "async"
        return f"two regions: {' and '.join(parts)}; WAN: {wan}; {rep}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, timeout: float = 60) -> None:
        t0 = now()
        require_tools("nsenter", "ip")
        image = image_for(self.env)
        vol = self.env.volumes
        sizes = VolumeSizes(vol.data_mb, vol.wal_mb) if vol.enabled else None
        a, b = self.rspec.primary, self.rspec.standby
        # The primary's region is the run's own network (one network fewer from Docker's pools,
        # and the network faults of harness.faults.network work there); the DR region gets its own.
        rt = docker_runtime(self.runtime, "the two-region topology")
        nets = {a: rt.network_name, b: rt.create_network(b)}
        router = rt.create_node(ROUTER, image=image, env={"HARNESS_NODE": ROUTER, "HARNESS_ROLE": "router"},
                                          network=nets[a], command=["sleep", "infinity"])
        rt.client.networks.get(nets[b]).connect(router.container)
        router.container.reload()
        self.router = router
        rns = NetNS(router, self.runtime.run_id)
        rns.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        addrs = rns.run(["ip", "-o", "-4", "addr", "show"]).stdout
        devices = []
        for r in (a, b):
            net = rt.client.networks.get(nets[r])
            cfg = next(c for c in net.attrs["IPAM"]["Config"] if ":" not in c.get("Subnet", ":"))
            subnet = ipaddress.IPv4Network(cfg["Subnet"])
            gateway = cfg.get("Gateway") or str(next(subnet.hosts()))
            rip = router.container.attrs["NetworkSettings"]["Networks"][nets[r]]["IPAddress"]
            devices.append(interface_of(addrs, rip))
            self.regions[r] = Region(r, nets[r], subnet, rip, tuple(self.members[r]), gateway)
        self.wan = WanLink(router, self.runtime.run_id, devices)

        settings = dict(self.spec.settings)
        if sizes is not None:
            settings.setdefault("max_wal_size", f"{max(32, sizes.wal_mb // 4)}MB")
        if self.rspec.replication == "sync":
            settings["synchronous_commit"] = "remote_apply"
        extra = "\\n".join(f"{k} = '{v}'" for k, v in settings.items())

        def create(name: str, role: str, primary_host: str) -> DockerNode:
            env = {"HARNESS_NODE": name, "HARNESS_ROLE": role, "HARNESS_PRIMARY_HOST": primary_host,
                   "HARNESS_SYNC_NAMES": self._dr_sync_names() if role == "primary" else "",
                   "HARNESS_EXTRA_CONF": extra}
            node = rt.create_node(name, image=image, env=env, volumes=sizes,
                                            network=self.regions[self.region_of(name)].network)
            self._nodes[name] = node
            self.route(name)
            return node

        create(self.primary, "primary", self.primary)
        paddr = self.address(self.primary)
        rest = [n for n in self.names if n != self.primary]
        with ThreadPoolExecutor(max_workers=len(rest)) as pool:
            list(pool.map(lambda n: create(n, "replica", paddr), rest))
        try:
            self.wait_streaming(timeout=timeout)
        except Exception as exc:
            logs = "\n".join(f"--- {n}:\n{self.node_logs(n, 15)}" for n in self.names)
            raise SetupError(f"the two-region topology did not start: {exc}\n{logs}") from exc
        shaped = self.wan.shape(self.rspec.wan)
        sql(paddr, f"CREATE TABLE IF NOT EXISTS {self.env.probe.table} "
                   "(seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        # The fan-out probe's (split-brain evidence: a write to every node of both regions).
        sql(paddr, "CREATE TABLE IF NOT EXISTS probe_fanout (id bigserial PRIMARY KEY, node text NOT NULL, "
                   "seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())")
        self.started = True
        self.history.add(ActionEvent(at=t0, end=now(), action="topology.start", target=",".join(self.names),
                                     outcome="ok", detail=f"{self.describe()} (WAN shaped: {shaped})"))
        from harness.monitor.exposure import ExposureSampler

        p = self.env.probe
        self.exposure = ExposureSampler(self, self.history, table=p.table, interval_s=0.5,
                                        max_duration_s=p.max_duration_s)
        self.exposure.start()

    def _dr_sync_names(self) -> str:
        if self.rspec.replication != "sync":
            return ""
        others = self.members[self.other_region(self.region_of(self.primary))]
        return f"ANY 1 ({', '.join(others)})"

    def route(self, name: str) -> None:
        """The other region's subnet through the router, in ``name``'s (new) network namespace."""
        mine = self.regions[self.region_of(name)]
        other = self.regions[self.other_region(mine.name)]
        NetNS(docker_node(self.node(name), "routing between regions"), self.runtime.run_id).run(
            ["ip", "route", "replace", str(other.subnet), "via", mine.router_ip])

    def boot(self, name: str) -> None:
        """Start a stopped container again: its address is read anew and its route added."""
        node = self.node(name)
        if not node.is_running():
            node.start()
        self.route(name)

    def start_postgres(self, name: str) -> None:
        self.boot(name)
        super().start_postgres(name)

    def drill_parts(self) -> list[Any]:
        """The RPO exposure sampler runs as a part of the drill (closed with the others)."""
        return [self.exposure] if self.exposure is not None else []

    def release(self) -> list[str]:
        """Stop what lives outside the containers (the WAN delayer); the drill calls it on close."""
        problems = []
        if self.exposure is not None:
            self.exposure.stop()  # (a drill closed it already, and reported a crash)
        try:
            if self.wan is not None:
                self.wan.close()
        except Exception as exc:  # noqa: BLE001 - reported by the drill; teardown still runs
            problems.append(f"WAN link: {exc!r}")
        return problems

    def teardown(self) -> None:
        self.release()
        super().teardown()

    def measure_wan(self, count: int = 15) -> LinkMeasurement:
        """The median ping round trip across the WAN, from a running node of the DR region to one
        of the primary's region (the run's network: the measurement's address guard holds)."""
        a, b = self.rspec.primary, self.rspec.standby
        up = [n for n in self.members[a] if n not in self.roles.down and self.node(n).is_running()]
        src = [n for n in self.members[b] if n not in self.roles.down and self.node(n).is_running()]
        if not up or not src:
            raise SetupError(f"no running node on both sides of the WAN ({a}: {up}, {b}: {src})")
        asked = describe_wan(self.wan.settings) if self.wan is not None else ""
        return ping_latency(RunNetwork.of(docker_runtime(self.runtime, "a WAN measurement")), f"WAN {a} <-> {b}",
                            docker_node(self.node(src[0]), "a WAN measurement"),
                            self.address(up[0]), count=count, asked=asked)

    # -- recovery across regions -------------------------------------------------------------

    def conninfo_to(self, primary: str, name: str) -> str:
        return f"host={self.address(primary)} port=5432 user=postgres application_name={name}"

    def repoint(self, name: str, primary: str) -> None:
        """A running standby follows ``primary`` (by address: no DNS across regions)."""
        addr = self.address(name)
        sql(addr, "ALTER SYSTEM SET primary_conninfo = %s" % psql.quote(self.conninfo_to(primary, name)))
        sql(addr, "SELECT pg_reload_conf()")
        self.roles.streams_from(name, primary)

    def promote_in(self, region: str) -> str:
        """Promote the most advanced standby of ``region`` and repoint the region's others to it.

        The clients still use the old primary until :meth:`repoint_clients`.
        """
        t0 = now()
        key = self.check_region(region)
        candidates = [n for n in self.members[key] if n != self.primary]
        lsns = received_lsns(self, candidates)
        if not lsns:
            self.history.add(ActionEvent(at=t0, end=now(), action="dr.promote", target=key, outcome="failed",
                                         detail=f"no standby of {key} answers"))
            raise SetupError(f"cannot promote in region {key!r}: none of {', '.join(candidates)} answers")
        best = max(sorted(lsns), key=lambda n: lsn_int(lsns[n]))
        addr = self.address(best)
        sql(addr, "ALTER SYSTEM RESET synchronous_standby_names")
        sql(addr, "SELECT pg_reload_conf()")
        if not sql_one(addr, "SELECT pg_promote(true, 30)", timeout=35):
            self.history.add(ActionEvent(at=t0, end=now(), action="dr.promote", target=best, outcome="failed",
                                         detail="pg_promote returned false"))
            raise SetupError(f"promoting {best} failed")
        rest = [n for n in lsns if n != best]
        for n in rest:
            self.repoint(n, best)
        self.promoted = best
        self.history.add(ActionEvent(at=t0, end=now(), action="dr.promote", target=best, outcome="ok",
                                     detail=f"promoted {best} in {key} (received {lsns[best]})"
                                            + (f"; repointed {', '.join(rest)}" if rest else "")))
        return best

    def repoint_clients(self) -> str:
        """The service address now names the promoted node: the probes (and load) follow it."""
        if self.promoted is None:
            raise SetupError("no DR standby was promoted: nothing to repoint the clients to")
        new, self.promoted = self.promoted, None
        self.roles.promoted(new)
        return new

    def rebuild_standby(self, name: str) -> str:
        """Make ``name`` a standby of the current primary: pg_rewind, else a fresh base backup."""
        t0 = now()
        primary = self.primary
        self.boot(name)
        node = self.node(name)
        if self.postgres_running(name):
            self.pg_ctl(name, "-m", "fast", "-w", "stop")
        source = f"host={self.address(primary)} port=5432 user=postgres dbname=postgres"
        # A just-promoted primary writes its new timeline to pg_control at its next checkpoint.
        sql(self.address(primary), "CHECKPOINT", timeout=60)
        # pg_rewind recovers a crashed target in single-user mode first, which refuses a standby
        # (and without its signal file would end recovery and write WAL of its own on the old
        # timeline, a fork pg_rewind cannot see). A crashed standby is recovered as a standby
        # instead, connected to nothing, and shut down cleanly.
        state = node.exec(["pg_controldata", PGDATA]).output
        if re.search(r"Database cluster state:\s+in archive recovery", state):
            self.pg_ctl(name, "-w", "-t", "60", "-o", "-c primary_conninfo=''", "start")
            self.pg_ctl(name, "-m", "fast", "-w", "stop")
        res = node.exec(["pg_rewind", "--target-pgdata", PGDATA, "--source-server", source, "--no-sync"], timeout=300)
        how = "pg_rewind (no rewind required)" if "no rewind required" in res.output else "pg_rewind"
        if res.exit_code != 0:
            why = res.output.strip().splitlines()[-1:] or ["no output"]
            how = f"base backup (pg_rewind failed: {why[0][:200]})"
            rebuild = node.exec(["sh", "-c", f"find {PGDATA} -mindepth 1 -delete && "
                                             f"pg_basebackup --no-sync -X stream -D {PGDATA} -d '{source}'"],
                                timeout=600)
            if rebuild.exit_code != 0:
                self.history.add(ActionEvent(at=t0, end=now(), action="dr.rebuild", target=name, outcome="failed",
                                             detail=rebuild.output[-500:]))
                raise CommandFailed(name, "pg_basebackup", rebuild.exit_code, rebuild.output)
        self.configure_standby(name, primary, host=self.address(primary))  # by address: no DNS across regions
        self.pg_ctl(name, "-w", "-t", "60", "start")
        self.roles.came_back(name)
        self.history.add(ActionEvent(at=t0, end=now(), action="dr.rebuild", target=name, outcome="ok",
                                     detail=f"{how}: standby of {primary}"))
        return how

    def switch_over(self, region: str) -> str:
        """A planned switchover to ``region``: stop the primary cleanly, promote there once it
        has every byte of WAL, move the clients. No acknowledged write is lost."""
        t0 = now()
        key = self.check_region(region)
        old = self.primary
        if self.region_of(old) == key:
            raise SetupError(f"the primary ({old}) is already in region {key!r}")
        candidates = [n for n in self.members[key] if n not in self.roles.down]
        if not candidates:
            raise SetupError(f"region {key!r} has no running standby to fail back to (did it come back?)")
        self.pg_ctl(old, "-m", "fast", "-w", "stop")
        out = self.node(old).exec(["pg_controldata", PGDATA]).output
        m = re.search(r"Latest checkpoint location:\s+([0-9A-F]+/[0-9A-F]+)", out)
        if m is None:
            raise SetupError(f"cannot read {old}'s last checkpoint: {out[-300:]}")
        last = m.group(1)

        def caught_up() -> str | None:
            lsns = received_lsns(self, candidates)
            ok = [n for n in sorted(lsns) if lsn_int(lsns[n]) >= lsn_int(last)]
            return ok[0] if ok else None

        try:
            target = wait_until(caught_up, timeout=30, interval=0.05,
                                what=f"a standby of {key} to receive {old}'s last WAL ({last})")
        except WaitTimeout as exc:
            # Abort: nothing was promoted, so the old primary takes the service back.
            self.pg_ctl(old, "-w", "-t", "60", "start")
            self.history.add(ActionEvent(at=t0, end=now(), action="failback", target=key, outcome="failed",
                                         detail=f"aborted, {old} primary again: {exc}"[:500]))
            raise
        addr = self.address(target)
        if self.rspec.replication == "sync":
            names = ", ".join(self.members[self.other_region(key)])
            sql(addr, "ALTER SYSTEM SET synchronous_standby_names = %s" % psql.quote(f"ANY 1 ({names})"))
            sql(addr, "SELECT pg_reload_conf()")
        if not sql_one(addr, "SELECT pg_promote(true, 30)", timeout=35):
            raise SetupError(f"promoting {target} failed")
        self.roles.promoted(target)
        self.history.add(ActionEvent(at=t0, end=now(), action="failback", target=target, outcome="ok",
                                     detail=f"{old} stopped at {last}; {target} promoted in {key}; clients moved"))
        return target

    def follow_primary(self) -> list[str]:
        """Every other running node becomes (or stays) a standby of the current primary."""
        t0 = now()
        done = []
        for n in self.names:
            if n == self.primary or n in self.roles.down:
                continue
            if self.in_recovery(n) is True:
                self.repoint(n, self.primary)
                done.append(f"{n} repointed")
            else:
                done.append(f"{n}: {self.rebuild_standby(n)}")
        want = [n for n in self.replicas() if n not in self.roles.down]
        self.wait_streaming(timeout=60, expect=want)
        self.history.add(ActionEvent(at=t0, end=now(), action="dr.follow", target=self.primary, outcome="ok",
                                     detail="; ".join(done)))
        return done
