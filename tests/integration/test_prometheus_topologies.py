"""Real Prometheus on the topologies it once refused: a password, two regions, a node that joins later."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psycopg
import pytest

from harness.backup.restore import RecoveryTarget
from harness.backup.session import BackupSession
from harness.drill import Drill
from harness.environment import load_environment
from harness.faults.region import RegionCutOff
from harness.history import NodeJoined
from harness.labels import new_run_id
from harness.monitor.choose import use_prometheus
from harness.monitor.prometheus import PrometheusMonitor
from harness.topology.regions import RegionCluster
from harness.wait import wait_until

PASSWORD = "Sc0ut-the-exporter-pw"  # what a leak would look like in a file


def monitor(d: Drill) -> PrometheusMonitor:
    mon = d.monitor
    assert isinstance(mon, PrometheusMonitor)
    return mon


def pg_up(d: Drill) -> dict[str, str]:
    """Prometheus's own answer: the newest pg_up of each node (the exporter connected and logged in)."""
    return {r["metric"].get("node", ""): r["value"][1] for r in monitor(d).query('pg_up{job="postgres"}')}


def test_with_auth_the_exporters_log_in_with_the_password_and_no_file_holds_it(
        tmp_path: Path, run_id: str, node_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "auth.yaml"
    f.write_text(textwrap.dedent("""
        name: auth
        topology: {replicas: 1, replication: async}
        auth: {password_env: PGH_TEST_PASSWORD}
    """))
    monkeypatch.setenv("PGH_TEST_PASSWORD", PASSWORD)
    d = Drill(run_id, "pauth", tmp_path / "drill", load_environment(f))
    try:
        c = d.cluster
        # Every ordinary connection, from anywhere (the monitoring container too), must give the password.
        for node in c.nodes():
            res = node.exec(["sh", "-c", "sed -i '1i host all all 0.0.0.0/0 scram-sha-256' $PGDATA/pg_hba.conf "
                                         "&& pg_ctl -D $PGDATA reload >/dev/null"])
            assert res.exit_code == 0, res.output
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=c.address(c.primary), user="postgres", dbname="postgres", password="wrong-one",
                            connect_timeout=3)
        use_prometheus(d)
        d.start_probes(0.05, reads=False)  # the monitor's start waits for every exporter's pg_up 1
        assert pg_up(d) == {"node1": "1", "node2": "1"}
    finally:
        d.close()
    leaks = [p for p in (tmp_path / "drill").rglob("*") if p.is_file() and PASSWORD in p.read_text(errors="replace")]
    assert leaks == []
    assert (tmp_path / "drill" / "logs" / "monitor.log").exists()


@pytest.mark.slow  # two regions and the monitoring container: about a minute here
def test_two_regions_are_scraped_and_a_region_cut_off_from_the_clients_stays_watched(node_image: str,
                                                                                      tmp_path: Path) -> None:
    d = Drill("t" + new_run_id(), "pdr", tmp_path / "drill", load_environment("two-region"))
    try:
        c = d.cluster
        assert isinstance(c, RegionCluster)
        use_prometheus(d)
        d.start_probes(0.05, reads=False)
        nodes = set(c.names)
        assert {n for n, v in pg_up(d).items() if v == "1"} == nodes and any(n.startswith("west") for n in nodes)
        # Cut off from the clients (the host) and the WAN: the monitor, inside each region, still scrapes it.
        d.faults.inject(RegionCutOff(c, "west"))
        west = c.region("west").nodes
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(host=c.address(west[0]), user="postgres", dbname="postgres", connect_timeout=2)
        before = monitor(d).query('timestamp(pg_up{node="%s"})' % west[0])[0]["value"][1]
        wait_until(lambda: float(monitor(d).query('timestamp(pg_up{node="%s"})' % west[0])[0]["value"][1])
                   > float(before) + 1.5, timeout=10, interval=0.3, what="a newer scrape of the cut-off region")
        assert all(pg_up(d)[n] == "1" for n in west)
    finally:
        d.close()


@pytest.mark.slow  # a backup and a restore beside the monitoring container: over a minute here
def test_a_node_restored_during_the_drill_gets_an_exporter_and_is_scraped(tmp_path: Path, run_id: str,
                                                                          node_image: str) -> None:
    d = Drill(run_id, "pnew", tmp_path / "drill")
    d.configure(replicas=1)
    try:
        s = BackupSession.of(d)
        s.enable()
        use_prometheus(d)
        d.start_probes(0.05, reads=False)
        assert set(pg_up(d)) == {"node1", "node2"}
        assert s.backup("full") is not None
        restored = s.restore(RecoveryTarget("latest"))
        assert restored.ok, restored.problems
        assert [e.node for e in d.history.of(NodeJoined)] == [restored.node]
        wait_until(lambda: pg_up(d).get(restored.node) == "1", timeout=20, interval=0.5,
                   what=f"Prometheus to report pg_up 1 for {restored.node}")
        # Independent of the harness's view: the restored node answers a plain client too.
        with psycopg.connect(host=d.cluster.runtime.node(restored.node).address(), user="postgres",
                             dbname="postgres", connect_timeout=3) as conn:
            assert conn.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,)
    finally:
        d.close()
