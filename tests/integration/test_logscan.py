"""Real Docker: the client path's own logs (HAProxy, PgBouncer) are collected and counted by level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.clients.pgbouncer import PORT as PGBOUNCER_PORT
from harness.clients.part import use_client_path
from harness.drill import Drill
from harness.logscan import LogScan
from harness.wait import wait_until


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "logs", tmp_path / "drill")
    try:
        yield d
    finally:
        d.close()


@pytest.mark.slow  # ~40 s: the path, a kill, HAProxy's fall checks
def test_a_pgbouncer_error_and_an_haproxy_server_down_are_counted_with_their_first_line(drill: Drill) -> None:
    part = use_client_path(drill, "pgbouncer+haproxy")
    scan = drill.part(LogScan)  # after the path, as the suite adds it: it closes first
    c = drill.cluster
    part.primary_endpoint(c)  # starts the path
    bouncer = part.component("pgbouncer").address()
    # A login to a database PgBouncer does not know: the client is refused (seen by a plain client)...
    with pytest.raises(psycopg.OperationalError, match="no such database: nosuchdb"):
        psycopg.connect(host=bouncer, port=PGBOUNCER_PORT, user="postgres", dbname="nosuchdb", connect_timeout=2)
    replica = c.replicas()[0]
    drill.inject("kill", replica)  # by name: "a replica" picks one at random, maybe not this one
    haproxy = part.component("haproxy")
    wait_until(lambda: f"Server ro/{replica} is DOWN" in haproxy.container.logs().decode(errors="replace"),
               timeout=20, interval=0.2, what="HAProxy to mark the killed replica down")
    drill.close()
    s = scan.summary
    assert s is not None
    by = {(m.node, m.level): m for m in s.messages}
    err = by.get(("pgbouncer", "ERROR"))
    assert err is not None and "no such database: nosuchdb" in err.first and err.count == 1
    down = [m for m in s.messages if m.node == "haproxy" and m.level == "WARNING"
            and f"Server ro/{replica} is DOWN" in m.first]
    assert len(down) == 1, [m.first for m in s.messages if m.node == "haproxy"]
    assert s.error >= 1 and s.warning >= 1
    folder = drill.directory / "logs"
    assert "pooler error: no such database" in (folder / "pgbouncer-output.log").read_text()
    assert "summary.txt" in {p.name for p in folder.iterdir()}
    assert "no such database" in scan.report
