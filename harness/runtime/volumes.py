"""Size-limited filesystems for a node's PGDATA and pg_wal: one loop-mounted ext4 image each.

Why loop ext4 and not tmpfs: a disk-full drill must meet the same filesystem PostgreSQL meets
in production. tmpfs is memory (it competes with shared_buffers and the page cache, and a
full tmpfs can push the host into swap or the OOM killer instead of returning ENOSPC cleanly),
it has no blocks, journal or delayed allocation, and it loses its contents when the node
restarts, so a crash-and-restart drill would boot on an empty data directory. An ext4 image
is a real block filesystem of exactly the configured size, survives container restarts, and
is sparse on the host: only what PostgreSQL writes takes host disk, so it cannot fill the
host disk either. ``fallocate`` on it is instant, so filling 256 MB costs milliseconds.

Layout on the host, one folder per topology (run id + scope)::

    /var/lib/pgharness/volumes/<run-id>/<scope>/
        node1-data.img    sparse image, mkfs.ext4
        node1-data.json   state: run id, owning harness pid, loop device (for the reaper)
        node1-data/       mount point; its subfolder pgdata/ is bind-mounted as PGDATA
        node1-wal.img / .json / node1-wal/  (subfolder pg_wal/ is bind-mounted as the WAL dir)

Only a subfolder is bind-mounted into the container, so ``lost+found`` and the disk fault's
ballast file (at the filesystem root) are invisible to PostgreSQL, pg_basebackup and pg_rewind.

Safety: the state file is written before anything is made and removed after everything is
gone, so a crash at any point leaves a record. Removal acts on a mount only if it is mounted
from a loop device whose backing file is the recorded image, and detaches a loop device only
if its backing file is that image: a mount or loop device the harness did not make is never
touched (a crashed run's device number may since have been reused by someone else).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from harness.errors import ForeignResource, SetupError

__all__ = [
    "CONTAINER_PATHS",
    "DiskUsage",
    "Kind",
    "LoopVolume",
    "VolumeSizes",
    "create_node_volumes",
    "create_volume",
    "disk_usage",
    "guard",
    "list_volumes",
    "mount_source",
    "pid_alive",
    "reap_volumes",
    "remove_volume",
    "remove_volumes",
    "volume_metrics",
    "volumes_root",
]

log = logging.getLogger(__name__)

Kind = Literal["data", "wal"]
KINDS: tuple[Kind, ...] = ("data", "wal")
#: Where each volume appears inside the node (PGDATA, and the folder pg_wal points at).
CONTAINER_PATHS: dict[Kind, str] = {"data": "/var/lib/postgresql/data", "wal": "/var/lib/postgresql/wal"}
#: The subfolder of each filesystem that is bind-mounted (the root keeps lost+found and ballast).
SUBDIRS: dict[Kind, str] = {"data": "pgdata", "wal": "pg_wal"}
DEFAULT_ROOT = "/var/lib/pgharness/volumes"

# Losetup picks "the first free device": two threads asking at once may be given the same.
_LOSETUP_LOCK = threading.Lock()


def volumes_root() -> Path:
    """Where volumes live (``HARNESS_VOLUMES_DIR`` moves it, e.g. for tests)."""
    return Path(os.environ.get("HARNESS_VOLUMES_DIR", DEFAULT_ROOT))


@dataclass(frozen=True)
class VolumeSizes:
    data_mb: int
    wal_mb: int


@dataclass(frozen=True)
class DiskUsage:
    """A filesystem's numbers as ``df`` shows them (bytes); ``percent`` is df's Use%."""

    total: int
    used: int
    avail: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used / (self.used + self.avail) if self.used + self.avail else 100.0

    def __str__(self) -> str:
        return f"{self.percent:.1f} % used ({self.used / 2**20:.1f} MB used, {self.avail / 2**20:.1f} MB free)"


@dataclass(frozen=True)
class LoopVolume:
    """One volume and its state file: enough for any later process to remove it safely."""

    run_id: str
    scope: str
    node: str
    kind: Kind
    size_mb: int
    root: str  # the volumes root it was made under
    pid: int  # the harness process that owns it
    pid_start: int | None  # that process's start time (tells a reused pid apart)
    device: str | None = None  # /dev/loopN once attached

    @property
    def directory(self) -> Path:
        return Path(self.root) / self.run_id / self.scope

    @property
    def stem(self) -> str:
        return f"{self.node}-{self.kind}"

    @property
    def image(self) -> Path:
        return self.directory / f"{self.stem}.img"

    @property
    def state_file(self) -> Path:
        return self.directory / f"{self.stem}.json"

    @property
    def mountpoint(self) -> Path:
        return self.directory / self.stem

    @property
    def bind_source(self) -> Path:
        """The folder the node sees (PGDATA or its WAL folder)."""
        return self.mountpoint / SUBDIRS[self.kind]

    @property
    def container_path(self) -> str:
        return CONTAINER_PATHS[self.kind]

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        tmp.replace(self.state_file)

    @classmethod
    def load(cls, path: Path) -> LoopVolume:
        data = json.loads(path.read_text())
        return cls(**data)


# -- processes --------------------------------------------------------------------------------


def _proc_start(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name (field 2) may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[19])


def pid_alive(pid: int, start: int | None) -> bool:
    """Is the process that made a volume still running (and not a new one with its pid)?"""
    if pid <= 0:
        return False
    now_start = _proc_start(pid)
    if now_start is None:
        return False
    return start is None or now_start == start


# -- mounts and loop devices -------------------------------------------------------------------


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> dict[str, str]:
    """Mount point → source, from the text of ``/proc/self/mountinfo`` (the last mount wins)."""
    mounts: dict[str, str] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and len(rest) >= 2:
            mounts[_unescape(fields[4])] = _unescape(rest[1])
    return mounts


def mount_source(path: Path) -> str | None:
    """What is mounted at exactly ``path`` in this process's namespace (None: nothing)."""
    return parse_mountinfo(Path("/proc/self/mountinfo").read_text()).get(str(path))


