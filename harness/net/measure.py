"""Measure what a network fault did: round-trip time, loss rate, throughput, reachability.

Each measurement goes to the harness's own nodes only (addresses checked against the run's
network) and comes back as a :class:`LinkMeasurement` whose ``summary`` is what the history
records beside what was asked ("asked 200±20 ms, measured median 203 ms").
"""

from __future__ import annotations

import re
import socket
import statistics
import time
from dataclasses import dataclass

import psycopg

from harness.errors import SetupError
from harness.net.netns import RunNetwork
from harness.net.rules import format_rate
from harness.runtime.base import Node
from harness.topology.pg import conninfo

__all__ = [
    "LinkMeasurement",
    "PingStats",
    "clients_reach",
    "node_reaches",
    "ping",
    "ping_duplicates",
    "ping_latency",
    "ping_loss",
    "sql_latency",
    "sql_throughput",
]


@dataclass(frozen=True)
class LinkMeasurement:
    what: str  # latency | loss | bandwidth
    target: str
    value: float | None  # ms, %, bit/s; None: nothing could be measured
    unit: str
    asked: str  # what the fault asked for ("" for a plain measurement)
    method: str

    def shown(self) -> str:
        if self.value is None:
            return "nothing"
        if self.unit == "bit/s":
            return format_rate(self.value)
        return f"{self.value:.1f} {self.unit}"

    @property
    def summary(self) -> str:
        asked = f"asked {self.asked}, " if self.asked else ""
        return f"{self.what} of {self.target}: {asked}measured {self.shown()} ({self.method})"


def sql_latency(net: RunNetwork, target: str, address: str, *, samples: int = 15, asked: str = "",
                timeout: float = 5) -> LinkMeasurement:
    """Median round trip of ``SELECT 1`` from the harness host over one connection (what a client sees)."""
    net.check(address)
    times: list[float] = []
    with psycopg.connect(conninfo(address, timeout=timeout), autocommit=True) as conn:
        conn.execute("SELECT 1").fetchall()  # warm up: the first query also settles the session
        for _ in range(samples):
            t0 = time.monotonic()
            conn.execute("SELECT 1").fetchall()
            times.append((time.monotonic() - t0) * 1000)
    q = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return LinkMeasurement("latency", target, statistics.median(times), "ms", asked,
                           f"median of {len(times)} SQL round trips from the harness host, "
                           f"p10 {q[0]:.1f} ms, p90 {q[-1]:.1f} ms")


_SENT = re.compile(r"(\d+) packets transmitted, (\d+) received(?:, \+(\d+) duplicates)?")
_RTT = re.compile(r"icmp_seq=\d+ ttl=\d+ time=([\d.]+) ms(?! \(DUP)")


@dataclass(frozen=True)
class PingStats:
    sent: int
    received: int
    duplicates: int
    rtts_ms: tuple[float, ...]

    @property
    def loss_percent(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 0.0


def ping(net: RunNetwork, source: Node, address: str, *, count: int, interval_s: float) -> PingStats:
    """ICMP echoes from ``source`` (the node image's ping, as root for short intervals) to ``address``."""
    net.check(address)
    wait = count * interval_s + 3
    res = source.exec(["ping", "-n", "-c", str(count), "-i", f"{interval_s:g}", "-W", "1", address],
                      user="root", timeout=wait + 2)
    m = _SENT.search(res.output)
    if not m:
        raise SetupError(f"ping from {source.name} to {address} gave no statistics: {res.output[-300:]}")
    return PingStats(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0),
                     tuple(float(x) for x in _RTT.findall(res.output)))


def ping_loss(net: RunNetwork, target: str, source: Node, address: str, *, count: int = 400,
              interval_s: float = 0.005, asked: str = "") -> LinkMeasurement:
    """Share of ICMP echoes from ``source`` to ``address`` that got no reply."""
    st = ping(net, source, address, count=count, interval_s=interval_s)
    return LinkMeasurement("loss", target, st.loss_percent if st.sent else None, "%", asked,
                           f"{st.sent - st.received} of {st.sent} pings from {source.name} unanswered")


def ping_duplicates(net: RunNetwork, target: str, source: Node, address: str, *, count: int = 400,
                    interval_s: float = 0.005, asked: str = "") -> LinkMeasurement:
    """Share of ICMP echoes from ``source`` to ``address`` answered twice."""
    st = ping(net, source, address, count=count, interval_s=interval_s)
    return LinkMeasurement("duplication", target, 100.0 * st.duplicates / st.sent if st.sent else None, "%",
                           asked, f"{st.duplicates} duplicate replies to {st.sent} pings from {source.name}")


def ping_latency(net: RunNetwork, target: str, source: Node, address: str, *, count: int = 15,
                 asked: str = "") -> LinkMeasurement:
    """Median ICMP round trip from ``source`` to ``address``."""
    st = ping(net, source, address, count=count, interval_s=0.1)
    med = statistics.median(st.rtts_ms) if st.rtts_ms else None
    return LinkMeasurement("latency", target, med, "ms", asked,
                           f"median of {len(st.rtts_ms)} ping round trips from {source.name}")


def sql_throughput(net: RunNetwork, target: str, address: str, *, expect_bps: float, seconds: float = 2.5,
                   asked: str = "") -> LinkMeasurement:
    """Time a result of known size sent by the node to the harness host (its egress, where tbf sits)."""
    net.check(address)
    size = int(min(32 << 20, max(64 << 10, expect_bps / 8 * seconds)))
    with psycopg.connect(conninfo(address, timeout=5), autocommit=True) as conn:
        conn.execute("SELECT 1").fetchall()
        t0 = time.monotonic()
        row = conn.execute("SELECT repeat('x', %s)", (size,)).fetchone()
        dt = time.monotonic() - t0
    got = len(row[0]) if row else 0
    return LinkMeasurement("bandwidth", target, got * 8 / dt if dt > 0 else None, "bit/s", asked,
                           f"{got // 1024} KiB in {dt:.2f} s from the node to the harness host")


def node_reaches(net: RunNetwork, source: Node, address: str, *, timeout_s: int = 2) -> bool:
    """Does a TCP connection from ``source`` to PostgreSQL at ``address`` get an answer?"""
    net.check(address)
    # pg_isready: 0 accepting, 1 rejecting (still an answer), 2 no response, 3 no attempt.
    res = source.exec(["pg_isready", "-h", address, "-p", "5432", "-t", str(timeout_s)], timeout=timeout_s + 3)
    return res.exit_code in (0, 1)


def clients_reach(net: RunNetwork, address: str, *, timeout_s: float = 2) -> bool:
    """Does a TCP connection from the harness host to PostgreSQL at ``address`` succeed?"""
    net.check(address)
    try:
        with socket.create_connection((address, 5432), timeout=timeout_s):
            return True
    except OSError:
        return False
