"""The ``haproxy`` path: HAProxy in its own container, a read-write and a read-only listener.

On Patroni the health checks are Patroni's REST API (``GET /primary`` and ``/replica`` on
8008, as Patroni is deployed). On streaming replication HAProxy opens a PostgreSQL session
itself (``tcp-check``: a startup packet) and reads the ``in_hot_standby`` parameter every
server reports at login (PostgreSQL 14 and later): ``off`` is a primary, ``on`` a standby.
``pgsql-check`` would not do: it only says that a server answers, not in which role.

What it adds to an outage: a dead or demoted primary stays in the read-write pool until
``fall`` checks ``inter`` apart failed, and the new one joins after ``rise`` passed checks.
``on-marked-down shutdown-sessions`` cuts the sessions to a server marked down, as
Patroni's own example configuration does.
"""

from __future__ import annotations

import csv
import io
import struct
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from types import TracebackType

import psycopg

from harness.clients.base import Cluster, conninfo_for
from harness.clients.components import component_log, remove_component, start_component
from harness.environment import HaproxySettings
from harness.history import History
from harness.runtime.docker import DockerNode, DockerRuntime

__all__ = ["RO_PORT", "RW_PORT", "STATS_PORT", "HaproxyPath", "haproxy_config", "server_states"]

RW_PORT = 5000
RO_PORT = 5001
STATS_PORT = 7000
PATRONI_REST = 8008


def _startup_packet(app: str = "haproxy-check") -> str:
    """A PostgreSQL v3 startup packet (hex) for user and database postgres."""
    body = struct.pack("!I", 196608) + b"user\0postgres\0database\0postgres\0application_name\0" + app.encode() + b"\0\0"
    return (struct.pack("!I", len(body) + 4) + body).hex()


def _role_check(standby: bool) -> list[str]:
    wanted = b"in_hot_standby\0" + (b"on" if standby else b"off") + b"\0"
    return [
        "option tcp-check",
        "tcp-check connect",
        f"tcp-check send-binary {_startup_packet()}",
        f"tcp-check expect binary {wanted.hex()}",
        "tcp-check send-binary 5800000004",  # Terminate: a clean logout, no noise in the log
    ]


def _patroni_check(endpoint: str) -> list[str]:
    return [f"option httpchk GET /{endpoint}", "http-check expect status 200"]


def haproxy_config(kind: str, names: list[str], s: HaproxySettings) -> str:
    """haproxy.cfg for a topology of ``kind`` over ``names``: on Patroni the checks ask its REST
    API, on any other (streaming, pg_auto_failover) the ``in_hot_standby`` each node reports at login."""
    patroni = kind == "patroni"
    check_port = f" port {PATRONI_REST}" if patroni else ""
    server_opts = (f"check{check_port} inter {s.inter_ms}ms fall {s.fall} rise {s.rise} "
                   f"on-marked-down shutdown-sessions resolvers docker init-addr last,libc,none")
    out = [
        "global",
        "    maxconn 2000",
        "    log stdout format raw local0 info",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    option log-health-checks",
        "    retries 1",
        f"    timeout connect {s.timeout_connect_ms}ms",
        "    timeout client 30m",
        "    timeout server 30m",
        f"    timeout check {s.timeout_check_ms}ms",
        "resolvers docker",
        "    nameserver dns 127.0.0.11:53",
        "    resolve_retries 2",
        "    timeout resolve 500ms",
        "    timeout retry 500ms",
        # A node started again may have a new address: picked up within a second. But Docker
        # drops a killed container's name from its DNS at once, which no real dead host does:
        # the last address is kept, so that the checks, not the DNS, find the server down.
        "    hold valid 1s",
        "    hold nx 1h",
        "    hold obsolete 1h",
        "    hold refused 1h",
        "    hold timeout 1h",
        "    hold other 1h",
        "listen stats",
        "    mode http",
        f"    bind *:{STATS_PORT}",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 1s",
    ]
    for listener, port, standby in (("rw", RW_PORT, False), ("ro", RO_PORT, True)):
        out += [f"listen {listener}", f"    bind *:{port}",
                "    balance first" if not standby else "    balance roundrobin"]
        checks = _patroni_check("replica" if standby else "primary") if patroni else _role_check(standby)
        out += [f"    {c}" for c in checks]
        out += [f"    server {n} {n}:5432 {server_opts}" for n in names]
    return "\n".join(out) + "\n"


