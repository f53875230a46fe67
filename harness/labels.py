"""Labels carried by every resource the harness makes; the reaper and the safety guard key on them."""

from __future__ import annotations

import datetime as _dt
import os
import secrets

__all__ = ["NODE", "OWNER", "PREFIX", "ROLE", "RUN", "new_run_id", "owner_labels"]

PREFIX = "io.pgharness"
OWNER = f"{PREFIX}.owner"  # always "pgharness": the guard refuses anything without it
RUN = f"{PREFIX}.run"  # the run id
NODE = f"{PREFIX}.node"  # the node's name within its topology
ROLE = f"{PREFIX}.kind"  # node | network | volume
SCOPE = f"{PREFIX}.scope"  # one topology within a run (a scenario)
PID = f"{PREFIX}.pid"  # the harness process that made it (to tell live runs from dead ones)


def new_run_id() -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def owner_labels(run_id: str, kind: str) -> dict[str, str]:
    return {OWNER: "pgharness", RUN: run_id, ROLE: kind, PID: str(os.getpid())}