def _backing_file(device: str) -> str | None:
    name = Path(device).name
    try:
        text = Path(f"/sys/block/{name}/loop/backing_file").read_text().strip()
    except OSError:
        return None
    return text.removesuffix(" (deleted)")


def loops_backed_by(image: Path) -> list[str]:
    """Loop devices whose backing file is ``image`` (the only ones we may detach for it)."""
    out = []
    for d in sorted(Path("/sys/block").glob("loop*")):
        if _backing_file(f"/dev/{d.name}") == str(image):
            out.append(f"/dev/{d.name}")
    return out


def _run(cmd: list[str], what: str, timeout: float = 30) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise SetupError(f"{what}: {cmd[0]} is not installed (volumes need util-linux and e2fsprogs; "
                         "or set `volumes: {enabled: false}` in the environment)") from exc
    if proc.returncode != 0:
        raise SetupError(f"{what}: `{' '.join(cmd)}` exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


# -- making and removing ------------------------------------------------------------------------


def create_volume(run_id: str, scope: str, node: str, kind: Kind, size_mb: int, *,
                  root: Path | None = None) -> LoopVolume:
    """Make, attach and mount one volume; its bind source is empty and ready for a node.

    A failure removes whatever was made before re-raising.
    """
    root = root or volumes_root()
    vol = LoopVolume(run_id, scope, node, kind, size_mb, str(root), os.getpid(), _proc_start(os.getpid()))
    vol.directory.mkdir(parents=True, exist_ok=True)
    vol.save()  # first: a crash from here on leaves a record for the reaper
    try:
        with open(vol.image, "wb") as f:
            f.truncate(size_mb * 2**20)  # sparse: host disk is used only by what is written
        # -T default: 4 kB blocks even for small images (mke2fs's "small" type uses 1 kB);
        # -m 0: no root reserve, so "full" is full for PostgreSQL and the ballast alike;
        # lazy init: the image stays sparse (mounted with noinit_itable, nothing zeroes it later).
        _run(["mkfs.ext4", "-q", "-F", "-T", "default", "-m", "0", "-L", f"pgh-{vol.stem}"[:16],
              "-E", "lazy_itable_init=1,lazy_journal_init=1", str(vol.image)], f"formatting {vol.image}")
        device = _attach(vol.image)
        vol = replace(vol, device=device)
        vol.save()
        vol.mountpoint.mkdir(exist_ok=True)
        # barrier=0: a flush would make every fsync (and the unmount) a fsync of the image on
        # the host disk, for an image deleted at teardown; the faults kill processes, not the
        # host, so what PostgreSQL wrote survives them either way.
        _run(["mount", "-t", "ext4", "-o", "noinit_itable,barrier=0", device, str(vol.mountpoint)],
             f"mounting {device}")
        vol.bind_source.mkdir(mode=0o700)
    except BaseException:
        try:
            remove_volume(vol)
        except Exception:
            log.exception("could not remove the half-made volume %s", vol.image)
        raise
    return vol


def _attach(image: Path) -> str:
    for attempt in range(5):
        with _LOSETUP_LOCK:
            try:
                return _run(["losetup", "-f", "--show", str(image)], f"attaching {image}").strip()
            except SetupError:
                # Another process took the free device between lookup and attach: ask again.
                if attempt == 4:
                    raise
        time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def create_node_volumes(run_id: str, scope: str, node: str, sizes: VolumeSizes, *,
                        root: Path | None = None) -> dict[Kind, LoopVolume]:
    """The data and WAL volumes of one node (made in parallel; all or nothing)."""
    size = {"data": sizes.data_mb, "wal": sizes.wal_mb}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(create_volume, run_id, scope, node, k, size[k], root=root) for k in KINDS}
    made: dict[Kind, LoopVolume] = {}
    errors: list[BaseException] = []
    for k, fut in futures.items():
        exc = fut.exception()
        if exc is None:
            made[k] = fut.result()
        else:
            errors.append(exc)
    if errors:
        for v in made.values():
            remove_volume(v)
        raise errors[0]
    return made


