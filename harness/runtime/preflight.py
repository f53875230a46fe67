"""Checks before a topology is made, so a drill does not fail halfway for a reason known up front."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import SetupError

__all__ = ["check_host_disk"]


def check_host_disk(paths: list[Path], min_free_gb: float | None = None) -> None:
    """Refuse to start when a disk the run writes to is nearly full (HARNESS_MIN_FREE_GB, default 1)."""
    need = min_free_gb if min_free_gb is not None else float(os.environ.get("HARNESS_MIN_FREE_GB", "1"))
    for path in paths:
        p = path
        while not p.exists() and p != p.parent:
            p = p.parent
        free = shutil.disk_usage(p).free / 1024**3
        if free < need:
            raise SetupError(
                f"the host disk is nearly full: {free:.2f} GiB free on {p} (for {path}), the harness needs "
                f"{need:g} GiB to start a topology; free some space (docker system prune, harness clean) "
                "or lower HARNESS_MIN_FREE_GB"
            )
