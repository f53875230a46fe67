"""The history: every event of a run, with a monotonic and a wall-clock timestamp.

Steps never time anything themselves: they record events here, and numbers come only from
checkers over the history, so a journal written to disk can be checked again later.
Durations use the monotonic clock (``t``); ``wall`` (Unix seconds) is for people and reports.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from harness.secrets import redact

__all__ = [
    "ArchiveBacklog",
    "ActionEvent",
    "AlertEvent",
    "BackupFallback",
    "ClientPathChosen",
    "NodeAddresses",
    "NodeJoined",
    "BackupStop",
    "BackupTaken",
    "FanoutRead",
    "HaSettings",
    "HaView",
    "LogicalConflict",
    "LogicalLag",
    "RecoveryTargetMarked",
    "ReplicationLink",
    "StreamingTree",
    "RepetitionMark",
    "RunbookStepTaken",
    "TableDropped",
    "LoadSample",
    "Sample",
    "Event",
    "FaultEvent",
    "FinalRead",
    "History",
    "MetricReading",
    "Note",
    "ProbeOp",
    "Stamp",
    "now",
    "parse_event",
    "seq_ranges",
]


class Stamp(BaseModel):
    model_config = ConfigDict(frozen=True)
    t: float  # time.monotonic()
    wall: float  # time.time()


def now() -> Stamp:
    return Stamp(t=time.monotonic(), wall=time.time())


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    at: Stamp


class ProbeOp(_Event):
    """One probe attempt. ``at`` is when it started, ``end`` when it was answered or gave up.

    outcome: ``ok`` (acknowledged), ``fail`` (a definite error: it did not happen, e.g. refused
    connection or read-only server) or ``timeout`` (unknown: it may or may not have happened).
    For writes, both fail and timeout are treated as indeterminate by the RPO checker.
    """

    kind: Literal["probe"] = "probe"
    # fanout: a write to every node (split-brain); direct-write/-read: the ideal's probes beside
    # a client path (harness.clients): every checker of "write" and "read" leaves them out.
    probe: Literal["write", "read", "fanout", "direct-write", "direct-read"]
    seq: int
    node: str | None
    outcome: Literal["ok", "fail", "timeout"]
    end: Stamp
    error: str | None = None
    value: int | None = None  # for reads: the highest sequence number seen
    path: str | None = None  # the client path it went through (None: the drill's own, see ClientPathChosen)
    server: str | None = None  # the address of the server that ran it (inet_server_addr), when answered
    # Which run of the probe made it: a probe restarted mid-run is a new instance, so an
    # operation is keyed by (instance, seq). "" in journals written before instances existed.
    instance: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.instance, self.seq)


class FaultEvent(_Event):
    """A fault took effect (phase ``inject``, stamped after the injector returned) or was healed.

    ``began`` is when the injector was called: the effect landed between ``began`` and ``at``
    (``docker kill`` returns some 70 ms after the processes died), so that span is the
    uncertainty of every number measured from the fault.
    """

    kind: Literal["fault"] = "fault"
    fault: str
    target: str
    phase: Literal["inject", "heal"]
    detail: str = ""
    began: Stamp | None = None


class ActionEvent(_Event):
    """A harness or operator action (recovery, topology change): started at ``at``, ended at ``end``."""

    kind: Literal["action"] = "action"
    action: str
    target: str = ""
    end: Stamp
    outcome: Literal["ok", "failed"]
    detail: str = ""


class FinalRead(_Event):
    """What the surviving primary holds after recovery: the probe rows present, as [lo, hi] ranges."""

    kind: Literal["final_read"] = "final_read"
    node: str
    present: list[tuple[int, int]]


class Sample(_Event):
    """One monitor reading of one node (``up`` 0/1 always present; others when known)."""

    kind: Literal["sample"] = "sample"
    node: str
    role: Literal["primary", "replica", "down"]
    metrics: dict[str, float]


class AlertEvent(_Event):
    """An alert rule started firing for a node, or stopped."""

    kind: Literal["alert"] = "alert"
    alert: str
    severity: Literal["critical", "warning", "info"]
    node: str
    phase: Literal["firing", "resolved"]
    detail: str = ""
    # Real alerting (harness.monitor.prometheus): who evaluated the rule, and Prometheus's own
    # times: active_at, when an evaluation first saw the condition; fired_at, when the alert
    # went firing (after its `for:`; Alertmanager's startsAt). ``at`` is when the harness's
    # receiver got Alertmanager's notification.
    source: Literal["harness", "prometheus"] = "harness"
    active_at: Stamp | None = None
    fired_at: Stamp | None = None


class LoadSample(_Event):
    """Background-load requests that started within one second (``at`` is that second's start).

    ``requests`` holds, for each, (start offset in the second in s, latency in ms, 1 if it succeeded).
    """

    kind: Literal["load"] = "load"
    name: str  # the request kind: read, write
    count: int
    failures: int
    requests: list[tuple[float, float, int]]
    errors: dict[str, int] = Field(default_factory=dict)


class Note(_Event):
    """Anything worth seeing on the timeline that is not one of the above (step started, window end)."""

    kind: Literal["note"] = "note"
    name: str
    detail: str = ""


# -- what the checkers read that is not a probe, a fault or an action -------------------------
# Each is its own type, never JSON or prose inside a Note. To add one: a class here with its own
# ``kind`` literal, added to ``Event`` below; the journal reads it back with no other change.


class HaView(_Event):
    """An HA manager's view of its members changed (a poll that saw something new).

    ``members``: name -> (role, state, timeline) as the manager reports them; ``unreachable``:
    no member answered (``leader`` is then None and says nothing).
    """

    kind: Literal["ha_view"] = "ha_view"
    manager: str = "patroni"
    leader: str | None
    members: dict[str, tuple[str, str, int | None]] = Field(default_factory=dict)
    unreachable: bool = False


class HaSettings(_Event):
    """The HA manager's settings for this drill (``ttl``: the leader key's lifetime, s)."""

    kind: Literal["ha_settings"] = "ha_settings"
    manager: str = "patroni"
    ttl: float | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class FanoutRead(_Event):
    """What the surviving primary holds of the fan-out probe's rows, per writer node ([lo, hi] ranges)."""

    kind: Literal["fanout_read"] = "fanout_read"
    node: str
    present: dict[str, list[tuple[int, int]]]