def _umount(mountpoint: Path) -> None:
    for _attempt in range(20):
        proc = subprocess.run(["umount", str(mountpoint)], capture_output=True, text=True, check=False)
        if proc.returncode == 0 or mount_source(mountpoint) is None:
            return
        if "busy" not in (proc.stderr or "").lower():
            raise SetupError(f"umount {mountpoint}: {proc.stderr.strip()}")
        time.sleep(0.1)  # a container that was just removed may still hold it for a moment
    # Last resort: detach it from the tree now; the kernel frees it when the last user goes.
    log.warning("%s stayed busy: unmounting it lazily", mountpoint)
    _run(["umount", "-l", str(mountpoint)], f"unmounting {mountpoint}")


def remove_volume(vol: LoopVolume) -> bool:
    """Unmount, detach, delete (each only if it is this volume's); True when nothing is left."""
    image = vol.image
    ours = set(loops_backed_by(image))
    if vol.device and _backing_file(vol.device) == str(image):
        ours.add(vol.device)
    source = mount_source(vol.mountpoint)
    if source is not None:
        if source not in ours:
            raise ForeignResource(f"refusing to unmount {vol.mountpoint}: {source} is mounted there, "
                                  f"not a loop device of {image}")
        _umount(vol.mountpoint)
    for device in sorted(ours):
        # Re-checked right before detaching: the device must still be backed by our image.
        if _backing_file(device) == str(image):
            proc = subprocess.run(["losetup", "-d", device], capture_output=True, text=True, check=False)
            if proc.returncode != 0 and _backing_file(device) == str(image):
                log.warning("losetup -d %s: %s", device, proc.stderr.strip())
    image.unlink(missing_ok=True)
    clean = True
    if vol.mountpoint.exists():
        if mount_source(vol.mountpoint) is None:
            shutil.rmtree(vol.mountpoint, ignore_errors=True)
        else:
            clean = False
    if clean:
        vol.state_file.unlink(missing_ok=True)
        vol.state_file.with_suffix(".json.tmp").unlink(missing_ok=True)
        _prune(vol.directory, Path(vol.root))
    return clean


