"""Pure rule generation for network faults: who is cut from whom, and the nft/tc/iptables text.

Nothing here touches a machine, so every rule the harness would install can be unit-tested.
A partition is a set of *directed* blocked pairs ``(sender, receiver)`` between endpoints:
node names, or :data:`CLIENTS` (the harness host, which reaches the nodes from the docker
network's gateway address). Each blocked pair is enforced on both ends: the sender drops it
on output and the receiver drops it on input, so a node that restarts (new network
namespace, rules gone) stays cut off by its peers' rules.

Each fault owns one private table (``pgharness_<id>``): healing deletes that table and never
touches anything else (Docker's own ``ip nat`` table serves the embedded DNS at 127.0.0.11).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CLIENTS",
    "IFACE",
    "RATE_PATTERN",
    "NodeCut",
    "Pair",
    "bridge",
    "cut_between",
    "format_rate",
    "halves",
    "isolate",
    "nft_corrupt_table",
    "nft_duplicate_table",
    "nft_loss_table",
    "nft_partition_table",
    "one_way",
    "parse_rate",
    "per_node_cuts",
    "queue_chain_removal",
    "queue_chain_rules",
    "table_name",
    "tbf_args",
]

#: The clients' endpoint in a partition plan: the harness host, seen at the gateway address.
CLIENTS = "clients"
#: The node's interface on the run's network (the only one a node has besides loopback).
IFACE = "eth0"
#: Before Docker's nat (-100) and conntrack (-200): a dropped packet leaves no trace.
PRIORITY = -300

Pair = tuple[str, str]  # (sender, receiver)


# -- partition plans ---------------------------------------------------------------------------


def _both(a: Iterable[str], b: Iterable[str]) -> frozenset[Pair]:
    bs = list(b)
    return frozenset(p for x in a for y in bs if x != y for p in ((x, y), (y, x)))


def isolate(node: str, others: Sequence[str], *, clients: bool = True) -> frozenset[Pair]:
    """``node`` can reach nobody and nobody can reach it (the clients too, unless told not)."""
    peers = [o for o in others if o != node] + ([CLIENTS] if clients else [])
    return _both([node], peers)


def cut_between(side_a: Iterable[str], side_b: Iterable[str]) -> frozenset[Pair]:
    """Every member of ``side_a`` is cut from every member of ``side_b``, both ways."""
    return _both(side_a, side_b)


def one_way(sender: str, receiver: str) -> frozenset[Pair]:
    """Packets from ``sender`` to ``receiver`` are dropped; the other direction passes."""
    return frozenset({(sender, receiver)})


def halves(nodes: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split in two, in the order given: the first ``n // 2`` nodes are the smaller side.

    With the primary listed first, the primary lands in the minority, the interesting case
    (Jepsen's ``bisect`` does the same).
    """
    k = len(nodes) // 2
    return list(nodes[:k]), list(nodes[k:])


def bridge(nodes: Sequence[str], via: str) -> tuple[list[str], list[str], frozenset[Pair]]:
    """Two halves of the other nodes that only ``via`` connects (it sees both; they do not see each other)."""
    rest = [n for n in nodes if n != via]
    k = (len(rest) + 1) // 2
    a, b = rest[:k], rest[k:]
    return a, b, _both(a, b)


@dataclass(frozen=True)
class NodeCut:
    """What one node drops: packets from these addresses (input) and to these (output)."""

    node: str
    drop_from: frozenset[str] = field(default_factory=frozenset)
    drop_to: frozenset[str] = field(default_factory=frozenset)

    @property
    def empty(self) -> bool:
        return not self.drop_from and not self.drop_to


def per_node_cuts(pairs: Iterable[Pair], addresses: Mapping[str, str]) -> dict[str, NodeCut]:
    """Turn blocked pairs into each node's rules; ``addresses`` maps endpoints (and CLIENTS) to IPs."""
    frm: dict[str, set[str]] = {}
    to: dict[str, set[str]] = {}
    for sender, receiver in pairs:
        for end in (sender, receiver):
            if end not in addresses:
                raise KeyError(f"no address for {end!r}")
        if sender != CLIENTS:
            to.setdefault(sender, set()).add(addresses[receiver])
        if receiver != CLIENTS:
            frm.setdefault(receiver, set()).add(addresses[sender])
    names = sorted(set(frm) | set(to))
    return {n: NodeCut(n, frozenset(frm.get(n, ())), frozenset(to.get(n, ()))) for n in names}


