"""Real Docker, real PostgreSQL, real loop-mounted ext4: disk-full faults and volume cleanup.

Shows: each node's PGDATA and pg_wal are mounted filesystems of the configured sizes; a full
data disk (WAL elsewhere) fails inserts with "could not extend file" while the server keeps
answering; a full WAL disk PANICs the server, which will not start again until space is
freed; freeing brings writes back; rejoin after failover (pg_rewind, and the pg_basebackup
rebuild) keeps pg_wal on its volume; teardown and the reaper leave no mount, loop device or
image behind, also after the harness process was SIGKILLed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness import labels
from harness.drill import Drill
from harness.environment import Environment, VolumeSettings, default_environment
from harness.faults import disk
from harness.runtime.base import ExecResult
from harness.runtime.docker import DockerRuntime
from harness.runtime.volumes import (
    LoopVolume,
    disk_usage,
    loops_backed_by,
    mount_source,
    parse_mountinfo,
    volumes_root,
)
from harness.topology.pg import sql, sql_one
from harness.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
PGDATA = "/var/lib/postgresql/data"


def _env(data_mb: int = 160, wal_mb: int = 128) -> Environment:
    return default_environment().model_copy(
        update={"volumes": VolumeSettings(enabled=True, data_mb=data_mb, wal_mb=wal_mb)})


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "dsk", tmp_path / "drill", _env())
    d.configure(replicas=1, replication="async")
    try:
        yield d
    finally:
        d.close()


def _mounts_under(path: Path) -> list[str]:
    return [m for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text()) if m.startswith(str(path))]


def _assert_nothing_left(run_dir: Path, vols: Sequence[LoopVolume]) -> None:
    def gone() -> bool:
        return not _mounts_under(run_dir) and not any(loops_backed_by(v.image) for v in vols)

    # A loop device still held by a container being removed is detached when it lets go.
    wait_until(gone, timeout=10, interval=0.1, what=f"mounts and loop devices of {run_dir} to go")
    assert not run_dir.exists(), list(run_dir.rglob("*"))
    for v in vols:
        assert not v.image.exists()


def _insert_error(address: str, rows: int = 5000) -> str | None:
    """Insert enough probe rows to need new pages; the error text, or None when it worked."""
    try:
        with psycopg.connect(host=address, user="postgres", dbname="postgres", connect_timeout=5) as conn:
            conn.execute("INSERT INTO probe (seq) SELECT -g FROM generate_series(1, %s) g", (rows,))
            conn.rollback()
    except psycopg.errors.DatabaseError as exc:
        return str(exc)
    return None


def test_volumes_have_the_configured_sizes_and_both_disk_full_outcomes(drill: Drill) -> None:
    c = drill.cluster
    run_dir = volumes_root() / drill.run_id / drill.scope
    vols = [v for n in c.names for v in c.node(n).volumes.values()]
    assert len(vols) == 4
    for name in c.names:
        node = c.node(name)
        for kind, mb, path in (("data", 160, PGDATA), ("wal", 128, "/var/lib/postgresql/wal")):
            v = node.volumes[kind]  # type: ignore[index]
            assert mount_source(v.mountpoint) == v.device and loops_backed_by(v.image) == [v.device]
            # Inside the node: an ext4 mounted from the loop device, of the configured size.
            out = node.exec(["sh", "-c", f"stat -f -c '%S %b %T' {path}; grep ' {path} ' /proc/self/mountinfo"]).output
            bsize, blocks, fstype = out.splitlines()[0].split()
            assert fstype == "ext2/ext3" and v.device in out, out
            assert 0.8 * mb * 2**20 < int(bsize) * int(blocks) <= mb * 2**20, out
        link = node.exec(["readlink", f"{PGDATA}/pg_wal"]).output.strip()
        assert link == "/var/lib/postgresql/wal"
    primary = c.address("node1")
    assert "max_wal_size = '32MB'" in c.node("node1").exec(["cat", f"{PGDATA}/conf.d/node.conf"]).output

    # Data disk full, WAL elsewhere: inserts that need new pages fail, the server answers.
    fault = disk.fill_disk(drill, "the primary", "data")
    assert disk_usage(c.node("node1").volumes["data"].mountpoint).avail == 0
    err = _insert_error(primary)
    assert err is not None and "could not extend file" in err and "No space left on device" in err, err
    assert sql_one(primary, "SELECT pg_is_in_recovery()") is False
    assert sql_one(primary, "SELECT count(*) FROM probe") >= 0  # reads work
    assert c.postgres_running("node1")
    drill.faults.heal(fault)
    assert _insert_error(primary) is None

    # WAL disk full: PANIC, down, will not start until space is freed.
    fault = disk.fill_disk(drill, "the primary", "wal")
    assert fault.took_down
    disk.expect_down(drill, "the primary", 30)
    log = c.node_logs("node1", 200)
    assert "PANIC" in log and "No space left on device" in log, log[-3000:]
    disk.expect_does_not_start(drill, "the primary", 15)
    disk.free_disk(drill, "the primary")
    drill.restart("the primary")
    sql(c.address("node1"), "INSERT INTO probe (seq) VALUES (777)")
    c.wait_streaming(timeout=30)
    assert sql_one(c.address("node2"), "SELECT count(*) FROM probe WHERE seq = 777") in (0, 1)

    drill.close()
    _assert_nothing_left(run_dir, vols)


def test_rejoin_after_a_wal_full_failover_keeps_pg_wal_on_its_volume(drill: Drill, monkeypatch: Any) -> None:
    """First by pg_rewind, then (pg_rewind made to fail) by the pg_basebackup rebuild."""
    c = drill.cluster
    drill.start_probes(0.05)
    disk.fill_disk(drill, "the primary", "wal")
    disk.expect_down(drill, "the primary", 30)
    assert drill.failover() == "node2"
    disk.free_disk(drill, "the old primary")
    how = drill.restart("the old primary")
    assert how.startswith("pg_rewind"), how
    c.wait_streaming(timeout=30, expect=["node1"])

    # A second failover back to node1, then node2 rejoins by the rebuild path.
    drill.inject("kill", "the primary")
    assert drill.failover() == "node1"
    node2 = c.node("node2")
    real_exec = node2.exec

    def no_rewind(cmd: Sequence[str], **kw: Any) -> ExecResult:
        if cmd and cmd[0] == "pg_rewind":
            return ExecResult(1, "pg_rewind: made to fail by the test")
        return real_exec(cmd, **kw)

    monkeypatch.setattr(node2, "exec", no_rewind)
    how = drill.restart("the old primary")
    assert how.startswith("rebuild"), how
    c.wait_streaming(timeout=30, expect=["node2"])
    for name in ("node1", "node2"):
        node = c.node(name)
        assert node.exec(["readlink", f"{PGDATA}/pg_wal"]).output.strip() == "/var/lib/postgresql/wal", name
        segs = node.exec(["sh", "-c", "ls /var/lib/postgresql/wal | grep -c '^0000'"]).output.strip()
        assert int(segs) >= 1, name
        # The mount points themselves survived the rebuild's "delete everything in PGDATA".
        for v in node.volumes.values():
            assert mount_source(v.mountpoint) == v.device
    wal = c.node("node2").volumes["wal"]
    assert disk_usage(wal.mountpoint).used > 16 * 2**20
    m = drill.measurements()
    assert m.rto_write_s is not None and m.rto_write_s < 30


def test_a_sigkilled_runs_volumes_are_reaped_by_the_next_start(tmp_path: Path, run_id: str, node_image: str) -> None:
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from harness.drill import Drill
        d = Drill({run_id!r}, "s01", Path({str(tmp_path / 'drill')!r}))
        d.configure(replicas=0)
        c = d.cluster
        for v in c.node("node1").volumes.values():
            print(v.state_file, flush=True)
        print("up", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    states: list[Path] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "up":
                break
            states.append(Path(line.strip()))
    finally:
        proc.kill()  # SIGKILL: no cleanup code of the harness runs
        proc.wait()
    assert len(states) == 2
    vols = [LoopVolume.load(s) for s in states]
    run_dir = volumes_root() / run_id
    assert all(v.pid == proc.pid for v in vols)
    assert all(mount_source(v.mountpoint) == v.device for v in vols), "a SIGKILLed run cannot clean up"
    rt = DockerRuntime("t" + labels.new_run_id(), "probe")  # its start reaps dead runs
    try:
        _assert_nothing_left(run_dir, vols)
    finally:
        rt.teardown()
