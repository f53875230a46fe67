"""Pure rule text for the WAN router of a two-region topology.

The router is a container on both regions' networks that forwards between them; every
packet that crosses the WAN crosses its FORWARD hook once, and nothing else does (the
harness reaches each region directly over that region's bridge). So the WAN is shaped there:

- latency: an iptables-legacy mangle chain jumped to from FORWARD sends packets to the
  NFQUEUE delayer (half the round trip each way, so a ping across shows the latency asked);
- bandwidth: a tbf on each of the router's two interfaces (each direction limited);
- loss and a cut: a private nft table with a ``forward`` chain (``numgen random`` or drop).

Like :mod:`harness.net.rules`, nothing here touches a machine.
"""

from __future__ import annotations

import re

from harness.net.rules import IFACE, PRIORITY, table_name, tbf_args

__all__ = [
    "forward_queue_removal",
    "forward_queue_rules",
    "interface_of",
    "nft_wan_table",
    "table_name",
    "wan_tbf_args",
]


def _check_chain(chain: str) -> None:
    if not re.fullmatch(r"PGH-[A-Za-z0-9_-]{1,24}", chain):
        raise ValueError(f"bad chain name {chain!r}")


def forward_queue_rules(chain: str, queue: int) -> list[list[str]]:
    """``iptables-legacy -t mangle`` argument lists sending forwarded packets to ``queue``.

    ``--queue-bypass``: with no delayer listening packets pass, so a dead delayer is never a cut.
    """
    _check_chain(chain)
    if not 1 <= queue <= 65535:
        raise ValueError(f"bad queue number {queue}")
    return [["-N", chain],
            ["-A", chain, "-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"],
            ["-A", "FORWARD", "-j", chain]]


def forward_queue_removal(chain: str) -> list[list[str]]:
    _check_chain(chain)
    return [["-D", "FORWARD", "-j", chain], ["-F", chain], ["-X", chain]]


def nft_wan_table(table: str, *, loss_pct: float = 0.0, cut: bool = False, comment: str = "pgharness wan") -> str:
    """The router's private table: drop every forwarded packet (``cut``) or ``loss_pct`` of them."""
    if not cut and not 0 < loss_pct <= 100:
        raise ValueError(f"a WAN table either cuts or drops a share above 0 and at most 100 %, not {loss_pct:g}")
    rule = "drop" if cut else f"numgen random mod 10000 < {round(loss_pct * 100)} drop"
    safe = re.sub(r'[^A-Za-z0-9 _.:,+/=-]', "", comment)[:120]
    return "\n".join([f"table inet {table} {{", f'  comment "{safe}"', "  chain forward {",
                      f"    type filter hook forward priority {PRIORITY}; policy accept;", f"    {rule}",
                      "  }", "}"]) + "\n"


def wan_tbf_args(bits_per_s: float, device: str, handle: str = "5047:") -> list[str]:
    """``tc`` arguments of the token bucket on one of the router's interfaces."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,14}", device):
        raise ValueError(f"bad device name {device!r}")
    return [device if a == IFACE else a for a in tbf_args(bits_per_s, handle)]


def interface_of(ip_addr_output: str, address: str) -> str:
    """The interface that holds ``address``, from ``ip -o -4 addr show`` output."""
    for line in ip_addr_output.splitlines():
        m = re.match(r"\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+([\d.]+)/\d+", line.strip())
        if m and m.group(2) == address:
            return m.group(1)
    raise ValueError(f"no interface holds {address}")
