"""Short-lived SQL connections from the harness to its own nodes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

__all__ = ["conninfo", "first_answer", "lsn_int", "port_open", "sql", "sql_one", "streaming_replicas",
           "writable_among"]


def lsn_int(lsn: str) -> int:
    """A text LSN ("0/3000148") as a number, to compare and subtract WAL positions."""
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def port_open(host: str, port: int = 5432, timeout: float = 0.1) -> bool:
    """A quick TCP check. A SYN sent before a new container's link is up is dropped and only
    retried by the kernel after a second, so readiness polls probe with a short timeout first."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def conninfo(host: str, *, timeout: float = 2, dbname: str = "postgres") -> str:
    """``host`` is a node address, or ``address:port`` for something in front of it (a proxy)."""
    addr, _, port = host.partition(":")
    return psycopg.conninfo.make_conninfo(
        host=addr, port=int(port or 5432), user="postgres", dbname=dbname, connect_timeout=max(1, int(timeout)),
        application_name="pgharness",
    )


def sql(host: str, query: str, params: tuple[Any, ...] = (), *, timeout: float = 2) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo(host, timeout=timeout), autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
        cur = conn.execute(query, params)  # type: ignore[arg-type,unused-ignore]
        return list(cur.fetchall()) if cur.description else []


def sql_one(host: str, query: str, params: tuple[Any, ...] = (), *, timeout: float = 2) -> Any:
    rows = sql(host, query, params, timeout=timeout)
    return rows[0][0] if rows else None


def streaming_replicas(primary: str, caught_up_to: str | None = None) -> list[str]:
    """Replicas streaming from the primary at ``primary`` (and, if given, flushed to that LSN)."""
    q = "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
    params: tuple[str, ...] = ()
    if caught_up_to is not None:
        q += " AND flush_lsn >= %s::pg_lsn"
        params = (caught_up_to,)
    return [r[0] for r in sql(primary, q + " ORDER BY 1", params)]


def writable_among(names: list[str], in_recovery: Callable[[str], bool | None]) -> list[str]:
    """The nodes that answer as writable primaries (asked in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        states = list(pool.map(in_recovery, names))
    return [n for n, s in zip(names, states, strict=True) if s is False]


def first_answer(host: str, limit_s: float = 10, poll_s: float = 0.005) -> float:
    """Monotonic time at which a fresh client first gets a transaction id from ``host``.

    Ground truth for the end of an outage, taken outside the probes (the known-answer test
    and ``bench/probe.py`` compare the probe's RTO with it).
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(conninfo(host, timeout=1), autocommit=True) as conn:
                conn.execute("SET statement_timeout = 1000")
                conn.execute("SELECT txid_current()")
                return time.monotonic()
        except psycopg.Error:
            time.sleep(poll_s)
    raise TimeoutError(f"{host} gave no answer within {limit_s:g} s")
