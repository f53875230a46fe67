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
    "S3Settings",
    "ClientsSection",
    "Environment",
    "LogicalSection",
    "ProbeSettings",
    "PrometheusSettings",
    "ReplicaSettings",
    "TopologySpec",
    "VolumeSettings",
    "default_environment",
    "load_environment",
]

# The built-in environment files (package data); a project's own come first by name (resources).
ENVIRONMENTS_DIR = resources.builtin_dir("environments")
DEFAULT_ENVIRONMENT = "streaming"


class _Strict(BaseModel):
    # A string right below a field is its description (docs/environment.md is generated from them).
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ReplicaSettings(_Strict):
    """One replica's own streaming settings (docs/replicas.md): an apply delay, an upstream replica."""

    apply_delay: str | None = None
    """recovery_min_apply_delay: the replica applies WAL this late ("5 minutes", "30 s"); none: at once."""
    streams_from: int | None = Field(default=None, ge=1)
    """Cascading: the replica (by number) whose WAL it streams (its primary_conninfo points there); none: the primary."""


class TopologySpec(_Strict):
    """A primary and its streaming replicas (a ``patroni:`` or ``regions:`` section replaces it)."""

    kind: Literal["streaming"] = "streaming"
    """The topology kind; Patroni and two regions are chosen by their own sections."""
    replicas: int = Field(default=2, ge=0, le=8)
    """Streaming replicas of the primary."""
    replication: Literal["async", "sync"] = "async"
    """sync: commits wait for standbys (synchronous_standby_names = 'ANY n (...)')."""
    sync_quorum: int = Field(default=1, ge=1)
    """With sync replication: how many standbys must confirm each commit (ANY n of them)."""
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra postgresql.conf settings for every node."""
    replica_settings: dict[int, ReplicaSettings] = Field(default_factory=dict)
    """Per replica, by number (replica 1 is node2): a WAL apply delay, an upstream replica (cascading)."""

    @model_validator(mode="after")
    def _replicas_fit(self) -> TopologySpec:
        from harness.replicas.plan import check

        check(self.replicas, self.replica_settings)  # a ValueError names the replica
        return self

    @model_validator(mode="after")
    def _quorum_fits(self) -> TopologySpec:
        if self.replication == "sync" and self.replicas > 0 and self.sync_quorum > self.replicas:
            raise ValueError(f"sync_quorum {self.sync_quorum} is more than the {self.replicas} replicas")
        if self.replication == "sync" and self.replicas == 0:
            raise ValueError("sync replication needs at least one replica")
        return self


class ProbeSettings(_Strict):
    """The write and read probes whose history every number is measured from."""

    table: str = Field(default="probe", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """The table the probes write to and read from."""
    interval_ms: float = Field(default=50, gt=0, le=60_000)
    """Time between two probe attempts (a step can set its own: "every 20 ms")."""
    timeout_ms: float = Field(default=1000, gt=0, le=600_000)
    """An attempt that gets no answer in this time is recorded as a timeout (indeterminate)."""
    settle_ops: int = Field(default=5, ge=1, le=1000)
    """Before a measuring step closes the window, this many successes in a row (writes "keep succeeding")."""
    settle_s: float = Field(default=30, ge=0)
    """How long a measuring step waits at most for those successes."""
    max_duration_s: float = Field(default=3600, gt=0)
    """A probe never runs longer than this, whatever the scenario does."""
    outage_threshold_ms: float | None = Field(default=None, gt=0, le=3_600_000)
    """An outage is any span longer than this without a surviving acknowledged write; unset: 250 ms, or 3 probe intervals if longer (never below 3)."""

    @model_validator(mode="after")
    def _threshold_fits(self) -> ProbeSettings:
        from harness.checkers.outages import outage_threshold

        if self.outage_threshold_ms is not None:
            outage_threshold(self.outage_threshold_ms / 1000, self.interval_ms / 1000)  # ValueError names it
        return self

    @property
    def outage_threshold_s(self) -> float:
        from harness.checkers.outages import outage_threshold

        return outage_threshold(None if self.outage_threshold_ms is None else self.outage_threshold_ms / 1000,
                                self.interval_ms / 1000)


class PrometheusSettings(_Strict):
    """Real alerting: Prometheus, Alertmanager and one postgres_exporter per node (the
    monitoring image) evaluate ``rules`` instead of the harness's own rule loop; the timeline
    and the live view read Prometheus's numbers. Short intervals suit a drill."""

    rules: str | None = None
    """A Prometheus rules file (checked with promtool), relative to the environment file's folder; none: the default tiers (default.rules.yml)."""
    scrape_interval_s: float = Field(default=1.0, gt=0, le=60)
    """Prometheus's scrape_interval."""
    evaluation_interval_s: float = Field(default=1.0, gt=0, le=60)
    """Prometheus's evaluation_interval (how often the rules are evaluated)."""
    group_wait_s: float = Field(default=0.1, ge=0, le=600)
    """Alertmanager's group_wait: its wait before a new group's first notification."""
    group_interval_s: float = Field(default=1.0, gt=0, le=3600)
    """Alertmanager's group_interval."""
    ready_timeout_s: float = Field(default=30, gt=0, le=600)
    """How long the monitoring container may take until every exporter reports its node up."""


