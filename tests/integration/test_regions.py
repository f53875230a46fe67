"""Real containers: two regions on two Docker networks, joined only by the WAN router.

One two-region topology serves most of the module (its start is most of a test's cost);
the region-loss test goes last and fails back, so the topology ends as it began. Timing
bounds are lower bounds or generous ranges: other runs share these two cores.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import labels
from harness.checkers.exposure import rpo_exposure
from harness.drill import Drill
from harness.environment import WanSettings, load_environment
from harness.errors import SetupError, UnknownTarget
from harness.faults.postgres import generate_wal
from harness.faults.region import RegionLoss, WanCut, WanDegrade
from harness.labels import new_run_id
from harness.net.delay import pid_dir
from harness.net.netns import NetNS
from harness.recovery.regions import (
    fail_back,
    lose_region,
    promote_dr_region,
    region_comes_back,
    set_wan,
    use_two_regions,
)
from harness.runtime.docker_client import docker_client
from harness.topology.pg import sql, sql_one
from harness.topology.regions import RegionCluster


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory, node_image: str) -> Iterator[Drill]:
    d = Drill("t" + new_run_id(), "dr", tmp_path_factory.mktemp("dr") / "drill", load_environment("two-region"))
    try:
        d.cluster  # noqa: B018 - start it
        yield d
    finally:
        d.close()


def cluster(d: Drill) -> RegionCluster:
    c = d.cluster
    assert isinstance(c, RegionCluster)
    return c


def reaches(d: Drill, src: str, dst: str) -> bool:
    c = cluster(d)
    res = c.node(src).exec(["pg_isready", "-h", c.address(dst), "-p", "5432", "-t", "2"], timeout=6)
    return res.exit_code in (0, 1)


def rtt_ms(d: Drill, src: str, dst: str, count: int = 8) -> float:
    c = cluster(d)
    out = c.node(src).exec(["ping", "-c", str(count), "-i", "0.2", "-W", "2", c.address(dst)], user="root",
                           timeout=20).output
    m = re.search(r"= [\d.]+/([\d.]+)/", out)
    assert m, out
    return float(m.group(1))


def test_regions_are_two_networks_joined_only_by_the_router(drill: Drill) -> None:
    c = cluster(drill)
    east, west = c.region("east"), c.region("west")
    assert east.network != west.network and not east.subnet.overlaps(west.subnet)
    assert all(ipaddress.ip_address(c.address(n)) in east.subnet for n in ("east1", "east2"))
    assert ipaddress.ip_address(c.address("west1")) in west.subnet
    # One hop through the router (ttl 63), and the DR standby streams across it.
    ping = c.node("west1").exec(["ping", "-c", "1", "-W", "2", c.address("east1")], user="root").output
    assert "ttl=63" in ping, ping
    assert "west1" in c.streaming_replicas()
    # Without its route, west1 has no other path: Docker isolates the two bridges.
    ns = NetNS(c.node("west1"), drill.run_id)
    ns.run(["ip", "route", "del", str(east.subnet)])
    try:
        assert not reaches(drill, "west1", "east1")
    finally:
        c.route("west1")
    assert reaches(drill, "west1", "east1")


def test_a_wan_cut_separates_the_regions_and_nothing_else(drill: Drill) -> None:
    c = cluster(drill)
    fault = WanCut(c)
    drill.faults.inject(fault)
    try:
        assert not reaches(drill, "west1", "east1")
        assert not reaches(drill, "east1", "west1")
        assert reaches(drill, "east2", "east1")  # inside a region nothing changes
        for n in c.names:  # the clients reach both regions directly
            assert sql_one(c.address(n), "SELECT 1") == 1
    finally:
        drill.faults.heal(fault)
    assert reaches(drill, "west1", "east1")
    c.wait_streaming(timeout=30)
    rns = NetNS(c.router, drill.run_id) if c.router is not None else None
    assert rns is not None and not [t for t in rns.tables() if "pgharness_" in t]


def test_wan_latency_is_the_round_trip_asked_and_changes_live(drill: Drill) -> None:
    # Lower bounds are the delay itself; upper bounds leave room for a busy shared machine.
    assert 45 <= rtt_ms(drill, "west1", "east1") <= 200
    set_wan(drill, "east", "west", latency_ms=200, jitter_ms=0)
    try:
        assert 190 <= rtt_ms(drill, "west1", "east1", count=5) <= 450
    finally:
        set_wan(drill, "west", "east", latency_ms=50, jitter_ms=0)
    assert 45 <= rtt_ms(drill, "west1", "east1") <= 200


def test_wan_loss_drops_that_share_of_the_packets_across(drill: Drill) -> None:
    c = cluster(drill)
    assert c.wan is not None
    lossy = WanDegrade(c, WanSettings.model_validate({**c.wan.settings.model_dump(), "loss_pct": 30}))
    drill.faults.inject(lossy)
    try:
        out = c.node("west1").exec(["ping", "-c", "150", "-i", "0.01", "-W", "1", "-q", c.address("east1")],
                                   user="root", timeout=30).output
    finally:
        drill.faults.heal(lossy)
    m = re.search(r"(\d+(?:\.\d+)?)% packet loss", out)
    assert m, out
    # Each round trip crosses the router twice: 1 - 0.7 ** 2 = 51 % of pings are lost.
    assert 30 <= float(m.group(1)) <= 72, out
    assert reaches(drill, "west1", "east1")


def test_a_slow_wan_lets_the_dr_standby_fall_behind_and_the_exposure_shows_it(drill: Drill) -> None:
    c = cluster(drill)
    drill.start_probes(0.05, reads=False)
    slow = WanDegrade(c, WanSettings(latency_ms=100, bandwidth="1 mbit/s"))
    drill.faults.inject(slow)
    try:
        generate_wal(c, "east1", 1 << 20)  # 1 MB at 1 mbit/s: at least 8 s to cross
        c.wait_streaming(timeout=90, expect=["west1"])
    finally:
        drill.faults.heal(slow)
    assert c.wan is not None and c.wan.settings.latency_ms == 50
    r = rpo_exposure(drill.history)
    assert r.max_s is not None and r.max_s >= 4, r.reason
    assert r.max_lag_bytes is not None and r.max_lag_bytes >= 256 * 1024, r.reason


def test_unknown_region_names_are_clear_errors(drill: Drill, tmp_path: Path) -> None:
    c = cluster(drill)
    with pytest.raises(UnknownTarget, match=r"'north'.*'east' and 'west'"):
        RegionLoss(c, "north")
    with pytest.raises(SetupError, match=r"'north'"):
        set_wan(drill, "east", "north", latency_ms=10)
    with pytest.raises(SetupError, match=r"not a rate: 'fast'"):
        set_wan(drill, "east", "west", bandwidth="fast")
    fresh = Drill("t" + new_run_id(), "x", tmp_path / "d")
    with pytest.raises(SetupError, match=r"'East Coast'"):
        use_two_regions(fresh, "East Coast", "west")
    fresh.close()


def test_region_loss_promotion_return_and_fail_back(drill: Drill) -> None:
    c = cluster(drill)
    drill.start_probes(0.05, reads=False)
    sql(c.address("east1"), "CREATE TABLE IF NOT EXISTS dr_marks (id int PRIMARY KEY)")
    c.wait_streaming(timeout=30)
    lose_region(drill, "east")
    assert c.roles.down == {"east1", "east2"}
    assert promote_dr_region(drill) == "west1"
    sql(c.address("west1"), "INSERT INTO dr_marks VALUES (1)")
    assert c.writable_nodes() == ["west1"]
    region_comes_back(drill, "east")
    assert c.writable_nodes() == ["west1"]  # east came back as standbys, not as a second primary
    assert sorted(c.streaming_replicas()) == ["east1", "east2"]
    assert fail_back(drill, "east") == "east1"
    assert c.writable_nodes() == ["east1"]
    c.wait_streaming(timeout=30)
    assert sorted(c.streaming_replicas()) == ["east2", "west1"]
    assert sql_one(c.address("east1"), "SELECT count(*) FROM dr_marks WHERE id = 1") == 1


def _leftovers(run_id: str) -> tuple[list[str], list[str]]:
    client = docker_client()
    flt = {"label": [f"{labels.OWNER}=pgharness", f"{labels.RUN}={run_id}"]}
    return ([c.name for c in client.containers.list(all=True, filters=flt, sparse=True)],
            [n.name for n in client.networks.list(filters=flt)])


def _delayers(run_id: str) -> list[Path]:
    return sorted(pid_dir().glob(f"delayer-{run_id}-*.json"))


def test_close_removes_both_networks_the_router_and_the_delayer(tmp_path: Path, node_image: str) -> None:
    d = Drill("t" + new_run_id(), "dr2", tmp_path / "d", load_environment("two-region"))
    try:
        c = cluster(d)
        assert c.router is not None and len(_leftovers(d.run_id)[1]) == 2  # the run's (east) and west
        assert _delayers(d.run_id)
    finally:
        assert d.close() == []
    assert _leftovers(d.run_id) == ([], [])
    assert _delayers(d.run_id) == []


def test_a_killed_harness_leaves_nothing_the_next_start_does_not_reap(tmp_path: Path, node_image: str) -> None:
    run_id = "t" + new_run_id()
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from harness.drill import Drill
        from harness.environment import load_environment
        d = Drill({run_id!r}, "crash", Path({str(tmp_path / "crashed")!r}), load_environment("two-region"))
        d.cluster
        print("up", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "up"
        containers, networks = _leftovers(run_id)
        assert len(containers) == 4 and len(networks) == 2
        delayers = _delayers(run_id)
        assert delayers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # What the next harness start does first: reap the runs whose process is gone.
    from harness.net.delay import reap_delayers
    from harness.runtime.docker import reap

    deadline = time.monotonic() + 10
    reap()
    reap_delayers()
    while time.monotonic() < deadline and _delayers(run_id):
        time.sleep(0.2)
        reap_delayers()
    assert _leftovers(run_id) == ([], [])
    assert _delayers(run_id) == []
