"""The pgBackRest repository of one drill: a host directory bind-mounted into every node.

Why a host directory: the repository must outlive the primary (and any node), every node
(the primary archiving, the fresh restore node) must see the same files, and pgBackRest's
own remote repository needs SSH or TLS certificates between containers. A bind mount at the
same path (``REPO_PATH``) gives all of that with plain ``repo1-path``. It lives under
``/var/lib/pgharness/backups/<run>/<scope>``; a state file beside it records the run and the
harness pid so :func:`reap_repositories` removes the repositories of runs that died.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.runtime.docker import DockerNode, DockerRuntime
from harness.runtime.hostdirs import HOST_ROOT, create_host_dir, reap_host_dirs, remove_host_dir, state_file, write_state
from harness.runtime.volumes import LoopVolume, create_volume, remove_volume

__all__ = ["BACKUP_ROOT", "REPO_PATH", "STANZA", "BackupRuntime", "Repository", "archive_settings",
           "pgbackrest_config", "pgbackrest_options", "reap_repositories"]

log = logging.getLogger(__name__)

BACKUP_ROOT = HOST_ROOT
REPO_PATH = "/var/lib/pgbackrest"  # the same path in every node
STANZA = "main"
PGDATA = "/var/lib/postgresql/data"


CONFIG = "/etc/pgbackrest/pgbackrest.conf"


def pgbackrest_config(stanza: str = STANZA, *, compress_type: str = "gz", repo_lines: str | None = None) -> str:
    """The node's pgbackrest.conf (a file, not flags: options a command does not take are ignored there).

    ``repo_lines``: repo1's options instead of the mounted folder (an S3 repository, :mod:`.s3`)."""
    repo = repo_lines if repo_lines is not None else f"repo1-path={REPO_PATH}\n"
    return (f"[global]\n{repo}repo1-retention-full=99\nstart-fast=y\n"
            f"compress-type={compress_type}\n"
            "log-level-console=warn\nlog-level-stderr=error\nlog-level-file=off\n"
            f"[{stanza}]\npg1-path={PGDATA}\n")


def pgbackrest_options(stanza: str = STANZA) -> list[str]:
    return [f"--stanza={stanza}"]


def archive_settings(stanza: str = STANZA, *, archive_timeout_s: float = 60) -> dict[str, str]:
    """postgresql.conf lines that archive every WAL segment into the repository from the first start."""
    cmd = " ".join(["pgbackrest", *pgbackrest_options(stanza), "archive-push", "%p"])
    # archive_timeout bounds how old the newest archived WAL can be when the primary is lost.
    return {"archive_mode": "on", "archive_command": cmd, "archive_timeout": f"{int(archive_timeout_s)}s"}


@dataclass(frozen=True)
class Repository:
    run_id: str
    scope: str
    host_path: Path
    volume: LoopVolume | None = None  # its own size-limited filesystem, when a size was asked for

    @classmethod
    def create(cls, run_id: str, scope: str, root: Path | None = None, *, size_mb: int | None = None) -> Repository:
        """A fresh repository folder; with ``size_mb``, on a loop-mounted ext4 volume of that size.

        The volume is one of the run's volumes (node name ``repo``): the runtime's teardown and
        the volume reaper remove it like the nodes' own.
        """
        volume: LoopVolume | None = None
        if size_mb is not None:
            volume = create_volume(run_id, scope, "repo", "data", size_mb)
            path = volume.bind_source
            write_state(path, run_id, scope)
        else:
            path = create_host_dir(run_id, scope, root)  # the reaper finds it by its state file
        # The container's postgres user owns it after the first node chowns it; until then
        # anyone may write (archive-push retries meanwhile).
        path.chmod(0o777)
        return cls(run_id, scope, path, volume)

    @property
    def state_file(self) -> Path:
        return state_file(self.host_path)

    def remove(self) -> None:
        if self.volume is not None:  # (normally gone already with the run's other volumes)
            remove_volume(self.volume)
            return
        remove_host_dir(self.host_path)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.host_path.rglob("*") if p.is_file())


def reap_repositories(*, everything: bool = False, root: Path | None = None) -> int:
    """Remove repositories whose harness process is gone (all with ``everything``); returns how many.
    (The runtime's reaper does this on every start: see :mod:`harness.runtime.hostdirs`.)"""
    return reap_host_dirs(everything=everything, root=root)


class BackupRuntime(DockerRuntime):
    """The Docker runtime, with the drill's repository mounted at ``REPO_PATH`` in every node.

    Teardown removes the repository after the containers (nothing writes to it any more).
    """

    def __init__(self, run_id: str, scope: str, repo: Repository, config: str | None = None) -> None:
        super().__init__(run_id, scope, extra_binds={str(repo.host_path): REPO_PATH})
        self.repo = repo
        self.config = config if config is not None else pgbackrest_config()

    def create_node(self, name: str, *, image: str, env: Mapping[str, str], **options: Any) -> DockerNode:
        node = super().create_node(name, image=image, env=env, **options)  # volumes, network, ...
        if "HARNESS_SERVICE" in env:  # a service beside the nodes (the S3 endpoint): no pgBackRest in it
            return node
        # Until this is written archive-push fails, and PostgreSQL retries it.
        node.exec(["sh", "-c", f'mkdir -p /etc/pgbackrest && printf %s "$0" > {CONFIG} && chmod 644 {CONFIG} '
                   f"&& chown postgres:postgres {REPO_PATH}", self.config], user="root", timeout=10)
        return node

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.repo.remove()
