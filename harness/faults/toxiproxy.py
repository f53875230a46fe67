"""Client-side TCP faults through Toxiproxy, where a Toxiproxy server can run.

The harness starts ``toxiproxy-server`` (found on PATH) on loopback, puts one proxy in front
of each node for the clients' path (the probes then connect through it), and adds toxics
(latency, timeout, reset_peer, bandwidth, slicer, limit_data) as faults; healing removes the
toxic. No Toxiproxy server can be installed on the machines this was built on, so this path
is kept small; its requests are tested against a stand-in of the HTTP API (see the tests),
not against a real server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from harness.errors import SetupError

if TYPE_CHECKING:
    from harness.topology.base import Topology

__all__ = ["TOXIC_TYPES", "ToxicFault", "ToxiproxyPath", "ToxiproxyServer", "server_binary"]

TOXIC_TYPES = ("latency", "timeout", "reset_peer", "bandwidth", "slicer", "limit_data", "slow_close")


def server_binary() -> str | None:
    return shutil.which("toxiproxy-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ToxiproxyServer:
    """A toxiproxy-server on loopback (started here), or an existing API at ``api_port``."""

    api_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    proxies: dict[str, str] = field(default_factory=dict)  # node → "127.0.0.1:port"

    def start(self) -> ToxiproxyServer:
        if self.api_port == 0:
            binary = server_binary()
            if binary is None:
                raise SetupError("toxiproxy-server is not on PATH: client-side TCP faults need a Toxiproxy "
                                 "server (none can be installed on these machines; the network faults of "
                                 "steps/network.py give latency, loss and bandwidth without it)")
            self.api_port = _free_port()
            self.process = subprocess.Popen([binary, "-host", "127.0.0.1", "-port", str(self.api_port)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._client().update_api_consumer("127.0.0.1", self.api_port)
        deadline = time.monotonic() + 10
        while not self._client().running():
            if time.monotonic() > deadline:
                self.stop()
                raise SetupError(f"Toxiproxy API on 127.0.0.1:{self.api_port} did not answer within 10 s")
            time.sleep(0.05)
        return self

    @staticmethod
    def _client() -> Any:  # toxiproxy-python is untyped
        from toxiproxy import Toxiproxy  # imported late: only this path needs it

        return Toxiproxy()

    def front(self, node: str, upstream: str) -> str:
        """Put a proxy in front of ``upstream`` (address:port); returns where clients connect."""
        proxy = self._client().create(upstream=upstream, name=f"pgh-{node}", listen="127.0.0.1:0")
        listen = str(proxy.listen)
        self.proxies[node] = listen
        return listen

    def add_toxic(self, node: str, toxic: str, attributes: dict[str, int], stream: str = "downstream") -> str:
        if toxic not in TOXIC_TYPES:
            raise SetupError(f"unknown toxic {toxic!r}: one of {', '.join(TOXIC_TYPES)}")
        proxy = self._client().get_proxy(f"pgh-{node}")
        if proxy is None:
            raise SetupError(f"no Toxiproxy proxy in front of {node}")
        name = f"pgh_{toxic}_{stream}"
        proxy.add_toxic(type=toxic, stream=stream, name=name, attributes=attributes)
        return name

    def remove_toxic(self, node: str, name: str) -> None:
        proxy = self._client().get_proxy(f"pgh-{node}")
        if proxy is not None:
            proxy.destroy_toxic(name)

    def stop(self) -> None:
        try:
            if self.api_port:
                self._client().destroy_all()
        except Exception:  # noqa: BLE001 - the server may already be gone
            pass
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class ToxicFault:
    """One toxic on the clients' path to a node; healing removes it."""

    one_shot = False

    def __init__(self, server: ToxiproxyServer, target: str, toxic: str, attributes: dict[str, int],
                 stream: str = "downstream") -> None:
        self.server, self.target, self.toxic, self.attributes, self.stream = server, target, toxic, attributes, stream
        self.name = f"toxic-{toxic}"
        self._toxic_name: str | None = None

    def inject(self) -> str:
        self._toxic_name = self.server.add_toxic(self.target, self.toxic, self.attributes, self.stream)
        return f"Toxiproxy {self.toxic} {self.attributes} ({self.stream}) on the clients' path to {self.target}"

    def heal(self) -> str:
        if self._toxic_name is not None:
            self.server.remove_toxic(self.target, self._toxic_name)
            self._toxic_name = None
        return f"removed the {self.toxic} toxic"


class ToxiproxyPath:
    """A client path through a Toxiproxy server on loopback: one proxy in front of every node.

    A drill part (``drill.route_clients_through_toxiproxy()`` adds it): the probes and the load
    connect to a node's proxy instead of the node; the server stops on the drill's close.
    """

    name = "toxiproxy"

    def __init__(self, server: ToxiproxyServer, topology: Topology) -> None:
        self.server = server
        self.routes = {n: server.front(n, f"{topology.address(n)}:5432") for n in topology.names}

    def endpoint(self, topology: Topology, node: str) -> str:
        return self.routes.get(node) or topology.address(node)

    def primary_endpoint(self, topology: Topology) -> tuple[str, str]:
        primary = topology.primary
        return primary, self.endpoint(topology, primary)

    def __enter__(self) -> ToxiproxyPath:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.server.stop()
