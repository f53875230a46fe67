"""The consoles every ``harness`` command prints to (logs and CI have no terminal width: a
table folded to 80 columns is unreadable there)."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console", "err"]

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)