class MonitorSettings(_Strict):
    """The monitor that samples every node and evaluates the alert rules (environments/alerts/)."""

    enabled: bool = True
    """Sample the nodes and fire alerts during the drill."""
    interval_s: float = Field(default=1.0, gt=0, le=60)
    """Time between two samples of a node."""
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    """A sample that takes longer counts as no answer from the node."""
    prometheus: PrometheusSettings | None = None
    """Real alerting: Prometheus, Alertmanager and postgres_exporter in a container of their own."""


class VolumeSettings(_Strict):
    """Every node's PGDATA and pg_wal on their own size-limited filesystems (loop-mounted ext4).

    Needed by the disk faults; sizes are small so a fill is quick, but big enough for the
    probe workload, a pg_basebackup rebuild and pg_rewind. With volumes, ``max_wal_size``
    defaults to a quarter of ``wal_mb`` (unless ``topology.settings`` sets it) so that normal
    checkpointing never fills the WAL disk by itself.
    """

    enabled: bool = True
    """Give every node its own data and WAL volumes (needed by the disk faults)."""
    data_mb: int = Field(default=256, ge=96, le=1_048_576)
    """Size of each node's PGDATA volume, in MB."""
    wal_mb: int = Field(default=384, ge=64, le=1_048_576)
    """Size of each node's pg_wal volume, in MB."""


class PatroniSection(_Strict):
    """With this section the topology is Patroni + etcd (each field overridable by steps)."""

    nodes: int = Field(default=3, ge=1, le=5)
    """PostgreSQL nodes, each with its Patroni."""
    etcd_members: Literal[1, 3, 5] = 1
    """Members of the etcd cluster (the DCS)."""
    ttl: int = Field(default=10, ge=5)
    """Patroni's leader key TTL, in seconds: a leader that cannot renew it for this long loses it."""
    loop_wait: int = Field(default=1, ge=1)
    """Seconds between two runs of Patroni's HA loop."""
    retry_timeout: int = Field(default=3, ge=1)
    """Seconds Patroni retries the DCS and PostgreSQL before it gives up (and demotes)."""
    synchronous_mode: bool = False
    """Patroni's synchronous_mode: a sync standby confirms every commit and only it may be promoted."""
    maximum_lag_on_failover: int = Field(default=1048576, ge=0)
    """A replica lagging more than this (bytes) is not promoted."""
    use_pg_rewind: bool = True
    """A deposed leader rejoins with pg_rewind (otherwise it is reinitialised)."""
    source: Literal["debian", "pypi"] = "debian"
    """Where Patroni comes from: the stack's Debian package, or PyPI (downloaded on the host, installed offline)."""
    version: str | None = Field(default=None, pattern=r"^[0-9][0-9a-z.*]*$")
    """With source pypi: a pip version such as "4.1.x" or "4.1.3"."""

    @model_validator(mode="after")
    def _pypi_version(self) -> PatroniSection:
        if self.source == "pypi" and not self.version:
            raise ValueError('source pypi needs a version (e.g. version: "4.1.x")')
        if self.source == "debian" and self.version:
            raise ValueError("version is for source: pypi (Debian's package has the stack's version)")
        return self


