"""Host folders a run owns (a backup repository bind-mounted into its nodes).

Each folder has a state file beside it naming its run, scope and harness pid, so the reaper
(:func:`harness.runtime.docker.reap`) removes the folders of runs whose process died, as it
removes their containers, networks and loop volumes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from harness import labels

__all__ = ["HOST_ROOT", "create_host_dir", "reap_host_dirs", "remove_host_dir", "state_file", "write_state"]

HOST_ROOT = Path(os.environ.get("HARNESS_BACKUP_ROOT", "/var/lib/pgharness/backups"))


def state_file(path: Path) -> Path:
    return path.with_name(path.name + ".state")


def write_state(path: Path, run_id: str, scope: str) -> None:
    state_file(path).write_text(json.dumps({"run": run_id, "scope": scope, "pid": os.getpid()}) + "\n")


def create_host_dir(run_id: str, scope: str, root: Path | None = None) -> Path:
    """An empty ``<root>/<run>/<scope>`` (a replaced topology of the same scenario starts afresh)."""
    path = (root or HOST_ROOT) / run_id / scope
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    write_state(path, run_id, scope)
    return path


def remove_host_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    state_file(path).unlink(missing_ok=True)
    try:
        path.parent.rmdir()  # the run's folder, once its last scope is gone
    except OSError:
        pass


def reap_host_dirs(*, everything: bool = False, root: Path | None = None) -> int:
    """Remove folders whose harness process is gone (all with ``everything``); returns how many."""
    base = root or HOST_ROOT
    if not base.is_dir():
        return 0
    removed = 0
    for state in sorted(base.glob("*/*.state")):
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            data = {}
        run = str(data.get("run", state.parent.name))
        if not everything and (labels.process_alive(data.get("pid")) or labels.is_kept(run)):
            continue
        remove_host_dir(state.with_suffix(""))
        removed += 1
    return removed
