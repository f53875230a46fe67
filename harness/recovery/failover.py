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

from harness.errors import CommandFailed, SetupError
from harness.history import ActionEvent, now
from harness.topology.base import ManagedPostgres, Promotable, Topology, need
from harness.topology.pg import lsn_int, sql, sql_one
from harness.topology.streaming import PGDATA, StreamingCluster

__all__ = ["failover_to_most_advanced", "received_lsns", "rejoin_as_replica"]

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
    best = max(sorted(lsns), key=lambda n: lsn_int(lsns[n]))
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


def rejoin_as_replica(cluster: StreamingCluster, name: str) -> str:
    """Bring a deposed primary back as a standby of the current primary (pg_rewind, else rebuild)."""
    need(cluster, ManagedPostgres, "a rejoin run by the harness (pg_rewind)")
    t0 = now()
    primary = cluster.primary
    node = cluster.node(name)
    if not node.is_running():
        node.start()
    if cluster.postgres_running(name):
        cluster.pg_ctl(name, "-m", "fast", "-w", "stop")
    source = f"host={primary} port=5432 user=postgres dbname=postgres"
    # A just-promoted primary records its new timeline in pg_control only at its next
    # checkpoint; without one pg_rewind sees one timeline and wrongly says "no rewind required".
    sql(cluster.address(primary), "CHECKPOINT", timeout=60)
    res = node.exec(["pg_rewind", "--target-pgdata", PGDATA, "--source-server", source, "--no-sync"], timeout=300)
    how = "pg_rewind"
    if res.exit_code != 0:
        log.warning("pg_rewind of %s failed, rebuilding from a base backup: %s", name, res.output[-500:])
        how = "rebuild (pg_rewind failed)"
        rebuild = node.exec(["sh", "-c",
                             f"find {PGDATA} -mindepth 1 -delete && "
                             f"pg_basebackup --no-sync -X stream -D {PGDATA} -d '{source}'"], timeout=600)
        if rebuild.exit_code != 0:
            cluster.history.add(ActionEvent(at=t0, end=now(), action="rejoin", target=name, outcome="failed",
                                            detail=rebuild.output[-500:]))
            raise CommandFailed(name, "pg_basebackup", rebuild.exit_code, rebuild.output)
    elif "no rewind required" in res.output:
        how = "pg_rewind (no rewind required)"
    cluster.configure_standby(name, primary)
    cluster.pg_ctl(name, "-w", "-t", "60", "start")
    try:
        cluster.wait_streaming(timeout=60, expect=[name])
    except Exception as exc:
        cluster.history.add(ActionEvent(at=t0, end=now(), action="rejoin", target=name, outcome="failed",
                                        detail=f"{how}, but it does not stream: {exc}"))
        raise
    cluster.history.add(ActionEvent(at=t0, end=now(), action="rejoin", target=name, outcome="ok",
                                    detail=f"{how} onto {primary}"))
    return how