def all_checked(address: str) -> bool:
    """Every server has had a health check (HAProxy counts a server up until its first check)."""
    return all(not st.startswith("UP") or "checked" in st for servers in server_states(address, checked=True).values()
               for st in servers.values())


def server_states(address: str, timeout: float = 0.5, *, checked: bool = False) -> dict[str, dict[str, str]]:
    """HAProxy's view, from its stats page: listener -> server -> status (UP, DOWN, ...);
    with ``checked``, " checked" is added to a status whose server has had a check."""
    with urllib.request.urlopen(f"http://{address}:{STATS_PORT}/;csv", timeout=timeout) as resp:  # noqa: S310 - our container
        text = resp.read().decode()
    out: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
        px, sv = row.get("pxname", ""), row.get("svname", "")
        if px in ("rw", "ro") and sv not in ("FRONTEND", "BACKEND"):
            status = row.get("status", "")
            if checked and "INI" not in row.get("check_status", "INI"):  # "* INI": the first one still runs
                status += " checked"
            out.setdefault(px, {})[sv] = status
    return out


class HaproxyView:
    """Notes every change of HAProxy's view (which servers are up in which listener)."""

    def __init__(self, history: History, address: str, *, interval_s: float = 0.2,
                 max_duration_s: float = 3600) -> None:
        self.history, self.address = history, address
        self.interval_s, self.max_duration_s = interval_s, max_duration_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: dict[str, list[str]] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="haproxy-view", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import time

        t0 = time.monotonic()
        while not self._stop.wait(self.interval_s) and time.monotonic() - t0 < self.max_duration_s:
            try:
                states = server_states(self.address)
            except Exception:  # noqa: BLE001 - HAProxy down (a fault): nothing to see
                continue
            up = {px: sorted(n for n, st in servers.items() if st.startswith("UP")) for px, servers in states.items()}
            if up != self.last:
                self.last = up
                self.history.note("haproxy.view", f"read-write to {', '.join(up.get('rw', [])) or 'nobody'}; "
                                                  f"read-only to {', '.join(up.get('ro', [])) or 'nobody'}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class HaproxyPath:
    name = "haproxy"

    def __init__(self, runtime: DockerRuntime, cluster: Cluster, history: History, settings: HaproxySettings, *,
                 connect_timeout_s: int = 2, settle_s: float = 30, max_duration_s: float = 3600,
                 networks: Sequence[str] = ()) -> None:
        self.runtime, self.cluster, self.history, self.settings = runtime, cluster, history, settings
        self.networks = tuple(networks)  # more networks to join (two regions: the other one's)
        self.connect_timeout_s, self.settle_s, self.max_duration_s = connect_timeout_s, settle_s, max_duration_s
        self.node: DockerNode | None = None
        self.view: HaproxyView | None = None
        self.config = haproxy_config(cluster.kind, list(cluster.names), settings)

    def address(self) -> str:
        assert self.node is not None, "HAProxy is not started"
        return self.node.address()

    def write_conninfo(self) -> str:
        return conninfo_for([self.address()], RW_PORT, timeout_s=self.connect_timeout_s, app="pgharness-haproxy")

    def read_conninfo(self) -> str:
        return conninfo_for([self.address()], RO_PORT, timeout_s=self.connect_timeout_s, app="pgharness-haproxy")

    def _writable(self, node: DockerNode) -> bool:
        if not all_checked(node.address()):
            return False
        info = conninfo_for([node.address()], RW_PORT, timeout_s=self.connect_timeout_s, app="pgharness-check")
        with psycopg.connect(info, autocommit=True) as conn:
            row = conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()
            return bool(row and row[0])

    @property
    def components(self) -> Mapping[str, DockerNode]:
        return {"haproxy": self.node} if self.node is not None else {}

    def logs(self) -> dict[str, str]:
        return {"haproxy": component_log(self.node, 400)} if self.node is not None else {}

    def __enter__(self) -> HaproxyPath:
        self.node = start_component(self.runtime, "haproxy", self.config, ready=self._writable,
                                    settle_s=self.settle_s, what="send a write to a primary", networks=self.networks)
        self.view = HaproxyView(self.history, self.address(), max_duration_s=self.max_duration_s)
        self.view.start()
        self.history.note("client_path", f"haproxy at {self.address()}: read-write :{RW_PORT}, read-only :{RO_PORT}; "
                                         f"checks every {self.settings.inter_ms} ms, fall {self.settings.fall}, "
                                         f"rise {self.settings.rise}")
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self.view is not None:
            self.view.stop()
        if self.node is not None:
            remove_component(self.node)
