"""All the numbers of one run, from its history alone.

Like Jepsen's composed checker: a checker that raises leaves its number None, turns the
status to ``unknown`` and puts its error in ``problems``; it never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from harness.checkers.backup import BackupMeasures, backup_measures
from harness.checkers.availability import availability
from harness.checkers.rpo import acknowledged_writes, indeterminate_writes, rpo
from harness.checkers.rto import injected_fault, rto
from harness.checkers.verdict import Status, combine
from harness.checkers.detection import DetectionResult, detection
from harness.checkers.dr import DrMeasures, dr_measures
from harness.checkers.failover import FailoverPhases, failover_phases
from harness.history import AlertEvent, Event, HaView, History, ProbeOp

__all__ = ["Measurements", "measure"]


class Measurements(BaseModel):
    model_config = ConfigDict(frozen=True)
    rto_write_s: float | None
    rto_read_s: float | None
    rpo_lost_writes: int | None
    rpo_window_s: float | None
    availability: float | None
    probe_interval_s: float | None
    writes_acknowledged: int
    writes_indeterminate: int
    reads_ok: int
    reads_failed: int
    fault_at_wall: float | None
    status: Status
    problems: list[str]
    # From the monitor's alerts, when a monitor ran and a fault was injected (not a verdict).
    detection_s: float | None = None
    detected_by: str | None = None
    # Backups (duration, size per type, success rate) and restores (RTO and its
    # phases, RPO), when the run took a backup or made a restore.
    backup: BackupMeasures | None = None
    # From the HA manager's observed view (Patroni): seconds from the fault.
    ha_detection_s: float | None = None
    ha_new_leader_s: float | None = None
    ha_first_write_s: float | None = None
    ha_rejoin_s: float | None = None
    ha_failover: str | None = None  # the phases and timeline forks in words
    ha_ttl_s: float | None = None  # the leader key's lifetime
    ha_rto_minus_ttl_s: float | None = None  # how far the write RTO is above the ttl
    # Two regions: DR RTO, fail back outages, RPO exposure, MTTR over repetitions.
    dr: DrMeasures | None = None


class _Checked(Protocol):
    @property
    def status(self) -> Status: ...
    @property
    def reason(self) -> str: ...


R = TypeVar("R", bound=_Checked)


def measure(
    history: History | Iterable[Event], probe_interval_s: float
) -> Measurements:
    events = list(history)  # one snapshot, so every checker sees the same history
    problems: list[str] = []
    statuses: list[Status] = []

    def check(name: str, run: Callable[[], R]) -> R | None:
        try:
            result = run()
        except Exception as exc:  # noqa: BLE001 - any crash is reported, never a pass
            statuses.append("unknown")
            problems.append(f"{name} checker crashed: {type(exc).__name__}: {exc}")
            return None
        statuses.append(result.status)
        if result.status != "valid":
            problems.append(f"{name}: {result.reason}")
        return result

    reads = [e for e in events if isinstance(e, ProbeOp) and e.probe == "read"]
    rto_w = check("write RTO", lambda: rto(events, "write", probe_interval_s))
    if reads:
        rto_r = check("read RTO", lambda: rto(events, "read", probe_interval_s))
    else:
        rto_r = None  # reads are optional: absent is not unknown
        problems.append("read RTO: no read probes ran, not measured")
    loss = check("RPO", lambda: rpo(events))
    avail = check("availability", lambda: availability(events, probe_interval_s))
    fault = injected_fault(events)
    detected: DetectionResult | None = None
    if fault is not None and any(isinstance(e, AlertEvent) for e in events):
        try:
            detected = detection(events)
        except Exception as exc:  # noqa: BLE001 - reported, never a silent number
            problems.append(f"detection checker crashed: {type(exc).__name__}: {exc}")

    phases: FailoverPhases | None = None
    if fault is not None and any(isinstance(e, HaView) for e in events):
        try:
            phases = failover_phases(events, fault)
        except Exception as exc:  # noqa: BLE001 - reported, never a silent number
            problems.append(f"failover phases checker crashed: {type(exc).__name__}: {exc}")

    backups: BackupMeasures | None = None
    try:
        backups = backup_measures(events)
    except Exception as exc:  # noqa: BLE001 - reported, never a silent number
        problems.append(f"backup checker crashed: {type(exc).__name__}: {exc}")

    dr: DrMeasures | None = None
    try:
        dr = dr_measures(events)
    except Exception as exc:  # noqa: BLE001 - reported, never a silent number
        problems.append(f"DR checker crashed: {type(exc).__name__}: {exc}")

    return Measurements(
        rto_write_s=rto_w.value_s if rto_w is not None else None,
        rto_read_s=rto_r.value_s if rto_r is not None else None,
        rpo_lost_writes=loss.lost if loss is not None else None,
        rpo_window_s=loss.window_s if loss is not None else None,
        availability=avail.value if avail is not None else None,
        probe_interval_s=probe_interval_s,
        writes_acknowledged=len(acknowledged_writes(events)),
        writes_indeterminate=len(indeterminate_writes(events)),
        reads_ok=sum(1 for r in reads if r.outcome == "ok"),
        reads_failed=sum(1 for r in reads if r.outcome != "ok"),
        fault_at_wall=fault.at.wall if fault is not None else None,
        status=combine(*statuses),
        problems=problems,
        detection_s=detected.value_s if detected is not None else None,
        detected_by=detected.reason if detected is not None and detected.value_s is not None else None,
        backup=backups,
        ha_detection_s=phases.detection_s if phases is not None else None,
        ha_new_leader_s=phases.new_leader_s if phases is not None else None,
        ha_first_write_s=phases.first_write_s if phases is not None else None,
        ha_rejoin_s=phases.rejoin_s if phases is not None else None,
        ha_failover=phases.reason if phases is not None else None,
        ha_ttl_s=phases.ttl_s if phases is not None else None,
        ha_rto_minus_ttl_s=(rto_w.value_s - phases.ttl_s if phases is not None and phases.ttl_s is not None
                            and phases.new_leader is not None  # only a failover's RTO is about the ttl
                            and rto_w is not None and rto_w.value_s is not None else None),
        dr=dr,
    )