class PgAutoFailoverSection(_Strict):
    """With this section the topology is pg_auto_failover: a monitor and 2-5 nodes (harness.topology.pgaf)."""

    nodes: int = Field(default=3, ge=2, le=5)
    """PostgreSQL nodes registered with the monitor."""
    health_check_period_ms: int = Field(default=1000, ge=100)
    """The monitor's pgautofailover.health_check_period."""
    health_check_timeout_ms: int = Field(default=2000, ge=100)
    """The monitor's pgautofailover.health_check_timeout."""
    health_check_max_retries: int = Field(default=2, ge=0)
    """The monitor's pgautofailover.health_check_max_retries."""
    health_check_retry_delay_ms: int = Field(default=500, ge=100)
    """The monitor's pgautofailover.health_check_retry_delay."""
    unhealthy_timeout_ms: int = Field(default=5000, ge=500)
    """The monitor's pgautofailover.node_considered_unhealthy_timeout (its default, 20 s, is slow for drills)."""
    primary_demote_timeout_ms: int = Field(default=5000, ge=500)
    """The monitor's pgautofailover.primary_demote_timeout."""


class AuthSettings(_Strict):
    """The harness's connections from the host authenticate with a password (SCRAM-SHA-256).

    The file names an environment variable that holds the password; the password itself is
    never written in a file, and is masked in everything the harness writes (journal, logs,
    summaries, the Allure report). Streaming topologies only.
    """

    password_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The environment variable that holds the password."""


class WanSettings(_Strict):
    """The WAN link between two regions (shaped on the router that joins them)."""

    latency_ms: float = Field(default=0, ge=0, le=10_000)
    """Round-trip latency, as a ping across shows it."""
    jitter_ms: float = Field(default=0, ge=0, le=10_000)
    """Variation of the latency (at most latency_ms)."""
    bandwidth: str | None = None
    """Bandwidth in each direction ("100 mbit/s"); none: not limited."""
    loss_pct: float = Field(default=0, ge=0, lt=100)
    """Share of packets lost on the link."""

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

    primary: str = Field(default="east", pattern=r"^[a-z][a-z0-9]{0,11}$")
    """The region of the primary."""
    standby: str = Field(default="west", pattern=r"^[a-z][a-z0-9]{0,11}$")
    """The DR region."""
    primary_nodes: int = Field(default=2, ge=1, le=4)
    """Nodes in the primary's region: the primary and its local replicas."""
    standby_nodes: int = Field(default=1, ge=1, le=3)
    """DR standbys, streaming across the WAN."""
    replication: Literal["async", "sync"] = "async"
    """sync: commits wait until the DR standby applied them (remote_apply); a WAN cut then stops writes."""
    wan: WanSettings = WanSettings()
    """The WAN link between the two regions."""

    @model_validator(mode="after")
    def _two(self) -> RegionsSection:
        if self.primary == self.standby:
            raise ValueError(f"the two regions need two names, not {self.primary!r} twice")
        return self


class S3Settings(_Strict):
    """A real S3 or MinIO bucket for pgBackRest (``repo1-type=s3``); the only endpoint contacted.
    Without it an S3 repository is the harness's own endpoint (moto behind HAProxy, in a
    container of the run). Credentials come from the environment variables named here, never
    from this file, and are never written to a report or log."""

    endpoint: str = Field(pattern=r"^[A-Za-z0-9.-]+$")
    """The endpoint's host name (no scheme, no path), e.g. s3.eu-west-1.amazonaws.com."""
    port: int = Field(default=443, ge=1, le=65535)
    """Its HTTPS port."""
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    """The bucket (it must exist: the harness does not create buckets on a real endpoint)."""
    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]+$")
    """The bucket's region."""
    uri_style: Literal["host", "path"] = "host"
    """pgBackRest's repo1-s3-uri-style: host (bucket.endpoint, AWS) or path (endpoint/bucket, MinIO)."""
    key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The environment variable that holds the access key id."""
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The environment variable that holds the secret access key."""
    ca_file: str | None = None
    """A CA bundle on this host to verify the endpoint's certificate with (none: the node image's system CAs)."""
    path: str = Field(default="/pgharness", pattern=r"^/[A-Za-z0-9._/-]*$")
    """The prefix in the bucket; each drill writes under <path>/<run>/<scope>."""


