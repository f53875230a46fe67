"""Topology definitions: validated YAML files under ``environments/``.

A bad file is reported with the file, the line and the field, e.g.
``environments/x.yaml:7: topology.replicas: Input should be greater than or equal to 0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.checkers.targets import Targets
from harness import resources
from harness.errors import EnvironmentFileError

__all__ = [
    "ENVIRONMENTS_DIR",
    "BackupSection",
    "Environment",
    "ProbeSettings",
    "TopologySpec",
    "VolumeSettings",
    "default_environment",
    "load_environment",
]

# The built-in environment files (package data); a project's own come first by name (resources).
ENVIRONMENTS_DIR = resources.builtin_dir("environments")
DEFAULT_ENVIRONMENT = "streaming"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopologySpec(_Strict):
    kind: Literal["streaming"] = "streaming"
    replicas: int = Field(default=2, ge=0, le=8)
    replication: Literal["async", "sync"] = "async"
    # With sync replication: how many standbys must confirm each commit (ANY n of them).
    sync_quorum: int = Field(default=1, ge=1)
    # Extra postgresql.conf settings for every node.
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _quorum_fits(self) -> TopologySpec:
        if self.replication == "sync" and self.replicas > 0 and self.sync_quorum > self.replicas:
            raise ValueError(f"sync_quorum {self.sync_quorum} is more than the {self.replicas} replicas")
        if self.replication == "sync" and self.replicas == 0:
            raise ValueError("sync replication needs at least one replica")
        return self


class ProbeSettings(_Strict):
    table: str = Field(default="probe", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    interval_ms: float = Field(default=50, gt=0, le=60_000)
    # An attempt that gets no answer in this time is recorded as a timeout (indeterminate).
    timeout_ms: float = Field(default=1000, gt=0, le=600_000)
    # Before a measuring step closes the window, the probes must show this many successes in a
    # row (proof that writes "keep succeeding"), waiting at most settle_s for them.
    settle_ops: int = Field(default=5, ge=1, le=1000)
    settle_s: float = Field(default=30, ge=0)
    # Safety bound: a probe never runs longer than this, whatever the scenario does.
    max_duration_s: float = Field(default=3600, gt=0)


class MonitorSettings(_Strict):
    enabled: bool = True
    interval_s: float = Field(default=1.0, gt=0, le=60)
    timeout_s: float = Field(default=1.0, gt=0, le=60)


class VolumeSettings(_Strict):
    """Every node's PGDATA and pg_wal on their own size-limited filesystems (loop-mounted ext4).

    Needed by the disk faults; sizes are small so a fill is quick, but big enough for the
    probe workload, a pg_basebackup rebuild and pg_rewind. With volumes, ``max_wal_size``
    defaults to a quarter of ``wal_mb`` (unless ``topology.settings`` sets it) so that normal
    checkpointing never fills the WAL disk by itself.
    """

    enabled: bool = True
    data_mb: int = Field(default=256, ge=96, le=1_048_576)
    wal_mb: int = Field(default=384, ge=64, le=1_048_576)


class PatroniSection(_Strict):
    """With this section the topology is Patroni + etcd (each field overridable by steps)."""

    nodes: int = Field(default=3, ge=1, le=5)
    etcd_members: Literal[1, 3, 5] = 1
    ttl: int = Field(default=10, ge=5)
    loop_wait: int = Field(default=1, ge=1)
    retry_timeout: int = Field(default=3, ge=1)
    synchronous_mode: bool = False
    maximum_lag_on_failover: int = Field(default=1048576, ge=0)
    use_pg_rewind: bool = True


class AuthSettings(_Strict):
    """The harness's connections from the host authenticate with a password (SCRAM-SHA-256).

    The file names an environment variable that holds the password; the password itself is
    never written in a file, and is masked in everything the harness writes (journal, logs,
    summaries, the Allure report). Streaming topologies only.
    """

    password_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class WanSettings(_Strict):
    """The WAN link between two regions (shaped on the router that joins them)."""

    latency_ms: float = Field(default=0, ge=0, le=10_000)  # round trip, as a ping across shows it
    jitter_ms: float = Field(default=0, ge=0, le=10_000)
    bandwidth: str | None = None  # "100 mbit/s", each direction; None: not limited
    loss_pct: float = Field(default=0, ge=0, lt=100)

    @model_validator(mode="after")
    def _sane(self) -> WanSettings:
        if self.jitter_ms > self.latency_ms:
            raise ValueError(f"jitter_ms {self.jitter_ms:g} is more than latency_ms {self.latency_ms:g}")
        if self.bandwidth is not None:
            from harness.net.rules import parse_rate

            parse_rate(self.bandwidth)  # a ValueError names the bad rate
        return self


class RegionsSection(_Strict):
    """With this section the topology is two regions, each its own Docker network."""

    primary: str = Field(default="east", pattern=r"^[a-z][a-z0-9]{0,11}$")  # the region of the primary
    standby: str = Field(default="west", pattern=r"^[a-z][a-z0-9]{0,11}$")  # the DR region
    primary_nodes: int = Field(default=2, ge=1, le=4)  # the primary and its local replicas
    standby_nodes: int = Field(default=1, ge=1, le=3)  # DR standbys, streaming across the WAN
    # sync: commits wait until the DR standby has applied them (remote_apply): no acknowledged
    # write is ever missing in the DR region, and a WAN cut stops writes.
    replication: Literal["async", "sync"] = "async"
    wan: WanSettings = WanSettings()

    @model_validator(mode="after")
    def _two(self) -> RegionsSection:
        if self.primary == self.standby:
            raise ValueError(f"the two regions need two names, not {self.primary!r} twice")
        return self


class BackupSection(_Strict):
    """The backup repository and WAL archiving of every drill that asks for one."""

    tool: Literal["pgbackrest", "basebackup"] = "pgbackrest"  # basebackup: pg_basebackup + a cp archive
    retention_full: int = Field(default=2, ge=1, le=99)  # full backups kept by "apply the retention policy"
    archive_timeout_s: float = Field(default=60, ge=1, le=3600)  # archive_timeout and pgBackRest's wait
    compress_type: Literal["gz", "lz4", "zst", "bz2", "none"] = "gz"
    repo_size_mb: int | None = Field(default=None, ge=64, le=1_048_576)  # its own volume of that size


class Environment(_Strict):
    name: str
    description: str = ""
    runtime: Literal["docker"] = "docker"
    image: str = "default"  # "default" = the image built from environments/images/node
    topology: TopologySpec = TopologySpec()
    probe: ProbeSettings = ProbeSettings()
    volumes: VolumeSettings = VolumeSettings()
    monitor: MonitorSettings = MonitorSettings()
    targets: Targets = Targets()
    patroni: PatroniSection | None = None  # a Patroni + etcd topology instead of streaming
    backup: BackupSection = BackupSection()
    regions: RegionsSection | None = None  # two regions joined by a WAN link
    auth: AuthSettings | None = None  # a password for the harness's own connections
    source: str = Field("", exclude=True)

    def with_topology(self, **changes: Any) -> Environment:
        data = self.topology.model_dump() | changes
        return self.model_copy(update={"topology": TopologySpec.model_validate(data)})


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk the YAML node tree along a pydantic error location to find its line (1-based)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def load_environment(path: str | Path) -> Environment:
    """Load and validate an environment file: a path, or a name (the project's
    ``environments/NAME.yaml`` first, then the built-in one)."""
    p = Path(path)
    # A name, or a path in the old repository layout (environments/NAME.yaml), is looked up by name.
    by_name = not p.suffix or (p.suffix in (".yaml", ".yml") and p.parent == Path("environments"))
    if not p.exists() and by_name:
        found = resources.environment(p.stem if p.suffix else str(path))
        if found is not None:
            p = found.path
    if not p.exists():
        known = ", ".join(f.name for f in resources.catalog("environments"))
        raise EnvironmentFileError(str(path), [f"no such environment file (known: {known})"])
    text = p.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise EnvironmentFileError(where, [str(getattr(exc, "problem", exc))]) from exc
    if not isinstance(data, dict):
        raise EnvironmentFileError(str(p), ["the file must be a mapping (name:, topology:, ...)"])
    data.setdefault("name", p.stem)
    try:
        env = Environment.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(root, loc)
            field = ".".join(str(x) for x in loc) or "(top level)"
            problems.append(f"{p}:{line}: {field}: {err['msg']}")
        raise EnvironmentFileError(str(p), problems) from exc
    return env.model_copy(update={"source": str(p)})


def default_environment() -> Environment:
    import os

    return load_environment(os.environ.get("HARNESS_ENVIRONMENT", DEFAULT_ENVIRONMENT))
