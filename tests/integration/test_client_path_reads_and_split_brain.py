"""Real Docker: the read probe goes through the path's read-only side to a standby; PgBouncer in
front of the primary follows the harness's failover, and stays repointed when it is restarted
or killed and started again; during a split brain HAProxy sends writes
to the deposed primary, and those rows are on it and not on the new one.

What the harness recorded is checked with clients of the test's own (plain psycopg, its own
connection strings, straight to each node's address or through the path's address), never
with the probes' view alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.clients.checks import heal_component, path_fault
from harness.clients.haproxy import RW_PORT
from harness.clients.pgbouncer import PORT as PGBOUNCER_PORT
from harness.clients.part import use_client_path
from harness.clients.writes import path_writes
from harness.drill import Drill
from harness.faults.network import CutFromReplicas
from harness.history import ActionEvent, ProbeOp
from harness.wait import wait_until


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "paths2", tmp_path / "drill")
    try:
        yield d
    finally:
        d.close()


def own(address: str, port: int = 5432, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"host={address} port={port} user=postgres dbname={dbname} connect_timeout=3",
                           autocommit=True, prepare_threshold=None)


def in_recovery(address: str) -> bool:
    with own(address) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row is not None
        return bool(row[0])


@pytest.mark.parametrize("path", ["haproxy", pytest.param("libpq", marks=pytest.mark.slow),
                                  pytest.param("pgbouncer", marks=pytest.mark.slow)])
def test_reads_through_the_path_are_answered_by_a_standby(drill: Drill, path: str) -> None:
    use_client_path(drill, path, beside_direct=False)
    c = drill.cluster
    drill.start_probes(0.05)
    time.sleep(1.0)
    reads = [o for o in drill.history.of(ProbeOp) if o.probe == "read" and o.outcome == "ok"]
    assert len(reads) >= 5, f"{len(reads)} reads acknowledged through {path}"
    servers = {o.server for o in reads}
    addresses = {c.address(n): n for n in c.names}
    assert servers <= set(addresses) - {c.address(c.primary)}, (servers, addresses, c.primary)
    for server in servers:  # the test's own client, straight to that node: a standby
        assert server is not None and in_recovery(server)
    m = drill.measurements()
    assert m.paths[0].path == path and m.paths[0].rto_read_s is not None


def test_pgbouncer_in_front_of_the_primary_is_repointed_by_the_failover(drill: Drill) -> None:
    part = use_client_path(drill, "pgbouncer", beside_direct=False)
    c = drill.cluster
    part.primary_endpoint(c)  # starts the path

    def served() -> str:  # the address is read each time: a restarted container may get another
        with own(part.component("pgbouncer").address(), PGBOUNCER_PORT) as conn:
            row = conn.execute("SELECT host(inet_server_addr())").fetchone()
            assert row is not None
            return str(row[0])

    assert served() == c.address(c.primary)
    drill.inject("kill", "the primary")
    new = drill.failover()
    # The hook ran at the promotion: the next session through PgBouncer is on the new primary.
    wait_until(lambda: served() == c.address(new), timeout=10, interval=0.2, what="PgBouncer on the new primary")
    assert not in_recovery(served())
    (repoint,) = [a for a in drill.history.of(ActionEvent) if a.action == "pgbouncer.repoint"]
    assert repoint.outcome == "ok" and repoint.target == c.address(new)
    # A restarted PgBouncer (and one started again after a kill) reads the repointed file, as on
    # a host: it serves the new primary, not the dead one it was created with.
    path_fault(drill, "restart", "pgbouncer")
    wait_until(lambda: served() == c.address(new), timeout=10, interval=0.2, what="restarted PgBouncer on the new primary")
    path_fault(drill, "kill", "pgbouncer")
    heal_component(drill, "pgbouncer")
    wait_until(lambda: served() == c.address(new), timeout=10, interval=0.2, what="PgBouncer started again after a kill")


@pytest.mark.slow  # the same drill runs by default as a scenario of client_path.feature
def test_haproxy_sends_writes_to_the_deposed_primary_in_a_split_brain(drill: Drill) -> None:
    part = use_client_path(drill, "haproxy")
    c = drill.cluster
    drill.start_probes(0.05)
    old = c.primary
    time.sleep(1.0)
    cut = drill.apply(CutFromReplicas(c, "the primary"))
    new = drill.failover()
    time.sleep(2.0)
    drill.faults.heal(cut)
    time.sleep(0.5)
    haproxy = part.component("haproxy").address()
    # Both pass HAProxy's check; a session of the test's own through the read-write listener
    # lands on the old primary, which still takes writes.
    assert not in_recovery(c.address(old)) and not in_recovery(c.address(new))
    with own(haproxy, RW_PORT) as conn:
        row = conn.execute("SELECT host(inet_server_addr())").fetchone()
        assert row is not None and row[0] == c.address(old)
    got = path_writes(drill.history.events())
    assert got is not None and (got.deposed, got.new_primary) == (old, new)
    assert got.to_deposed > 0
    seqs = [s for a, b in got.to_deposed_seqs for s in range(a, b + 1)]
    table = drill.env.probe.table
    with own(c.address(old)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE seq = ANY(%s)", (seqs,)).fetchone()  # type: ignore[arg-type]
        assert row is not None and row[0] == len(seqs)
    with own(c.address(new)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE seq = ANY(%s)", (seqs,)).fetchone()  # type: ignore[arg-type]
        assert row is not None and row[0] == 0
