"""Background load with locust, in its own process (never inside pytest's: gevent must patch
the standard library before psycopg is imported, and it would patch pytest's too).

The harness keeps the load pointed at the primary by rewriting an endpoint file, and reads
the per-second latency buckets the load writes into the history as ``LoadSample`` events.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness import resources
from harness.errors import EnvironmentFileError, SetupError
from harness.history import History, LoadSample, Stamp
from harness.topology.pg import sql

__all__ = ["LoadProcess", "LoadProfile", "create_schema", "load_profiles"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


class LoadProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reads: int = Field(ge=0)
    writes: int = Field(ge=0)
    user_rate: float = Field(default=5, gt=0, le=1000)


def load_profiles(path: Path | None = None) -> dict[str, LoadProfile]:
    """The load profiles: the project's ``environments/load/profiles.yaml``, else the built-in one.

    Read when a load starts, never at import: a broken file fails the scenario that uses it."""
    path = path or resources.load_profiles_file()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return {str(k): LoadProfile.model_validate(v) for k, v in (data or {}).get("profiles", {}).items()}
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise EnvironmentFileError(str(path), [str(exc)]) from exc



def create_schema(host: str, accounts: int = 10000) -> None:
    """pgbench-like tables (accounts with balances, and a history of changes)."""
    sql(host, "CREATE TABLE IF NOT EXISTS pgbench_accounts (aid int PRIMARY KEY, abalance int NOT NULL DEFAULT 0)")
    sql(host, "CREATE TABLE IF NOT EXISTS pgbench_history (aid int, delta int, mtime timestamptz)")
    sql(host, "INSERT INTO pgbench_accounts (aid) SELECT g FROM generate_series(1, %s) g ON CONFLICT DO NOTHING",
        (accounts,), timeout=60)


class LoadProcess:
    def __init__(self, history: History, directory: Path, endpoint: Callable[[], str | None], *, profile: str,
                 users: int, ramp_s: float, max_duration_s: float, accounts: int = 10000) -> None:
        profiles_file = resources.load_profiles_file()
        profiles = load_profiles(profiles_file)
        if profile not in profiles:
            raise SetupError(f"unknown load profile {profile!r}: one of {', '.join(profiles)} ({profiles_file})")
        self.weights = profiles[profile]
        self.history, self.directory, self.endpoint = history, directory, endpoint
        self.profile, self.users, self.ramp_s = profile, users, ramp_s
        self.max_duration_s, self.accounts = max_duration_s, accounts
        self.user_rate = self.weights.user_rate
        self.endpoint_file = directory / "load-endpoint"
        self.out = directory / "load.jsonl"
        self.log = directory / "load.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._offset = 0
        self._last_endpoint = ""
        self._lock = threading.Lock()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_endpoint()
        self.out.write_text("")
        rate = max(0.1, self.users / self.ramp_s) if self.ramp_s > 0 else float(self.users)
        env = dict(os.environ, HARNESS_LOAD_ENDPOINT=str(self.endpoint_file), HARNESS_LOAD_OUT=str(self.out),
                   HARNESS_LOAD_PROFILE=self.profile, HARNESS_LOAD_ACCOUNTS=str(self.accounts),
                   HARNESS_LOAD_READS=str(self.weights.reads), HARNESS_LOAD_WRITES=str(self.weights.writes),
                   HARNESS_LOAD_USER_RATE=str(self.user_rate))
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(self.users),
               "-r", f"{rate:g}", "--run-time", f"{int(self.max_duration_s)}s", "--stop-timeout", "3",
               "--only-summary", "--loglevel", "WARNING"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._thread = threading.Thread(target=self._follow, name="load-follower", daemon=True)
        self._thread.start()

    def _write_endpoint(self) -> None:
        ep = self.endpoint()
        if ep and ep != self._last_endpoint:
            tmp = self.endpoint_file.with_suffix(".tmp")
            tmp.write_text(ep)
            tmp.replace(self.endpoint_file)  # atomic: users never read half a name
            self._last_endpoint = ep

    def point_at_primary(self) -> None:
        """Rewrite the endpoint now (after a failover), instead of at the next poll."""
        with self._lock:
            self._write_endpoint()

    def _follow(self) -> None:
        while not self._stop.wait(0.05):
            try:
                with self._lock:
                    self._write_endpoint()
            except Exception:  # noqa: BLE001 - the primary may be between lives; try again
                pass
            self._read()

    def _read(self) -> None:
        try:
            with self.out.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        # Locust stamps with the wall clock; place each bucket on the monotonic axis too.
        offset = time.time() - time.monotonic()
        for line in chunk[:end].splitlines():
            rec = json.loads(line)
            wall = float(rec["wall"])
            self.history.add(LoadSample(at=Stamp(t=wall - offset, wall=wall), name=rec["name"],
                                        count=int(rec["count"]), failures=int(rec["failures"]),
                                        requests=[(float(a), float(b), int(c)) for a, b, c in rec["req"]],
                                        errors={str(k): int(v) for k, v in rec["errors"].items()}))

    # A drill part (the drill's "background load"): stopped on close.
    def __enter__(self) -> LoadProcess:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def users_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._read()