class BackupTaken(_Event):
    """A backup that succeeded (its ``backup.<type>`` action has the span): what it holds."""

    kind: Literal["backup_taken"] = "backup_taken"
    type: str  # full, diff, incr
    label: str
    size: int  # database bytes
    repo_size: int  # bytes in the repository
    stop_wall: float | None = None  # when the backup ended (Unix seconds, the tool's stamp)


class ArchiveBacklog(_Event):
    """The primary's WAL archiver at one moment (pg_stat_archiver and pg_wal/archive_status).

    ``ready`` counts the segments waiting for archive_command (``.ready`` files): the backlog
    that grows while the repository cannot take WAL and drains once it can.
    """

    kind: Literal["archive_backlog"] = "archive_backlog"
    node: str
    ready: int
    archived_count: int
    failed_count: int
    last_archived_wal: str = ""
    last_failed_wal: str = ""


class BackupStop(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    label: str
    stop: float  # Unix seconds


class BackupFallback(_Event):
    """A restore passed over newer backup sets (they failed to restore) and used an older one."""

    kind: Literal["backup_fallback"] = "backup_fallback"
    restored: str
    restored_stop: float
    skipped: list[BackupStop] = Field(default_factory=list)
    with_archive: bool = False


class MetricReading(_Event):
    """One server-side number a step watches (replication lag bytes, WAL retained, archive failures)."""

    kind: Literal["reading"] = "reading"
    metric: str
    node: str
    value: int


class TableDropped(_Event):
    """An accidental DROP TABLE: what a point-in-time recovery must stop before."""

    kind: Literal["table_dropped"] = "table_dropped"
    table: str
    node: str
    xid: int  # stop before it (recovery_target_xid, exclusive)
    lsn_before: str
    lsn_after: str
    time_before: str  # ISO timestamps of the server
    time_after: str
    wall_before: float  # Unix seconds, just before the DROP


class RecoveryTargetMarked(_Event):
    """A recovery target made on the primary (a named restore point, a time, an LSN), to restore to later."""

    kind: Literal["recovery_target"] = "recovery_target"
    target_kind: str  # name, time, lsn, xid, immediate, latest
    value: str = ""
    exclusive: bool = False
    wall_before: float | None = None
    wall_after: float | None = None
    backup_set: str = ""


class ReplicationLink(BaseModel):
    """One replica's stream as the nodes report it (harness.replicas.tree)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    replica: str
    planned: str | None  # the node the harness pointed it at (Roles)
    receiver_from: str | None  # sender_host of its pg_stat_wal_receiver (None: no WAL receiver)
    receiver_status: str | None
    sender: str | None  # the node whose pg_stat_replication lists it streaming (None: nobody's)
    apply_delay_s: float = 0.0


class StreamingTree(_Event):
    """Who streams from whom at this moment: each replica's WAL receiver and its sender's view."""

    kind: Literal["streaming_tree"] = "streaming_tree"
    primary: str
    links: list[ReplicationLink] = Field(default_factory=list)


class RepetitionMark(_Event):
    """Repetition ``index`` of ``of`` of a repeated drill begins (its slice runs to the next mark)."""

    kind: Literal["repetition"] = "repetition"
    series: str  # what repeats: "dr" (a region drill), "schedule" (a fault schedule), "leader-kills"
    index: int
    of: int
    action: str = ""
    region: str | None = None
    runbook: str | None = None
    late_s: float | None = None  # how late the cycle started against its plan


class RunbookStepTaken(_Event):
    """One step of a runbook, followed from ``at`` to ``end`` (also an ActionEvent for the timeline).

    ``expected_s``: what the runbook says a person takes for a manual step answered by a script
    (CI), never slept through: the machine's time stays measured, the estimate sits beside it.
    """

    kind: Literal["runbook_step"] = "runbook_step"
    end: Stamp
    index: int
    name: str
    step_kind: Literal["action", "shell", "manual"]
    outcome: Literal["ok", "failed"]
    scripted: bool = False
    expected_s: float | None = None
    detail: str = ""


class ClientPathChosen(_Event):
    """The probes and the load go through this client path (harness.clients): direct, libpq,
    haproxy or pgbouncer+haproxy; ``detail`` says how it is set up."""

    kind: Literal["client_path"] = "client_path"
    path: str
    detail: str = ""


class NodeAddresses(_Event):
    """Each node's address at this moment (a client path's operations name the server's address)."""

    kind: Literal["node_addresses"] = "node_addresses"
    addresses: dict[str, str]  # address -> node


class NodeJoined(_Event):
    """A database node joined the deployment during the drill (a restore into a new node, an
    added replica): whoever made it says so, and watchers (the monitor) start watching it."""

    kind: Literal["node_joined"] = "node_joined"
    node: str
    role: str  # primary, replica, restored
    detail: str = ""


class LogicalLag(_Event):
    """How far a subscription is behind its publisher, read on the publisher: its WAL position
    minus the slot's confirmed_flush_lsn, and minus the walsender's replay_lsn (harness.logical)."""

    kind: Literal["logical_lag"] = "logical_lag"
    subscription: str
    publisher: str  # the node the lag was read on
    subscriber: str
    slot_lag_bytes: int | None  # None: the publisher has no such slot (a promoted standby without failover slots)
    replay_lag_bytes: int | None = None  # None: no walsender serves the subscription now


class LogicalConflict(_Event):
    """A subscription's apply worker stopped on a row that conflicts with a local one (its error,
    read from the subscriber's log), and what the harness did about it."""

    kind: Literal["logical_conflict"] = "logical_conflict"
    subscription: str
    subscriber: str  # the node whose apply worker failed
    relation: str
    key: str  # the key as PostgreSQL names it: "(k)=(3)"
    finish_lsn: str  # the remote transaction's end (ALTER SUBSCRIPTION ... SKIP takes it)
    error: str
    resolution: str = ""  # "skipped": the remote transaction was skipped, the local row kept


Event = Annotated[
    ProbeOp | FaultEvent | ActionEvent | FinalRead | Sample | AlertEvent | LoadSample | Note | HaView | HaSettings
    | FanoutRead | BackupTaken | BackupFallback | RepetitionMark | RunbookStepTaken | TableDropped
    | RecoveryTargetMarked | MetricReading | ClientPathChosen | NodeAddresses | NodeJoined | StreamingTree
    | LogicalLag | LogicalConflict | ArchiveBacklog,
    Field(discriminator="kind"),
]
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: object) -> Event:
    """One journal record (already JSON-decoded) back into its event."""
    return _EVENT.validate_python(data)

E = TypeVar("E", bound=_Event)


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Compress sequence numbers into sorted inclusive ranges."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


class History:
    """An append-only, thread-safe list of events; optionally mirrored line by line to a journal."""

    def __init__(self, journal: Path | None = None) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._journal = journal.open("a", encoding="utf-8") if journal else None

    def add(self, event: E) -> E:
        with self._lock:
            self._events.append(event)  # type: ignore[arg-type]
            if self._journal is not None:
                self._journal.write(redact(event.model_dump_json()) + "\n")
                self._journal.flush()
        return event

    def note(self, name: str, detail: str = "") -> Note:
        return self.add(Note(at=now(), name=name, detail=detail))

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events() if isinstance(e, cls)]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def close(self) -> None:
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    @classmethod
    def of_events(cls, events: Iterable[Event]) -> History:
        h = cls()
        for e in events:
            h.add(e)
        return h

    @classmethod
    def load(cls, journal: Path) -> History:
        """Read a journal back (to re-check a run later)."""
        h = cls()
        for line in journal.read_text(encoding="utf-8").splitlines():
            if line.strip():
                h.add(_EVENT.validate_python(json.loads(line)))
        return h
