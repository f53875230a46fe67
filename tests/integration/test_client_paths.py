"""Real Docker: HAProxy and PgBouncer in their own containers route by role; bad settings fail cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness import labels
from harness.clients.haproxy import RO_PORT, RW_PORT
from harness.clients.pgbouncer import PORT as PGBOUNCER_PORT
from harness.clients.part import ClientsPart, use_client_path
from harness.drill import Drill
from harness.errors import SetupError
from harness.runtime.docker_client import docker_client
from harness.wait import wait_until


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "clients", tmp_path / "drill")
    try:
        yield d
    finally:
        d.close()


def served_by(address: str, port: int, dbname: str = "postgres") -> tuple[str, bool]:
    """(server address, in recovery) as a plain client through ``address:port`` sees it."""
    with psycopg.connect(host=address, port=port, user="postgres", dbname=dbname, connect_timeout=2,
                         autocommit=True, prepare_threshold=None) as conn:
        row = conn.execute("SELECT host(inet_server_addr()), pg_is_in_recovery()").fetchone()
        assert row is not None
        return str(row[0]), bool(row[1])


def components(run_id: str) -> list[str]:
    flt = {"label": [f"{labels.OWNER}=pgharness", f"{labels.RUN}={run_id}"]}
    return sorted(c.labels.get(labels.NODE, "") for c in docker_client().containers.list(all=True, filters=flt)
                  if c.labels.get(labels.NODE) in ("haproxy", "pgbouncer"))


def test_haproxy_and_pgbouncer_send_writes_to_the_primary_and_follow_a_failover(drill: Drill, run_id: str) -> None:
    part = use_client_path(drill, "pgbouncer+haproxy")
    c = drill.cluster
    part.primary_endpoint(c)  # starts the path
    haproxy = part.component("haproxy").address()
    bouncer = part.component("pgbouncer").address()
    primary = c.address(c.primary)
    replicas = {c.address(n) for n in c.replicas()}
    # Read-write only to the primary; read-only only to standbys (checked by a plain client).
    assert served_by(haproxy, RW_PORT) == (primary, False)
    assert served_by(bouncer, PGBOUNCER_PORT) == (primary, False)
    for _ in range(4):
        addr, standby = served_by(haproxy, RO_PORT)
        assert standby and addr in replicas
    assert served_by(bouncer, PGBOUNCER_PORT, "postgres_ro")[1] is True
    # After a failover both follow the new primary by their own checks, not the harness's view.
    drill.inject("kill", "the primary")
    new = drill.failover()
    new_addr = c.address(new)
    wait_until(lambda: served_by(haproxy, RW_PORT) == (new_addr, False), timeout=20, interval=0.2,
               what="HAProxy to send writes to the new primary")
    wait_until(lambda: served_by(bouncer, PGBOUNCER_PORT) == (new_addr, False), timeout=20, interval=0.2,
               what="PgBouncer to send writes to the new primary")
    drill.close()
    assert components(run_id) == []


def test_a_path_that_is_not_ready_in_the_settle_time_names_it_with_its_log_and_leaves_nothing(
        drill: Drill, run_id: str) -> None:
    use_client_path(drill, "haproxy", settle_s=0.2)
    with pytest.raises(SetupError, match=r"(?s)client path: haproxy did not send a write to a primary within 0.2 s.*its log") as exc:
        drill.start_probes()
    assert "haproxy" in str(exc.value)
    assert components(run_id) == []
    part = drill.maybe_part(ClientsPart)
    assert part is not None and part.path is None


def test_an_unknown_path_is_refused_before_anything_starts(drill: Drill) -> None:
    with pytest.raises(SetupError, match="clients.path: Input should be 'direct'"):
        use_client_path(drill, "nginx")
    assert not drill.topology_started