class BackupSection(_Strict):
    """The backup repository and WAL archiving of every drill that asks for one."""

    tool: Literal["pgbackrest", "basebackup"] = "pgbackrest"
    """pgbackrest, or basebackup: pg_basebackup and a plain cp WAL archive."""
    retention_full: int = Field(default=2, ge=1, le=99)
    """Full backups kept by "When I apply the retention policy"."""
    archive_timeout_s: float = Field(default=60, ge=1, le=3600)
    """PostgreSQL's archive_timeout, and how long pgBackRest waits for a segment to be archived."""
    compress_type: Literal["gz", "lz4", "zst", "bz2", "none"] = "gz"
    """pgBackRest's compression of the repository."""
    repo_size_mb: int | None = Field(default=None, ge=64, le=1_048_576)
    """Put the repository on its own volume of that size (MB); none: no size limit."""
    repository: Literal["posix", "s3"] = "posix"
    """Where pgBackRest keeps backups and WAL: posix (a host folder mounted in every node) or s3."""
    s3: S3Settings | None = None
    """The S3 endpoint of an s3 repository; none: the harness's own endpoint in the run (moto, TLS)."""

    @model_validator(mode="after")
    def _s3_needs_s3_repository(self) -> BackupSection:
        if self.s3 is not None and self.repository != "s3":
            raise ValueError("backup.s3 names an S3 endpoint but backup.repository is posix: say repository: s3")
        if self.repository == "s3" and self.tool != "pgbackrest":
            raise ValueError(f"an S3 repository needs tool: pgbackrest (not {self.tool})")
        return self


class OwnConfigSection(_Strict):
    """A team's own configuration files (harness.ownconfig validates them against the image):
    paths relative to this environment file's folder or to the repository."""

    postgresql: str | None = None
    """A postgresql.conf of settings (name = value lines)."""
    pg_hba: str | None = None
    """pg_hba.conf lines, placed before the harness's own."""
    patroni: str | None = None
    """A Patroni YAML merged into the generated one (bootstrap.dcs included)."""
    pgbackrest: str | None = None
    """A pgbackrest.conf fragment ([global] or the stanza's options)."""


# -- the client path: how the probes and the load reach the database ------------------------


class HaproxySettings(_Strict):
    """HAProxy's health checks of every node (``inter``, ``fall``, ``rise`` of its servers)."""

    inter_ms: int = Field(default=1000, ge=50, le=60_000)
    """Milliseconds between two checks of a server."""
    fall: int = Field(default=2, ge=1, le=100)
    """Failed checks in a row before a server is marked down."""
    rise: int = Field(default=1, ge=1, le=100)
    """Passed checks in a row before a server is up again."""
    timeout_check_ms: int = Field(default=2000, ge=10, le=60_000)
    """A check with no answer in this time fails (Patroni's REST API on a busy machine took over 500 ms)."""
    timeout_connect_ms: int = Field(default=1000, ge=10, le=60_000)
    """How long HAProxy waits to connect a client to a server."""


class PgbouncerSettings(_Strict):
    """PgBouncer's pool (in front of HAProxy's listeners, or of the primary itself)."""

    pool_mode: Literal["session", "transaction", "statement"] = "transaction"
    """When a server connection goes back to the pool."""
    default_pool_size: int = Field(default=20, ge=1, le=10_000)
    """Server connections per pool."""
    reserve_pool_size: int = Field(default=0, ge=0, le=10_000)
    """Extra server connections when clients wait."""
    max_client_conn: int = Field(default=200, ge=1, le=100_000)
    """Client connections PgBouncer accepts."""
    query_wait_timeout_s: int = Field(default=5, ge=0, le=86_400)
    """A client waiting this long for a server connection gets an error."""
    server_connect_timeout_s: int = Field(default=2, ge=1, le=3600)
    """How long PgBouncer waits to connect to a server."""
    server_login_retry_s: int = Field(default=1, ge=1, le=3600)
    """The wait after a failed server login before the next."""


