"""Loop volumes and the disk-fill ballast without Docker.

The pure parts (state files, mountinfo, liveness, the guard, the environment section) run
anywhere; the parts that make real loop-mounted ext4 images need root and util-linux and
are skipped elsewhere (each takes some 50 ms).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.environment import load_environment
from harness.errors import EnvironmentFileError, ForeignResource, SetupError
from harness.faults.disk import BALLAST, fill_volume, free_volume
from harness.runtime import volumes as V

needs_loop = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("losetup") or not shutil.which("mkfs.ext4")
    or not Path("/dev/loop-control").exists(),
    reason="needs root, losetup and mkfs.ext4",
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    r = tmp_path / "volumes"
    r.mkdir()
    monkeypatch.setenv("HARNESS_VOLUMES_DIR", str(r))
    yield r
    # Whatever a failing test left: removed by the same code the reaper uses.
    V.reap_volumes(everything=True, root=r)


def _mounted_under(root: Path) -> list[str]:
    return [m for m in V.parse_mountinfo(Path("/proc/self/mountinfo").read_text()) if m.startswith(str(root))]


# -- pure ---------------------------------------------------------------------------------------


def test_mountinfo_is_parsed_with_escaped_paths() -> None:
    text = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "40 22 7:0 / /var/lib/pgharness/volumes/r/s/node1-data rw,relatime - ext4 /dev/loop0 rw\n"
        "41 22 7:1 / /mnt/with\\040space rw shared:2 master:3 - ext4 /dev/loop1 rw\n"
        "garbage line\n"
    )
    m = V.parse_mountinfo(text)
    assert m["/var/lib/pgharness/volumes/r/s/node1-data"] == "/dev/loop0"
    assert m["/mnt/with space"] == "/dev/loop1"
    assert m["/"] == "/dev/vda"


def test_liveness_tells_a_reused_pid_apart() -> None:
    me = os.getpid()
    start = V._proc_start(me)
    assert start is not None
    assert V.pid_alive(me, start)
    assert V.pid_alive(me, None)
    assert not V.pid_alive(me, start + 1)  # same pid, another process
    assert not V.pid_alive(0, None)
    assert not V.pid_alive(2**22 + 1, None)  # above pid_max: no such process


def test_state_round_trips_and_names_every_path(tmp_path: Path) -> None:
    v = V.LoopVolume("run1", "s01", "node2", "wal", 128, str(tmp_path), 123, 456, "/dev/loop7")
    v.directory.mkdir(parents=True)
    v.save()
    assert V.LoopVolume.load(v.state_file) == v
    assert v.image == tmp_path / "run1" / "s01" / "node2-wal.img"
    assert v.mountpoint == tmp_path / "run1" / "s01" / "node2-wal"
    assert v.bind_source == v.mountpoint / "pg_wal"
    assert v.container_path == "/var/lib/postgresql/wal"
    assert V.list_volumes(tmp_path) == [v]


def test_disk_usage_percent_is_dfs() -> None:
    u = V.DiskUsage(total=100, used=45, avail=45)
    assert u.percent == 50.0
    assert V.DiskUsage(total=0, used=0, avail=0).percent == 100.0


def test_the_guard_refuses_paths_that_are_not_mounted_harness_volumes(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ForeignResource, match="not under the harness volumes root"):
        V.guard(Path("/"))
    with pytest.raises(ForeignResource, match="not under the harness volumes root"):
        V.guard(tmp_path)
    stray = root / "r" / "s" / "node1-data"
    stray.mkdir(parents=True)
    with pytest.raises(ForeignResource, match="no harness volume state"):
        V.guard(stray)
    # A state file, but nothing mounted there: still refused (and so is filling it).
    v = V.LoopVolume("r", "s", "node1", "data", 128, str(root), os.getpid(), None, "/dev/loop0")
    v.save()
    with pytest.raises(ForeignResource, match="not mounted from the harness image"):
        V.guard(stray)
    with pytest.raises(ForeignResource):
        fill_volume(v, 50)
    assert not (stray / BALLAST).exists()


def test_fill_refuses_impossible_percentages(root: Path) -> None:
    v = V.LoopVolume("r", "s", "node1", "data", 128, str(root), os.getpid(), None)
    for bad in (0, -5, 100.5):
        with pytest.raises(SetupError, match="between 0 and 100"):
            fill_volume(v, bad)


def test_the_environment_sizes_volumes_and_can_turn_them_off(tmp_path: Path) -> None:
    assert load_environment("streaming").volumes.enabled
    f = tmp_path / "small.yaml"
    f.write_text("name: small\nvolumes:\n  data_mb: 128\n  wal_mb: 96\n")
    env = load_environment(f)
    assert (env.volumes.enabled, env.volumes.data_mb, env.volumes.wal_mb) == (True, 128, 96)
    f.write_text("name: novolumes\nvolumes: {enabled: false}\n")
    assert not load_environment(f).volumes.enabled
    f.write_text("name: bad\nvolumes:\n  data_mb: 10\n")
    with pytest.raises(EnvironmentFileError, match=r"small.yaml:3: volumes.data_mb: Input should be greater than or equal to 96"):
        load_environment(f)


# -- real loop devices ----------------------------------------------------------------------------


@needs_loop
def test_a_volume_is_a_mounted_ext4_of_its_size_and_removal_leaves_nothing(root: Path) -> None:
    vols = V.create_node_volumes("r1", "s1", "node1", V.VolumeSizes(data_mb=128, wal_mb=96))
    data, wal = vols["data"], vols["wal"]
    for v, mb in ((data, 128), (wal, 96)):
        assert v.device is not None and V.loops_backed_by(v.image) == [v.device]
        assert V.mount_source(v.mountpoint) == v.device
        assert v.bind_source.is_dir() and not any(v.bind_source.iterdir())
        u = V.disk_usage(v.mountpoint)
        assert 0.8 * mb * 2**20 < u.avail + u.used <= mb * 2**20  # ext4 keeps a little for itself
        assert v.image.stat().st_blocks * 512 < 8 * 2**20  # sparse on the host
        assert V.LoopVolume.load(v.state_file).pid == os.getpid()
        assert V.guard(v.mountpoint) == v
    assert V.remove_volumes("r1", root=root) == 2
    assert _mounted_under(root) == []
    assert V.loops_backed_by(data.image) == [] and V.loops_backed_by(wal.image) == []
    assert list(root.iterdir()) == []


@needs_loop
def test_ballast_fills_to_a_percentage_or_to_full_and_is_freed(root: Path) -> None:
    v = V.create_volume("r1", "s1", "node1", "data", 128)
    added = fill_volume(v, 60)
    u = V.disk_usage(v.mountpoint)
    assert 59.5 <= u.percent <= 60.5, u
    assert added > 0
    assert fill_volume(v, 40) == 0  # already above: nothing added
    fill_volume(v)  # full
    u = V.disk_usage(v.mountpoint)
    assert u.avail == 0 and u.percent == 100.0
    with pytest.raises(OSError, match="No space left"):
        (v.bind_source / "one-more").write_bytes(b"x" * 65536)
    (v.bind_source / "one-more").unlink(missing_ok=True)
    freed = free_volume(v)
    assert freed > 100 * 2**20
    assert V.disk_usage(v.mountpoint).percent < 1
    assert free_volume(v) == 0  # twice is fine


@needs_loop
def test_the_reaper_removes_volumes_of_dead_owners_only(root: Path) -> None:
    mine = V.create_volume("alive", "s1", "node1", "data", 96)
    dead = V.create_volume("dead", "s1", "node1", "data", 96)
    assert V.reap_volumes(root=root, alive=lambda pid, start: True) == 0
    # Pretend the second one's harness died (its pid is gone).
    dataclasses.replace(dead, pid=-1).save()
    assert V.reap_volumes(root=root, alive=lambda pid, start: pid != -1) == 1
    assert V.mount_source(dead.mountpoint) is None and not dead.image.exists()
    assert V.mount_source(mine.mountpoint) == mine.device
    assert V.reap_volumes(everything=True, root=root) == 1
    assert _mounted_under(root) == []


@needs_loop
def test_removal_never_touches_a_mount_or_loop_device_it_did_not_make(root: Path, tmp_path: Path) -> None:
    v = V.create_volume("r1", "s1", "node1", "data", 96)
    assert v.device is not None
    assert V.remove_volume(v)
    # Someone else mounts a tmpfs where our volume was, and takes the same loop device.
    v.directory.mkdir(parents=True)
    v.mountpoint.mkdir()
    v.save()
    other = tmp_path / "other.img"
    with open(other, "wb") as f:
        f.truncate(8 * 2**20)
    foreign = subprocess.run(["losetup", "-f", "--show", str(other)], capture_output=True, text=True,
                             check=True).stdout.strip()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(v.mountpoint)], check=True)
    try:
        stale = dataclasses.replace(v, device=foreign)  # the state names the device the other file now uses
        with pytest.raises(ForeignResource, match="refusing to unmount"):
            V.remove_volume(stale)
        assert V.mount_source(v.mountpoint) == "tmpfs"
        subprocess.run(["umount", str(v.mountpoint)], check=True)
        assert V.remove_volume(stale)
        assert V._backing_file(foreign) == str(other), "a loop device of another file was detached"
    finally:
        subprocess.run(["umount", str(v.mountpoint)], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", foreign], capture_output=True, check=False)