# -- nft tables --------------------------------------------------------------------------------

_TABLE = re.compile(r"^pgharness_[a-z0-9_]{1,40}$")


def table_name(fault_id: str) -> str:
    name = f"pgharness_{fault_id}"
    if not _TABLE.match(name):
        raise ValueError(f"bad fault id {fault_id!r}")
    return name


def _ip(addr: str) -> str:
    return str(ipaddress.IPv4Address(addr))  # refuses anything that is not one IPv4 address


def _set(addrs: Iterable[str]) -> str:
    return "{ " + ", ".join(sorted(_ip(a) for a in addrs)) + " }"


def _header(table: str, family: str, comment: str) -> list[str]:
    safe = re.sub(r'[^A-Za-z0-9 _.:,+/=-]', "", comment)[:120]
    return [f"table {family} {table} {{", f'  comment "{safe}"']


def _chain(name: str, hook: str, rules: list[str]) -> list[str]:
    return [f"  chain {name} {{",
            f"    type filter hook {hook} priority {PRIORITY}; policy accept;",
            *(f"    {r}" for r in rules),
            "  }"]


def nft_partition_table(table: str, cut: NodeCut, comment: str = "pgharness partition") -> str:
    """The node's private table dropping packets from/to the given peers (an ``nft -f`` script)."""
    lines = _header(table, "inet", comment)
    if cut.drop_from:
        lines += _chain("input", "input", [f'iifname "{IFACE}" ip saddr {_set(cut.drop_from)} drop'])
    if cut.drop_to:
        lines += _chain("output", "output", [f'oifname "{IFACE}" ip daddr {_set(cut.drop_to)} drop'])
    return "\n".join(lines + ["}"]) + "\n"


def _chance(percent: float) -> str:
    """``numgen random`` in basis points: 30 % → ``mod 10000 < 3000`` (0.01 % resolution)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a percentage is between 0 and 100, not {percent:g}")
    return f"numgen random mod 10000 < {round(percent * 100)}"


def _match_out(peers: Iterable[str] | None) -> str:
    m = f'oifname "{IFACE}"'
    ps = list(peers or ())
    return m + (f" ip daddr {_set(ps)}" if ps else "")


def nft_loss_table(table: str, percent: float, peers: Iterable[str] | None = None,
                   comment: str = "pgharness loss") -> str:
    """Drop ``percent`` of the node's outgoing packets (to ``peers`` only, if given), like netem loss."""
    rule = f"{_match_out(peers)} {_chance(percent)} drop"
    return "\n".join(_header(table, "inet", comment) + _chain("output", "output", [rule]) + ["}"]) + "\n"


def nft_duplicate_table(table: str, percent: float, peers: Iterable[str] | None = None,
                        comment: str = "pgharness duplicate") -> str:
    """Send a copy of ``percent`` of outgoing packets (nft ``dup``, IPv4 family only)."""
    rule = f'{_match_out(peers)} {_chance(percent)} dup to ip daddr device "{IFACE}"'
    return "\n".join(_header(table, "ip", comment) + _chain("output", "output", [rule]) + ["}"]) + "\n"


def nft_corrupt_table(table: str, percent: float, peers: Iterable[str] | None = None,
                      comment: str = "pgharness corrupt") -> str:
    """Overwrite two payload bytes of ``percent`` of outgoing TCP/UDP packets that carry data.

    Unlike netem (which fixes the checksum first so the receiver drops the packet), the
    checksum of a veth packet is left to offload, so the damage reaches the application.
    """
    rule = f"{_match_out(peers)} meta l4proto {{ tcp, udp }} {_chance(percent)} @ih,0,16 set 0xffff"
    return "\n".join(_header(table, "inet", comment) + _chain("output", "output", [rule]) + ["}"]) + "\n"


# -- the NFQUEUE rule of the delayer (iptables: this kernel's nft has no native queue) --------


