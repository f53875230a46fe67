"""Harness-driven failover and the return of a deposed primary.

Failover: ask every reachable replica how much WAL it has received, promote the one with
the highest LSN (ties: the first by name), point the other replicas at it. With synchronous
replication the new primary's ``synchronous_standby_names`` is set before it is promoted,
so it never acknowledges a write that only it holds.

Rejoin: ``pg_rewind`` the old primary onto the new primary's timeline and start it as a
standby; when the rewind cannot be done, rebuild it from a base backup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from psycopg import sql as psql

from harness.errors import SetupError
from harness.history import ActionEvent, now
from harness.topology.base import Promotable, Restartable, Topology, need
from harness.topology.pg import lsn_int, sql, sql_one

__all__ = ["failover_to_most_advanced", "most_advanced", "received_lsns", "rejoin_as_replica"]

log = logging.getLogger(__name__)


def received_lsns(cluster: Topology, candidates: list[str]) -> dict[str, str]:
    """The WAL position each reachable candidate has received (flushed), as text LSNs."""

    def one(name: str) -> tuple[str, str | None]:
        try:
            lsn = sql_one(cluster.address(name),
                          "SELECT coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text", timeout=1)
            return name, lsn
        except Exception:  # noqa: BLE001 - unreachable candidates are skipped
            return name, None

    with ThreadPoolExecutor(max_workers=max(1, len(candidates))) as pool:
        return {n: lsn for n, lsn in pool.map(one, candidates) if lsn is not None}


def most_advanced(lsns: dict[str, str], apply_delay_s: Callable[[str], float] | None = None) -> str:
    """The replica that received the most WAL; on a tie the one that applies it soonest (a
    delayed replica is kept for what it is for, taking a table back), then by name."""
    def key(n: str) -> tuple[int, float]:
        return lsn_int(lsns[n]), -(apply_delay_s(n) if apply_delay_s is not None else 0.0)

    return max(sorted(lsns), key=key)


def failover_to_most_advanced(topology: Topology,
                              on_promoted: Callable[[str], None] | None = None) -> str:
    """Promote the most advanced replica and repoint the rest; returns the new primary.

    ``on_promoted`` is told the new primary the moment it is writable, before the others are
    repointed: clients (the background load) move when the probes do, not a repoint later.
    """
    promotable = need(topology, Promotable, "a failover driven by the harness (its manager fails over)")
    cluster = topology
    t0 = now()
    old = cluster.primary
    candidates = [n for n in cluster.names if n != old]
    lsns = received_lsns(cluster, candidates)
    t_lsn = now()
    if not lsns:
        cluster.history.add(ActionEvent(at=t0, end=now(), action="failover", target=old, outcome="failed",
                                        detail="no replica reachable"))
        raise SetupError(f"failover impossible: none of {', '.join(candidates)} answers")
    delay_of = getattr(cluster, "apply_delay_s", None)
    best = most_advanced(lsns, delay_of if callable(delay_of) else None)
    addr = cluster.address(best)
    if promotable.sync:
        others = [n for n in cluster.names if n != best]
        setting = promotable.sync_setting(best)
        sql(addr, "ALTER SYSTEM SET synchronous_standby_names = %s" % psql.quote(setting))
        log.debug("sync standbys of %s: %s (%s)", best, setting, others)
    else:
        sql(addr, "ALTER SYSTEM RESET synchronous_standby_names")
    sql(addr, "SELECT pg_reload_conf()")
    t_conf = now()
    promoted = sql_one(addr, "SELECT pg_promote(true, 30)", timeout=35)
    t_promote = now()
    if not promoted:
        cluster.history.add(ActionEvent(at=t0, end=now(), action="failover", target=best, outcome="failed",
                                        detail="pg_promote returned false"))
        raise SetupError(f"promoting {best} failed")
    cluster.roles.promoted(best)
    if on_promoted is not None:
        on_promoted(best)
    rest = [n for n in candidates if n != best and n in lsns]
    with ThreadPoolExecutor(max_workers=max(1, len(rest))) as pool:
        list(pool.map(lambda n: promotable.repoint(n, best), rest))
    detail = f"promoted {best} (received {lsns[best]}); " + ", ".join(f"{n} at {lsns[n]}" for n in rest)
    if rest:
        detail += f"; repointed {', '.join(rest)}"
    t_end = now()
    detail += (f"; phases: lsn query {t_lsn.t - t0.t:.3f} s, configure {t_conf.t - t_lsn.t:.3f} s, "
               f"promote {t_promote.t - t_conf.t:.3f} s, repoint {t_end.t - t_promote.t:.3f} s")
    cluster.history.add(ActionEvent(at=t0, end=t_end, action="failover", target=best, outcome="ok", detail=detail))
    return best


def rejoin_as_replica(cluster: Topology, name: str) -> str:
    """Bring a deposed primary back as a standby of the current primary (pg_rewind, else rebuild)."""
    return need(cluster, Restartable, f"starting {name} again").start_again(name, deposed=True)
