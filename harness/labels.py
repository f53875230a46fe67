"""Labels carried by every resource the harness makes; the reaper and the safety guard key on them."""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from pathlib import Path

__all__ = [
    "process_alive",
    "keep",
    "unkeep",
    "is_kept",
    "kept_runs","NODE", "OWNER", "PREFIX", "ROLE", "RUN", "new_run_id", "owner_labels"]

PREFIX = "io.pgharness"
OWNER = f"{PREFIX}.owner"  # always "pgharness": the guard refuses anything without it
RUN = f"{PREFIX}.run"  # the run id
NODE = f"{PREFIX}.node"  # the node's name within its topology
ROLE = f"{PREFIX}.kind"  # node | network | volume
SCOPE = f"{PREFIX}.scope"  # one topology within a run (a scenario)
PID = f"{PREFIX}.pid"  # the harness process that made it (to tell live runs from dead ones)


KEPT_DIR_DEFAULT = "/var/lib/pgharness/kept"


def _kept_dir() -> Path:
    return Path(os.environ.get("HARNESS_KEPT_DIR", KEPT_DIR_DEFAULT))


def keep(run_id: str, why: str) -> None:
    """Mark a run as kept on purpose (`harness up`, `--keep`): the reaper leaves it alone."""
    d = _kept_dir()
    d.mkdir(parents=True, exist_ok=True)
    (d / run_id).write_text(why + "\n")


def unkeep(run_id: str) -> None:
    (_kept_dir() / run_id).unlink(missing_ok=True)


def is_kept(run_id: str) -> bool:
    return bool(run_id) and (_kept_dir() / run_id).exists()


def kept_runs() -> list[str]:
    d = _kept_dir()
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def process_alive(pid: object) -> bool:
    """Does a process with this pid exist (an owner label or state file says who made a resource)?"""
    if isinstance(pid, str):
        pid = int(pid) if pid.isdigit() else 0
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_run_id() -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def owner_labels(run_id: str, kind: str) -> dict[str, str]:
    return {OWNER: "pgharness", RUN: run_id, ROLE: kind, PID: str(os.getpid())}