def queue_chain_rules(chain: str, queue: int, peers: Iterable[str] | None = None) -> list[list[str]]:
    """``iptables-legacy -t mangle`` argument lists that send the node's output to ``queue``.

    A private chain jumped to from OUTPUT; ``--queue-bypass`` lets packets pass when no
    delayer listens, so a dead delayer never becomes a partition.
    """
    if not re.fullmatch(r"PGH-[A-Za-z0-9_-]{1,24}", chain):
        raise ValueError(f"bad chain name {chain!r}")
    if not 1 <= queue <= 65535:
        raise ValueError(f"bad queue number {queue}")
    target = ["-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
    rules = [["-N", chain]]
    ps = sorted(_ip(p) for p in peers or ())
    if ps:
        rules += [["-A", chain, "-o", IFACE, "-d", p, *target] for p in ps]
    else:
        rules.append(["-A", chain, "-o", IFACE, *target])
    rules.append(["-A", "OUTPUT", "-j", chain])
    return rules


def queue_chain_removal(chain: str) -> list[list[str]]:
    return [["-D", "OUTPUT", "-j", chain], ["-F", chain], ["-X", chain]]


# -- bandwidth ---------------------------------------------------------------------------------

_RATE_UNITS = {
    "bit/s": 1, "bps": 1, "b/s": 1,
    "kbit/s": 1e3, "kbps": 1e3, "kb/s": 1e3,
    "mbit/s": 1e6, "mbps": 1e6, "mb/s": 1e6,
    "gbit/s": 1e9, "gbps": 1e9, "gb/s": 1e9,
    "byte/s": 8, "bytes/s": 8,
    "kbyte/s": 8e3, "kbytes/s": 8e3,
    "mbyte/s": 8e6, "mbytes/s": 8e6,
}
_BYTE_UNITS = {"B/s": 8, "kB/s": 8e3, "KB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9}
RATE_PATTERN = (r"\d+(?:\.\d+)?\s*(?:[kKmMgG]?B/s|[kKmMgG]?bit/s|[kKmMgG]?bps|[kKmMgG]?b/s"
                r"|[kKmMgG]?bytes?/s)")


def parse_rate(text: str) -> float:
    """'1 mbit/s' → 1e6, '500 kbit/s' → 5e5, '2 MB/s' → 1.6e7 (bits per second).

    Capital B is bytes (``MB/s``); a lower-case ``b`` is bits (``mb/s`` = ``mbit/s``).
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+/s|[A-Za-z]*bps)\s*", text)
    if not m:
        raise ValueError(f"not a rate: {text!r} (say e.g. '1 mbit/s', '500 kbit/s', '2 MB/s')")
    value, unit = float(m.group(1)), m.group(2)
    if unit in _BYTE_UNITS:
        bits = value * _BYTE_UNITS[unit]
    elif unit.lower() in _RATE_UNITS:
        bits = value * _RATE_UNITS[unit.lower()]
    else:
        raise ValueError(f"unknown rate unit {unit!r} in {text!r} (bit/s, kbit/s, mbit/s, gbit/s, kB/s, MB/s)")
    if bits <= 0:
        raise ValueError(f"a rate must be positive: {text!r}")
    return bits


def format_rate(bits_per_s: float) -> str:
    for unit, f in (("gbit/s", 1e9), ("mbit/s", 1e6), ("kbit/s", 1e3)):
        if bits_per_s >= f:
            return f"{bits_per_s / f:.3g} {unit}"
    return f"{bits_per_s:.3g} bit/s"


def tbf_args(bits_per_s: float, handle: str = "5047:") -> list[str]:
    """``tc`` arguments for a token bucket on the node's egress (root qdisc of eth0).

    burst: 20 ms of traffic, at least 16 KiB (a few full-size packets, and above rate/HZ);
    latency: packets may wait 400 ms in the queue before tbf drops them (TCP backs off);
    handle: ours, so healing removes our qdisc and nothing else.
    """
    rate = max(8000, int(bits_per_s))
    burst = max(16 * 1024, rate // 8 // 50)
    return ["qdisc", "add", "dev", IFACE, "root", "handle", handle, "tbf", "rate", f"{rate}bit", "burst", str(burst),
            "latency", "400ms"]
