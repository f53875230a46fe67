"""Faults on the backup side: a corrupted backup file, an unwritable WAL archive, a full repository.

Each is a :class:`~harness.faults.base.Fault` (``drill.apply``), healed on exit no matter what:

- :class:`CorruptBackup` flips 64 bytes in the middle of the largest data file of one backup
  set in the repository (on the host); heal writes the original bytes back. pgBackRest keeps
  a checksum of every file in the set's manifest, so ``pgbackrest verify`` reports the set
  ``invalid``, and a restore of it fails while decompressing (zlib "data error").
- :class:`BreakArchivePush` makes the repository's WAL archive read-only (every folder of
  ``archive/<stanza>`` mode 0555, as a repository mount gone read-only would): archive-push,
  run by ``postgres``, can no longer write a segment, PostgreSQL keeps the segments ``.ready``
  in ``pg_wal`` and retries. Heal restores the modes and switches WAL on the primary so the
  archiver retries at once instead of after its 60 s back-off.
- :class:`FillRepository` fills the repository's own size-limited volume with a ballast file
  (the disk faults' :func:`~harness.faults.disk.fill_volume`); heal deletes the ballast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.backup.repo import STANZA, Repository
from harness.errors import SetupError
from harness.faults.disk import fill_volume, free_volume
from harness.faults.postgres import format_size
from harness.runtime.volumes import disk_usage

__all__ = ["BreakArchivePush", "CorruptBackup", "FillRepository"]

_FLIP = 64  # bytes changed: enough to break a compressed block and any checksum


class CorruptBackup:
    """One data file of backup set ``label`` damaged in the repository."""

    name = "backup-corruption"
    one_shot = False

    def __init__(self, repo: Repository, label: str) -> None:
        self.repo, self.target = repo, label
        self.file: Path | None = None
        self.offset = 0
        self.original = b""

    def _victim(self) -> Path:
        pg_data = self.repo.host_path / "backup" / STANZA / self.target / "pg_data"
        files = [p for p in pg_data.rglob("*") if p.is_file() and p.stat().st_size > 2 * _FLIP]
        if not files:
            raise SetupError(f"backup set {self.target} holds no data file to corrupt (under {pg_data})")
        # The largest file: a table's, stored in this very set (an incremental set stores only
        # what changed; the rest it references in older sets).
        return max(files, key=lambda p: (p.stat().st_size, str(p)))

    def inject(self) -> str:
        path = self._victim()
        size = path.stat().st_size
        self.offset = size // 2
        with open(path, "r+b") as f:
            f.seek(self.offset)
            self.original = f.read(_FLIP)
            f.seek(self.offset)
            f.write(bytes(b ^ 0xFF for b in self.original))  # every byte differs from what it was
        self.file = path
        rel = path.relative_to(self.repo.host_path)
        return f"{_FLIP} bytes at offset {self.offset} of {rel} ({format_size(size)}) inverted in backup {self.target}"

    def heal(self) -> str:
        if self.file is None:
            return f"backup {self.target} was not corrupted"
        path, self.file = self.file, None
        if not path.exists():  # expired by a retention policy meanwhile
            return f"{path.name} of backup {self.target} is gone (expired): nothing to repair"
        with open(path, "r+b") as f:
            f.seek(self.offset)
            f.write(self.original)
        return f"original bytes of {path.name} written back in backup {self.target}"


class BreakArchivePush:
    """The repository's WAL archive made read-only: ``archive_command`` (archive-push) fails."""

    name = "archive-push-failure"
    one_shot = False

    def __init__(self, repo: Repository, target: str, switch_wal: Callable[[], object]) -> None:
        self.repo, self.target, self.switch_wal = repo, target, switch_wal
        self.modes: dict[Path, int] = {}

    def inject(self) -> str:
        root = self.repo.host_path / "archive" / STANZA
        if not root.is_dir():
            raise SetupError(f"no WAL archive at {root}: the stanza is not created yet (take a backup first)")
        dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
        for d in dirs:
            self.modes[d] = d.stat().st_mode & 0o7777
            d.chmod(0o555)
        return f"{len(dirs)} folders of the WAL archive {root.relative_to(self.repo.host_path)} made read-only"

    def heal(self) -> str:
        if not self.modes:
            return "the WAL archive was not broken"
        modes, self.modes = self.modes, {}
        for d, mode in sorted(modes.items(), key=lambda kv: str(kv[0])):
            if d.exists():
                d.chmod(mode)
        try:
            self.switch_wal()  # wakes the archiver now (it backs off for a minute after failures)
            woke = "; WAL switched to wake the archiver"
        except Exception as exc:  # noqa: BLE001 - the archiver retries by itself within a minute
            woke = f"; WAL switch failed ({exc}), the archiver retries within 60 s"
        return f"modes of {len(modes)} archive folders restored{woke}"


class FillRepository:
    """The repository's volume filled to full with a ballast file beside (not in) the repository."""

    name = "repository-full"
    one_shot = False

    def __init__(self, repo: Repository) -> None:
        if repo.volume is None:
            raise SetupError("the repository has no volume of its own: say "
                             "'Given WAL archiving to a pgBackRest repository of 64 MB'")
        self.repo, self.target = repo, "repository"
        self.filled = False

    def inject(self) -> str:
        assert self.repo.volume is not None
        added = fill_volume(self.repo.volume)
        self.filled = True
        return f"repository volume filled: {format_size(added)} of ballast, {disk_usage(self.repo.volume.mountpoint)}"

    def heal(self) -> str:
        if not self.filled or self.repo.volume is None:
            return "the repository was not filled"
        freed = free_volume(self.repo.volume)
        self.filled = False
        return f"ballast of {format_size(freed)} removed from the repository volume"