def _prune(directory: Path, root: Path) -> None:
    """Remove empty folders from ``directory`` up to (not including) the root."""
    d = directory
    while d != root and root in d.parents:
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent


def list_volumes(root: Path | None = None) -> list[LoopVolume]:
    root = root or volumes_root()
    out = []
    for state in sorted(root.glob("*/*/*.json")):
        try:
            out.append(LoopVolume.load(state))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("unreadable volume state %s: %s", state, exc)
    return out


def _remove_many(vols: Iterable[LoopVolume]) -> int:
    vols = list(vols)
    if not vols:
        return 0

    def one(v: LoopVolume) -> int:
        try:
            return 1 if remove_volume(v) else 0
        except Exception:
            log.exception("could not remove volume %s", v.image)
            return 0

    with ThreadPoolExecutor(max_workers=min(8, len(vols))) as pool:
        return sum(pool.map(one, vols))


def remove_volumes(run_id: str, scope: str | None = None, *, root: Path | None = None) -> int:
    """Remove the volumes of a run (of one scope of it); returns how many were removed."""
    return _remove_many(v for v in list_volumes(root)
                        if v.run_id == run_id and (scope is None or v.scope == scope))


def reap_volumes(*, everything: bool = False, root: Path | None = None,
                 alive: Callable[[int, int | None], bool] = pid_alive) -> int:
    """Remove volumes whose harness process is gone (every volume with ``everything``)."""
    from harness.labels import is_kept

    return _remove_many(v for v in list_volumes(root)
                        if everything or (not alive(v.pid, v.pid_start) and not is_kept(v.run_id)))


# -- using them ----------------------------------------------------------------------------------


def guard(path: Path) -> LoopVolume:
    """The harness volume mounted at ``path``; ForeignResource for anything else.

    Used before writing or deleting anything on a volume: the path must be a mount point
    under the volumes root, with a state file, mounted from a loop device backed by the
    recorded image.
    """
    path = Path(os.path.abspath(path))
    root = Path(os.path.abspath(volumes_root()))
    if root not in path.parents:
        raise ForeignResource(f"refusing to touch {path}: it is not under the harness volumes root {root}")
    state = path.parent / f"{path.name}.json"
    try:
        vol = LoopVolume.load(state)
    except (OSError, ValueError, TypeError):
        raise ForeignResource(f"refusing to touch {path}: no harness volume state beside it") from None
    if vol.mountpoint != path:
        raise ForeignResource(f"refusing to touch {path}: its state describes {vol.mountpoint}")
    source = mount_source(path)
    if source is None or _backing_file(source) != str(vol.image):
        raise ForeignResource(f"refusing to touch {path}: it is not mounted from the harness image {vol.image} "
                              f"(mounted: {source or 'nothing'})")
    return vol


def disk_usage(path: Path) -> DiskUsage:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return DiskUsage(total=total, used=(st.f_blocks - st.f_bfree) * st.f_frsize, avail=st.f_bavail * st.f_frsize)


def volume_metrics(volumes: Mapping[Kind, LoopVolume]) -> dict[str, float]:
    """``disk_data_pct``, ``disk_wal_pct`` and ``disk_max_pct`` of a node (the monitor's names)."""
    out: dict[str, float] = {}
    for kind, vol in volumes.items():
        try:
            out[f"disk_{kind}_pct"] = disk_usage(vol.mountpoint).percent
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
    if out:
        out["disk_max_pct"] = max(out.values())
    return out
