"""The S3 repository of one drill, as a drill part (``drill.part(S3Part)``).

:class:`~harness.backup.session.BackupSession` asks it for repo1's options before the
topology's runtime exists (:meth:`S3Part.prepare`) and starts the run's own endpoint on that
runtime (:meth:`S3Part.start`); the faults on the endpoint go through ``drill.apply``. While
a fault is on, and until the drill ends, a sampler records the primary's archiver state every
half second as ``ArchiveBacklog`` events; its result section (``s3_repository``) holds the
repository, the backlog around each fault (:func:`~harness.checkers.archive.backlog_windows`),
the backup success rate and the restores.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import psycopg
from pydantic import BaseModel, ConfigDict

from harness.backup.repo import REPO_PATH, Repository
from harness.backup.s3 import (
    CA_NAME,
    EndpointDown,
    EndpointErrors,
    EndpointFrozen,
    EndpointSlow,
    S3Endpoint,
    S3Repo,
    TlsFiles,
    external_repo,
    local_repo_lines,
    make_tls,
)
from harness.checkers.archive import BacklogWindow, backlog_windows
from harness.checkers.backup import BACKUP_ACTIONS, backup_stats
from harness.drill import Drill
from harness.errors import CommandFailed, HarnessError, SetupError
from harness.faults.base import Fault
from harness.history import ActionEvent, ArchiveBacklog, now
from harness.parts import PartBase
from harness.runtime.docker import DockerRuntime
from harness.secrets import redact
from harness.topology.pg import sql

__all__ = ["S3Part", "S3RepositorySection", "archive_backlog", "pgbackrest_error"]

SAMPLE_INTERVAL_S = 0.5

_BACKLOG = ("SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), coalesce(last_failed_wal, ''), "
            "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE right(name, 6) = '.ready') FROM pg_stat_archiver")


def archive_backlog(address: str, node: str) -> ArchiveBacklog:
    """The archiver of ``node`` now: pg_stat_archiver and the ``.ready`` files of pg_wal/archive_status."""
    row = sql(address, _BACKLOG, timeout=2)[0]
    return ArchiveBacklog(at=now(), node=node, archived_count=int(row[0]), failed_count=int(row[1]),
                          last_archived_wal=str(row[2]), last_failed_wal=str(row[3]), ready=int(row[4]))


_S3_ERROR = re.compile(r"<Code>([^<]+)</Code>\s*<Message>([^<]*)</Message>")


def pgbackrest_error(output: str, exit_code: int) -> str:
    """pgBackRest's first ERROR line, with the S3 error code and message it quotes (NoSuchBucket, ...)."""
    lines = [ln.strip() for ln in output.splitlines() if "ERROR" in ln] or output.strip().splitlines()[-1:]
    first = (lines[0] if lines else f"exit {exit_code}").rstrip(":")[:300]
    s3 = _S3_ERROR.search(output)
    return first + (f": {s3.group(1)}: {s3.group(2)}" if s3 else "")


class S3RepositorySection(BaseModel):
    model_config = ConfigDict(frozen=True)
    repository: str  # where (no keys)
    own_endpoint: bool  # the run's moto endpoint, not one the environment names
    faults: list[BacklogWindow]
    backups_attempted: int
    backups_succeeded: int
    backup_success_rate: float | None
    restores: int
    restores_ok: int


