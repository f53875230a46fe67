"""The WAN link of a two-region topology: the shaping of its router's forwarded traffic.

Rule text comes from :mod:`harness.net.wan`; this applies it in the router's network
namespace (entered from the host, like every network fault) and undoes it.
"""

from __future__ import annotations

import random
import secrets

from harness.environment import WanSettings
from harness.errors import SetupError
from harness.net.delay import Delayer
from harness.net.netns import NetNS, NodeDown, require_tools
from harness.net.rules import format_rate, parse_rate
from harness.net.wan import forward_queue_removal, forward_queue_rules, nft_wan_table, table_name, wan_tbf_args
from harness.runtime.docker import DockerNode

__all__ = ["WanLink", "describe_wan"]


def describe_wan(wan: WanSettings) -> str:
    parts = [f"{wan.latency_ms:g}" + (f"±{wan.jitter_ms:g}" if wan.jitter_ms else "") + " ms round trip"
             if wan.latency_ms else "no added latency"]
    if wan.bandwidth:
        parts.append(f"{format_rate(parse_rate(wan.bandwidth))} each way")
    if wan.loss_pct:
        parts.append(f"{wan.loss_pct:g} % loss")
    return ", ".join(parts)


class WanLink:
    """The shaping of the router's forwarded traffic; ``shape`` replaces whatever was applied.

    Latency: the NFQUEUE delayer holds each forwarded packet half the round trip (each
    direction crosses the router once). Bandwidth: a tbf on each router interface. Loss and
    a cut: private nft tables of the router, deleted to undo.
    """

    TBF_HANDLE = "5048:"

    def __init__(self, router: DockerNode, run_id: str, devices: list[str]) -> None:
        self.router, self.run_id, self.devices = router, run_id, devices
        self.id = secrets.token_hex(3)
        self.settings = WanSettings()
        self._delayer: Delayer | None = None
        self._chain = f"PGH-W{self.id}"
        self._queue = random.Random(self.id).randint(1000, 65000)
        self._tbf: list[str] = []
        self._loss_table: str | None = None
        self._cut_table: str | None = None

    def ns(self) -> NetNS:
        return NetNS(self.router, self.run_id)

    @property
    def cut_active(self) -> bool:
        return self._cut_table is not None

    def shape(self, wan: WanSettings) -> str:
        """Apply ``wan`` (latency, bandwidth, loss) in place of the current shaping."""
        require_tools("nsenter", "nft", "tc", "iptables-legacy")
        self._unshape()
        ns = self.ns()
        if wan.latency_ms > 0:
            self._delayer = Delayer(ns, run_id=self.run_id, fault_id=f"wan{self.id}", queue=self._queue,
                                    delay_s=wan.latency_ms / 2000, jitter_s=wan.jitter_ms / 2000)
            self._delayer.start()
            for args in forward_queue_rules(self._chain, self._queue):
                ns.iptables(args)
        if wan.bandwidth:
            bits = parse_rate(wan.bandwidth)
            for dev in self.devices:
                ns.tc(wan_tbf_args(bits, dev, self.TBF_HANDLE))
                self._tbf.append(dev)
        if wan.loss_pct:
            self._loss_table = table_name(f"wl{self.id}")
            ns.nft(nft_wan_table(self._loss_table, loss_pct=wan.loss_pct, comment=f"pgharness wan loss {wan.loss_pct:g}"))
        self.settings = wan
        return describe_wan(wan)

    def _unshape(self) -> None:
        try:
            ns = self.ns()
            for args in forward_queue_removal(self._chain):
                ns.iptables(args, check=False)
            for dev in self._tbf:
                ns.tc(["qdisc", "del", "dev", dev, "root", "handle", self.TBF_HANDLE], check=False)
            if self._loss_table is not None:
                ns.delete_table("inet", self._loss_table)
        except NodeDown:
            pass  # the router is gone: its rules went with it
        finally:
            self._tbf.clear()
            self._loss_table = None
            if self._delayer is not None:
                self._delayer.stop()
                self._delayer = None
            self.settings = WanSettings()

    def cut(self) -> str:
        if self._cut_table is not None:
            raise SetupError("the WAN link is already cut")
        require_tools("nsenter", "nft")
        table = table_name(f"wc{self.id}")
        self.ns().nft(nft_wan_table(table, cut=True, comment="pgharness wan cut"))
        self._cut_table = table
        return f"the router drops every forwarded packet (table inet {table})"

    def restore(self) -> str:
        if self._cut_table is None:
            return "the WAN link was not cut"
        table, self._cut_table = self._cut_table, None
        try:
            self.ns().delete_table("inet", table)
        except NodeDown:
            return "the router is gone"
        return f"deleted table inet {table} on the router"

    def close(self) -> None:
        """Remove everything (the delayer is a host process: it outlives the container otherwise)."""
        self.restore()
        self._unshape()
