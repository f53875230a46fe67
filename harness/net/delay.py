"""Start, stop and reap the NFQUEUE delayer processes (see :mod:`harness.net.delayer`).

A delayer runs on the host inside a node's network namespace, so it is not removed with the
node's container. Three things make sure none outlives its fault:

- the fault's heal stops it (SIGTERM, then SIGKILL);
- it watches the harness process that started it and exits when that is gone;
- it leaves a pidfile under ``/run/pgharness/`` naming its owner: :func:`reap_delayers`
  (called before every new delayer starts) kills those whose owner is dead.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import SetupError
from harness.labels import process_alive
from harness.net.netns import NetNS

__all__ = ["DELAYER", "Delayer", "DelayerRecord", "pid_dir", "reap_delayers"]

log = logging.getLogger(__name__)

DELAYER = Path(__file__).with_name("delayer.py")


def pid_dir() -> Path:
    return Path(os.environ.get("HARNESS_PID_DIR", "/run/pgharness"))


@dataclass(frozen=True)
class DelayerRecord:
    """What a pidfile says: enough for a later run to find and kill a leftover delayer."""

    pid: int
    owner: int  # the harness process that started it
    run_id: str
    node: str
    queue: int
    started: float  # wall clock

    @classmethod
    def load(cls, path: Path) -> DelayerRecord:
        d = json.loads(path.read_text())
        return cls(int(d["pid"]), int(d["owner"]), str(d["run_id"]), str(d["node"]), int(d["queue"]),
                   float(d["started"]))


def _is_delayer(pid: int) -> bool:
    """The pid still runs our delayer (not a process that reused the number)."""
    try:
        return DELAYER.name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _terminate(pid: int, grace: float = 2.0) -> None:
    if not _is_delayer(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)  # it lets go of the packets it holds, then exits
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not process_alive(pid) or not _is_delayer(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reap_delayers(*, everything: bool = False) -> int:
    """Kill delayers whose harness process is gone (all of them with ``everything``)."""
    d = pid_dir()
    if not d.is_dir():
        return 0
    n = 0
    for f in sorted(d.glob("delayer-*.json")):
        try:
            rec = DelayerRecord.load(f)
        except (OSError, ValueError, KeyError):
            f.unlink(missing_ok=True)
            continue
        if everything or not process_alive(rec.owner):
            if process_alive(rec.pid) and _is_delayer(rec.pid):
                log.info("reaping delayer %d of run %s on %s", rec.pid, rec.run_id, rec.node)
                _terminate(rec.pid)
                n += 1
            f.unlink(missing_ok=True)
            f.with_suffix(".log").unlink(missing_ok=True)
    return n


class Delayer:
    """One delayer process bound to ``queue`` in ``netns``."""

    def __init__(self, netns: NetNS, *, run_id: str, fault_id: str, queue: int, delay_s: float,
                 jitter_s: float, seed: int | None = None) -> None:
        self.netns, self.run_id, self.fault_id, self.queue = netns, run_id, fault_id, queue
        self.delay_s, self.jitter_s, self.seed = delay_s, jitter_s, seed
        self.proc: subprocess.Popen[bytes] | None = None
        self.pidfile = pid_dir() / f"delayer-{run_id}-{fault_id}.json"

    def start(self, timeout: float = 10) -> int:
        reap_delayers()
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        logfile = self.pidfile.with_suffix(".log")
        cmd = [sys.executable, "-I", "-S", str(DELAYER), "--queue", str(self.queue),
               "--delay-ms", f"{self.delay_s * 1000:g}", "--jitter-ms", f"{self.jitter_s * 1000:g}",
               "--owner", str(os.getpid())]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        with logfile.open("wb") as err:
            # nsenter execs the delayer in place (no fork for a network namespace): same pid.
            self.proc = subprocess.Popen(self.netns.argv(cmd), stdout=subprocess.PIPE, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        rec = DelayerRecord(self.proc.pid, os.getpid(), self.run_id, self.netns.name, self.queue, time.time())
        self.pidfile.write_text(json.dumps(asdict(rec)))
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.stop()
            raise SetupError(f"the delayer on {self.netns.name} did not start: "
                             f"{line.decode(errors='replace')}{logfile.read_text(errors='replace')[-1500:]}")
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                _terminate(self.proc.pid)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.pidfile.unlink(missing_ok=True)
        self.pidfile.with_suffix(".log").unlink(missing_ok=True)