class ClientsSection(_Strict):
    """The client path: ``direct`` (the harness's own view, the ideal), ``libpq`` (a multi-host
    connection string), ``haproxy``, ``pgbouncer+haproxy`` (PgBouncer pooling to HAProxy), or
    ``pgbouncer`` (PgBouncer in front of the primary itself, repointed on a failover)."""

    path: Literal["direct", "libpq", "haproxy", "pgbouncer+haproxy", "pgbouncer"] = "direct"
    """How the probes and the load reach the database (docs/client-paths.md)."""
    beside_direct: bool = True
    """With a real path, run the ideal's probes beside it (measurements.paths)."""
    connect_timeout_s: int = Field(default=2, ge=1, le=600)
    """libpq's connect_timeout of every connection through the path."""
    settle_s: float = Field(default=30, gt=0, le=600)
    """The path must send a write to a primary within this, or the drill fails naming it."""
    haproxy: HaproxySettings = HaproxySettings()
    """HAProxy's health checks."""
    pgbouncer: PgbouncerSettings = PgbouncerSettings()
    """PgBouncer's pool."""

    @property
    def kind(self) -> str:
        return self.path


class LogicalSection(_Strict):
    """A second cluster fed by logical replication (publication/subscription) from the first one's primary."""

    mode: Literal["one-way", "bidirectional"] = "one-way"
    """one-way: the second cluster subscribes to the first; bidirectional: each subscribes to the other (origin = none, PostgreSQL 16+)."""
    failover_slots: bool = False
    """The subscription's slot follows a promoted standby (failover = true, sync_replication_slots; PostgreSQL 17+)."""
    nodes: Literal[1] = 1
    """Nodes of the second cluster (its own primary)."""


class Environment(_Strict):
    """An environment file: what a drill stands up and the targets it is judged against."""

    name: str
    """The environment's name (the file name when the file does not say)."""
    description: str = ""
    """One line for people reading the file."""
    runtime: Literal["docker"] = "docker"
    """Where the topology runs."""
    image: str = "default"  # "default" = the image built from environments/images/node
    """The node image: "default" (built from environments/images/node) or an image's name."""
    stack: Literal["bookworm", "trixie"] | None = None
    """The Debian release the default image is built from; unset: $HARNESS_STACK (set by `harness run --stack`), else bookworm."""
    topology: TopologySpec = TopologySpec()
    """The streaming topology: replicas, replication mode, PostgreSQL settings."""
    probe: ProbeSettings = ProbeSettings()
    """The write and read probes."""
    volumes: VolumeSettings = VolumeSettings()
    """Size-limited data and WAL volumes per node."""
    monitor: MonitorSettings = MonitorSettings()
    """Sampling and alerting during the drill."""
    targets: Targets = Targets()
    """The default targets every scenario is judged against (a scenario's Then steps set its own)."""
    patroni: PatroniSection | None = None
    """A Patroni + etcd topology instead of plain streaming."""
    backup: BackupSection = BackupSection()
    """The backup repository and WAL archiving."""
    regions: RegionsSection | None = None
    """Two regions joined by a WAN link instead of one."""
    auth: AuthSettings | None = None  # a password for the harness's own connections
    """Password authentication (SCRAM) for the harness's own connections."""
    pg_auto_failover: PgAutoFailoverSection | None = None
    """A pg_auto_failover topology (a monitor and its nodes) instead of plain streaming."""
    config: OwnConfigSection | None = None
    """The team's own postgresql.conf, pg_hba, Patroni and pgBackRest files."""
    clients: ClientsSection | None = None
    """The client path; none: HAProxy on a Patroni topology (as Patroni is deployed), else direct."""
    logical: LogicalSection | None = None
    """A second cluster subscribed to the first one's primary by logical replication (docs/logical-replication.md)."""
    source: str = Field("", exclude=True)
    """The file it was read from (set by the loader, not written in a file)."""

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
