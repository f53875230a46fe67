"""Real containers: partitions really drop what they should, degraded links really degrade.

One three-node cluster serves the whole module (a cluster start is most of a test's cost);
after every test all faults are healed and the cluster must stream again. Tolerances are
generous: other test runs share these two cores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.drill import Drill
from harness.faults.network import (
    Bandwidth,
    Bridge,
    CutBetween,
    CutFromClients,
    CutFromReplicas,
    CutGroup,
    Delay,
    Duplicate,
    Isolate,
    OneWayCut,
    PacketLoss,
    Partition,
    SplitHalves,
)
from harness.labels import new_run_id
from harness.net.delay import pid_dir, reap_delayers
from harness.net.measure import clients_reach, node_reaches, ping_loss, sql_latency
from harness.net.netns import NetNS, RunNetwork

NODES = ("node1", "node2", "node3")


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory, node_image: str) -> Iterator[Drill]:
    d = Drill("t" + new_run_id(), "net", tmp_path_factory.mktemp("net") / "drill")
    d.configure(replicas=2, replication="async")
    try:
        d.cluster  # noqa: B018 - start it
        yield d
    finally:
        d.close()


@pytest.fixture(autouse=True)
def healed(drill: Drill) -> Iterator[None]:
    yield
    assert drill.faults.heal_all() == []
    # Every heal leaves the cluster streaming again, with no trace of ours in any node.
    drill.cluster.wait_streaming(timeout=30)
    for n in NODES:
        ns = NetNS(drill.cluster.node(n), drill.run_id)
        tables = ns.tables()
        assert not [t for t in tables if "pgharness_" in t], tables
        assert "table ip nat" in tables  # Docker's own (embedded DNS) is untouched
        assert "tbf" not in ns.tc(["qdisc", "show", "dev", "eth0"]).stdout
        assert "PGH-" not in ns.iptables(["-S"]).stdout


def _net(drill: Drill) -> RunNetwork:
    return RunNetwork.of(drill.cluster.runtime)


def reachability(drill: Drill) -> dict[str, bool]:
    """Which TCP connections get an answer: every node pair and the clients to every node."""
    c, net = drill.cluster, _net(drill)
    jobs = {f"{a}->{b}": (lambda a=a, b=b: node_reaches(net, c.node(a), c.address(b)))
            for a in NODES for b in NODES if a != b}
    jobs |= {f"clients->{b}": (lambda b=b: clients_reach(net, c.address(b), timeout_s=2)) for b in NODES}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {k: pool.submit(f) for k, f in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


def cut(drill: Drill) -> set[str]:
    return {k for k, ok in reachability(drill).items() if not ok}


def _running(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its (new) parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def udp_delivered(drill: Drill, sender: str, receiver: str, count: int = 20) -> int:
    """Datagrams from ``sender`` that ``receiver`` got: one direction only, unlike TCP or ping."""
    c = drill.cluster
    to = _net(drill).check(c.address(receiver))
    listen = textwrap.dedent("""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 9999)); s.settimeout(2.5); n = 0
        try:
            while True: s.recv(64); n += 1
        except OSError: pass
        print(n)""")
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(c.node(receiver).exec(["python3", "-c", listen], timeout=10).output))
    t.start()
    time.sleep(0.5)  # the listener binds
    send = (f"import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            f"for i in range({count}): s.sendto(b'x', ('{to}', 9999)); time.sleep(0.01)")
    c.node(sender).exec(["python3", "-c", send], timeout=10)
    t.join()
    return int(out[0].strip().splitlines()[-1])


# -- partitions --------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "expected"), [
    (lambda c: Isolate(c, "the primary"),
     {"node1->node2", "node1->node3", "node2->node1", "node3->node1", "clients->node1"}),
    (lambda c: SplitHalves(c), {"node1->node2", "node1->node3", "node2->node1", "node3->node1"}),
    (lambda c: CutBetween(c, ["replica 1"], ["replica 2"]), {"node2->node3", "node3->node2"}),
    (lambda c: Bridge(c, "replica 1"), {"node1->node3", "node3->node1"}),
    (lambda c: CutFromReplicas(c, "the primary"), {"node1->node2", "node1->node3", "node2->node1", "node3->node1"}),
    (lambda c: CutFromClients(c, "the primary"), {"clients->node1"}),
    (lambda c: CutGroup(c, ["replica 1", "replica 2"]),
     {"node1->node2", "node1->node3", "node2->node1", "node3->node1"}),
], ids=["isolate", "halves", "cut-pair", "bridge", "from-replicas", "from-clients", "group"])
def test_partition_drops_exactly_the_cut_connections(drill: Drill, make: object, expected: set[str]) -> None:
    assert callable(make)
    fault: Partition = make(drill.cluster)
    drill.apply(fault)
    assert cut(drill) == expected
    drill.faults.heal(fault)
    assert cut(drill) == set()


def test_one_way_cut_is_really_one_way(drill: Drill) -> None:
    # "cut replica 1 off from the primary in one direction": the primary's packets to it are dropped.
    drill.apply(OneWayCut(drill.cluster, sender="the primary", receiver="replica 1"))
    assert udp_delivered(drill, "node1", "node2") == 0
    assert udp_delivered(drill, "node2", "node1") == 20
    assert udp_delivered(drill, "node1", "node3") == 20
    assert cut(drill) == {"node1->node2", "node2->node1"}  # TCP needs both directions


def test_isolated_primary_stops_replication_and_heals_to_streaming(drill: Drill) -> None:
    c = drill.cluster
    drill.apply(Isolate(c, "the primary"))
    time.sleep(1)
    assert c.writable_nodes() == []  # no client reaches the (still running) primary
    drill.faults.heal_all()
    c.wait_streaming(timeout=30)
    assert c.writable_nodes() == ["node1"]


# -- degraded links ----------------------------------------------------------------------------


def test_loss_rate_is_measured_within_tolerance(drill: Drill) -> None:
    fault = PacketLoss(drill.cluster, "the primary", 30)
    drill.apply(fault)
    m = fault.measure(count=600)
    assert m.value is not None and 20 <= m.value <= 40, m.summary
    drill.faults.heal(fault)
    assert fault.measure(count=200).value == pytest.approx(0, abs=3)


def test_pair_loss_hits_only_that_peer(drill: Drill) -> None:
    fault = PacketLoss(drill.cluster, "the primary", 50, peer="replica 1")
    drill.apply(fault)
    m = fault.measure(count=400)  # pings from replica 1: replies to it are dropped
    assert m.value is not None and 35 <= m.value <= 65, m.summary
    c = drill.cluster
    other = ping_loss(_net(drill), "node1", c.node("node3"), c.address("node1"), count=200)  # replica 2's view
    assert other.value == pytest.approx(0, abs=3), other.summary


def test_bandwidth_is_limited_by_tbf(drill: Drill) -> None:
    fault = Bandwidth(drill.cluster, "replica 1", 1e6)
    drill.apply(fault)
    m = fault.measure()
    assert m.value is not None and 0.5e6 <= m.value <= 1.6e6, m.summary
    drill.faults.heal(fault)
    after = fault.measure()
    assert after.value is not None and after.value > 20e6, after.summary


def test_delay_with_jitter_is_measured_and_healed(drill: Drill) -> None:
    c = drill.cluster
    fault = Delay(c, "replica 1", 0.2, 0.02, seed=1)
    drill.apply(fault)
    m = fault.measure(samples=15)
    assert m.value is not None and 170 <= m.value <= 300, m.summary
    other = sql_latency(_net(drill), "node3", c.address("node3"))
    assert other.value is not None and other.value < 50, other.summary
    delayer = fault._delayer
    assert delayer is not None and delayer.proc is not None
    pid = delayer.proc.pid
    assert delayer.pidfile.exists()
    drill.faults.heal(fault)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not delayer.pidfile.exists()
    after = sql_latency(_net(drill), "node2", c.address("node2"))
    assert after.value is not None and after.value < 50, after.summary


def test_pair_delay_slows_only_that_link(drill: Drill) -> None:
    fault = Delay(drill.cluster, "replica 1", 0.1, peer="the primary")
    drill.apply(fault)
    m = fault.measure(samples=10)  # pings from the primary to replica 1
    assert m.value is not None and 80 <= m.value <= 200, m.summary
    direct = sql_latency(_net(drill), "node2", drill.cluster.address("node2"))  # the clients' path is not slowed
    assert direct.value is not None and direct.value < 50, direct.summary


def test_duplication_is_measured(drill: Drill) -> None:
    fault = Duplicate(drill.cluster, "replica 2", 25)
    drill.apply(fault)
    m = fault.measure(count=300)
    assert m.value is not None and 12 <= m.value <= 40, m.summary


# -- a harness killed mid-fault ----------------------------------------------------------------


def test_a_killed_harness_leaves_no_delayer_behind(drill: Drill) -> None:
    """SIGKILL the process that started a delayer: the delayer goes by itself, and a later run reaps its pidfile."""
    c = drill.cluster
    container = c.node("node3").container.name
    script = textwrap.dedent(f"""
        import time
        from harness.net.delay import Delayer
        from harness.net.netns import NetNS
        from harness.runtime.docker import DockerNode
        from harness.runtime.docker_client import docker_client
        node = DockerNode(docker_client().containers.get({container!r}), "node3", {c.runtime.network_name!r})
        ns = NetNS(node, {drill.run_id!r})
        d = Delayer(ns, run_id={drill.run_id!r}, fault_id="killed", queue=4343, delay_s=0.3, jitter_s=0)
        print(d.start(), flush=True)
        for args in (["-N", "PGH-killed"], ["-A", "PGH-killed", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", "4343",
                     "--queue-bypass"], ["-A", "OUTPUT", "-j", "PGH-killed"]):
            ns.iptables(args)
        print("rules", flush=True)
        time.sleep(600)
    """)
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    ns = NetNS(c.node("node3"), drill.run_id)
    try:
        assert harness.stdout is not None
        delayer_pid = int(harness.stdout.readline())
        assert harness.stdout.readline().strip() == "rules"
        slow = sql_latency(_net(drill), "node3", c.address("node3"), samples=5)
        assert slow.value is not None and slow.value > 250, slow.summary
        pidfile = pid_dir() / f"delayer-{drill.run_id}-killed.json"
        assert pidfile.exists()
        harness.send_signal(signal.SIGKILL)
        harness.wait(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _running(delayer_pid):
            time.sleep(0.1)
        assert not _running(delayer_pid), "the delayer outlived its harness"
        # The orphaned rule has --queue-bypass: with no delayer, packets pass undelayed.
        fast = sql_latency(_net(drill), "node3", c.address("node3"), samples=5)
        assert fast.value is not None and fast.value < 50, fast.summary
        reap_delayers()  # what the next run does first
        assert not pidfile.exists()
    finally:
        if harness.poll() is None:
            harness.kill()
        for args in (["-D", "OUTPUT", "-j", "PGH-killed"], ["-F", "PGH-killed"], ["-X", "PGH-killed"]):
            ns.iptables(args, check=False)