class S3Part(PartBase):
    """The drill's S3 repository: its endpoint (when the run's own), faults and backlog sampler."""

    section = "s3_repository"

    def __init__(self, drill: Drill) -> None:
        self.drill = drill
        self.repo: S3Repo | None = None
        self.endpoint: S3Endpoint | None = None
        self._tls: TlsFiles | None = None
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    @classmethod
    def for_drill(cls, drill: Drill) -> S3Part:
        return cls(drill)

    @classmethod
    def of(cls, drill: Drill) -> S3Part:
        return drill.part(cls)

    # -- setup -------------------------------------------------------------------------------

    def prepare(self, repository: Repository) -> str:
        """repo1's options for pgbackrest.conf; the CA the nodes verify with goes into ``repository``
        (the folder mounted at REPO_PATH in every node)."""
        d = self.drill
        cfg = d.env.backup.s3
        ca_host = repository.host_path / CA_NAME
        ca_node = f"{REPO_PATH}/{CA_NAME}"
        if cfg is None:
            self._tls = make_tls()
            ca_host.write_text(self._tls.ca_pem)
            ca_host.chmod(0o644)
            self.repo, lines = local_repo_lines(ca_node)
        else:
            ca: str | None = None
            if cfg.ca_file is not None:
                src = Path(cfg.ca_file)
                if not src.is_file():
                    raise SetupError(f"backup.s3.ca_file: {src} is not a file")
                shutil.copyfile(src, ca_host)
                ca_host.chmod(0o644)
                ca = ca_node
            self.repo, lines = external_repo(cfg, d.run_id, d.scope, ca)
        d.history.note("backup.repository", f"pgBackRest repo1 in S3: {self.repo.describe()}")
        return lines

    def start(self, runtime: DockerRuntime) -> None:
        """Start the run's own endpoint and create its bucket (nothing to start for a real one)."""
        if self._tls is None:
            return
        t0 = now()
        self.endpoint = S3Endpoint(runtime, self._tls)
        self.endpoint.start()
        self.drill.history.add(ActionEvent(at=t0, end=now(), action="s3.endpoint", target="s3", outcome="ok",
                                           detail="endpoint up, TLS verified from the host, bucket created"))

    def unusable(self, exc: CommandFailed) -> SetupError:
        """One line for a repository pgBackRest cannot use (no such bucket, unreachable, refused keys)."""
        where = self.repo.describe() if self.repo else "the S3 repository"
        return SetupError(redact(f"{where}: pgbackrest {exc.command.split()[-1]} failed: "
                                 f"{pgbackrest_error(exc.output, exc.exit_code)}"))

    # -- faults ------------------------------------------------------------------------------

    def own_endpoint(self, what: str) -> S3Endpoint:
        if self.endpoint is None:
            if self.repo is not None and not self.repo.local:
                raise SetupError(f"{what}: only on the run's own S3 endpoint (backup.s3 names a real one, "
                                 "which the harness never breaks)")
            raise SetupError(f"{what}: no S3 repository (say 'Given WAL archiving to an S3 repository' first)")
        return self.endpoint

    def _apply(self, fault: Fault) -> Fault:
        self.start_sampling()
        self.drill.apply(fault)
        return fault

    def down(self) -> Fault:
        return self._apply(EndpointDown(self.own_endpoint("the S3 endpoint down")))

    def freeze(self) -> Fault:
        return self._apply(EndpointFrozen(self.own_endpoint("the S3 endpoint frozen")))

    def slow(self, delay_s: float, jitter_s: float = 0.0) -> Fault:
        return self._apply(EndpointSlow(self.drill.cluster, self.own_endpoint("latency on the S3 endpoint"),
                                        delay_s, jitter_s))

    def errors(self, percent: int) -> Fault:
        return self._apply(EndpointErrors(self.own_endpoint("errors from the S3 endpoint"), percent))

    # -- the archiver's backlog --------------------------------------------------------------

    def sample(self) -> ArchiveBacklog:
        """The primary's archiver now, recorded in the history."""
        c = self.drill.cluster
        return self.drill.history.add(archive_backlog(c.address(c.primary), c.primary))

    def wake_archiver(self) -> None:
        """Switch WAL on the primary: its archiver, backing off for a minute after three failed
        attempts, retries now (as an operator who repaired the repository would make it)."""
        c = self.drill.cluster
        try:
            sql(c.address(c.primary), "SELECT pg_switch_wal()", timeout=5)
            self.drill.history.note("s3.wake_archiver", "WAL switched on the primary: the archiver retries now")
        except (psycopg.Error, OSError, HarnessError) as exc:
            self.drill.history.note("s3.wake_archiver", f"WAL switch failed ({exc}): the archiver retries within 60 s")

    def start_sampling(self) -> None:
        if self._sampler is not None:
            return
        self.sample()  # the state before the first fault (raises if the primary does not answer)

        def loop() -> None:
            while not self._stop.wait(SAMPLE_INTERVAL_S):
                try:
                    self.sample()
                except (psycopg.Error, OSError, HarnessError):
                    continue  # the primary does not answer now: no sample, never a made-up one

        self._sampler = threading.Thread(target=loop, name="archive-backlog", daemon=True)
        self._sampler.start()

    def close(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)

    # -- the result --------------------------------------------------------------------------

    def result_section(self) -> S3RepositorySection | None:
        if self.repo is None:
            return None
        events = self.drill.history.events()
        stats = backup_stats(events)
        actions = self.drill.history.of(ActionEvent)
        attempts = [e for e in actions if e.action in BACKUP_ACTIONS]
        restores = [e for e in actions if e.action == "restore.decision"]
        verified = {e.target for e in actions if e.action == "restore.verify" and e.outcome == "ok"}
        return S3RepositorySection(
            repository=self.repo.describe(), own_endpoint=self.repo.local, faults=backlog_windows(events),
            backups_attempted=len(attempts), backups_succeeded=stats.succeeded,
            backup_success_rate=stats.success_rate, restores=len(restores),
            restores_ok=sum(1 for r in restores if r.target in verified))
