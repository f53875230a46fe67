"""Run host tools (nft, tc, iptables) inside a node's network namespace, with guards.

The harness enters a container's network namespace from the host with
``nsenter -t PID -n``: the node image needs none of the tools, and Docker's exec is not
in the way. Two guards keep this to the run's own machines:

- :class:`NetNS` only wraps a :class:`DockerNode` (which already refuses containers without
  the harness's owner label) whose run label is this run's;
- :class:`RunNetwork` knows the run's docker network (subnet and gateway, from its IPAM
  config) and refuses any address outside it, so no rule or measurement ever names a
  foreign host.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import docker.errors

from harness import labels
from harness.errors import CommandFailed, ForeignResource, SetupError
from harness.runtime.base import Node, Runtime
from harness.runtime.docker import DockerNode, docker_node, docker_runtime

__all__ = ["NetNS", "NodeDown", "RunNetwork", "require_tools"]

_TOOLS = {"nsenter": "util-linux", "nft": "nftables", "tc": "iproute2", "iptables-legacy": "iptables"}


class NodeDown(SetupError):
    """The node's container is not running: it has no network namespace to act in."""


def require_tools(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None:
            raise SetupError(f"`{name}` is not installed on this host (Debian package {_TOOLS.get(name, name)}; "
                             "scripts/setup installs it with docker.io)")


@dataclass(frozen=True)
class RunNetwork:
    """The run's docker network: only addresses inside it may appear in a rule or be contacted."""

    name: str
    subnet: ipaddress.IPv4Network
    gateway: str  # the host side of the bridge: where the harness's own connections come from

    @classmethod
    def of(cls, runtime: Runtime) -> RunNetwork:
        runtime = docker_runtime(runtime, "the run's network")
        try:
            net = runtime.client.networks.get(runtime.network_name)
        except docker.errors.NotFound as exc:
            raise SetupError(f"the run's network {runtime.network_name} is gone") from exc
        if net.attrs.get("Labels", {}).get(labels.OWNER) != "pgharness":
            raise ForeignResource(f"refusing network {runtime.network_name}: not made by the harness")
        for cfg in net.attrs.get("IPAM", {}).get("Config") or []:
            subnet = cfg.get("Subnet", "")
            if subnet and ":" not in subnet:
                gw = cfg.get("Gateway") or str(next(ipaddress.IPv4Network(subnet).hosts()))
                return cls(runtime.network_name, ipaddress.IPv4Network(subnet), gw)
        raise SetupError(f"the network {runtime.network_name} has no IPv4 subnet in its IPAM config")

    def check(self, address: str) -> str:
        """Return ``address`` if it belongs to this network; refuse anything else."""
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError as exc:
            raise ForeignResource(f"not an IPv4 address: {address!r}") from exc
        if ip not in self.subnet:
            raise ForeignResource(f"{address} is outside the run's network {self.name} ({self.subnet})")
        return address


class NetNS:
    """One node's network namespace, entered from the host."""

    def __init__(self, node: Node, run_id: str) -> None:
        node = docker_node(node, "entering a node's network namespace")
        got = node.container.labels.get(labels.RUN)
        if got != run_id:
            raise ForeignResource(f"refusing {node.container.name}: it belongs to run {got!r}, not {run_id!r}")
        self.node: DockerNode = node
        self.name = node.name

    def pid(self) -> int:
        if not self.node.is_running():
            raise NodeDown(f"{self.name} is not running")
        pid = self.node.pid()
        if pid <= 0:
            raise NodeDown(f"{self.name} has no process")
        return pid

    def argv(self, cmd: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid()), "-n", "--", *cmd]

    def run(self, cmd: Sequence[str], *, stdin: str | None = None, timeout: float = 15,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = self.argv(cmd)
        try:
            res = subprocess.run(argv, check=False, input=stdin, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CommandFailed(self.name, " ".join(cmd), -1, f"timed out after {timeout:g} s") from exc
        if check and res.returncode != 0:
            raise CommandFailed(self.name, " ".join(cmd), res.returncode, res.stdout + res.stderr)
        return res

    def nft(self, script: str) -> None:
        """Apply an ``nft -f`` script (atomic: all of it or nothing)."""
        self.run(["nft", "-f", "-"], stdin=script)

    def delete_table(self, family: str, table: str) -> bool:
        """Delete one of our tables; False when it was not there (already healed, or node restarted)."""
        if not table.startswith("pgharness_"):
            raise ForeignResource(f"refusing to delete table {family} {table}: not the harness's")
        res = self.run(["nft", "delete", "table", family, table], check=False)
        if res.returncode == 0:
            return True
        if "No such file or directory" in res.stderr:
            return False
        raise CommandFailed(self.name, f"nft delete table {family} {table}", res.returncode, res.stderr)

    def tables(self) -> list[str]:
        res = self.run(["nft", "list", "tables"])
        return [line.strip() for line in res.stdout.splitlines() if line.startswith("table ")]

    def tc(self, args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(["tc", *args], check=check)

    def iptables(self, args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Legacy x_tables: a separate subsystem from nf_tables, where Docker keeps its rules.
        return self.run(["iptables-legacy", "-w", "5", "-t", "mangle", *args], check=check)
