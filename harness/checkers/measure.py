"""All the numbers of one run, from its history alone.

Like Jepsen's composed checker: a checker that raises leaves its number None, turns the
status to ``unknown`` and puts its error in ``problems``; it never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from harness.checkers.availability import DEFAULT_SLO, DEFAULT_SLO_PERIOD_S, error_budget_s
from harness.checkers.backup import BackupMeasures, backup_measures
from harness.checkers.detection import DetectionResult, detect
from harness.checkers.dr import DrMeasures, dr_measures
from harness.checkers.failover import FailoverPhases, failover_phases
from harness.checkers.paths import PathMeasure, chosen_path, path_measures
from harness.checkers.outages import FaultMeasure, Outage, OutageResult, faults_in_window, fault_measures, \
    outage_threshold, outages, worst_rto
from harness.checkers.rpo import acknowledged_writes, indeterminate_writes, rpo
from harness.checkers.takeback import took_back
from harness.checkers.verdict import Status, combine
from harness.history import AlertEvent, Event, HaView, History, ProbeOp

__all__ = ["Measurements", "measure"]


class Measurements(BaseModel):
    """The numbers of one run (DESIGN, numbers v2); every renderer takes their names from here."""

    model_config = ConfigDict(frozen=True)
    rto_write_s: float | None  # the largest of the faults' write RTOs (0 without a fault)
    rto_read_s: float | None
    rpo_lost_writes: int | None
    rpo_window_s: float | None  # kept for readers of older summaries: the same span as rpo_s
    availability: float | None  # 1 - downtime / window, in time
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
    # The deposed leader held the key again after another member led (Patroni 3.0.2's thaw race).
    ha_took_back_s: float | None = None
    ha_failover: str | None = None  # the phases and timeline forks in words
    ha_ttl_s: float | None = None  # the leader key's lifetime
    ha_rto_minus_ttl_s: float | None = None  # how far the write RTO is above the ttl
    # Two regions: DR RTO, fail back outages, RPO exposure, MTTR over repetitions.
    dr: DrMeasures | None = None
    # Numbers v2: the span of lost data, outages as a client sees them, each fault's cost.
    rpo_s: float | None = None
    downtime_s: float | None = None
    error_budget_used: float | None = None  # downtime / the SLO's budget (a fraction)
    error_budget_s: float | None = None  # the budget: (1 - slo) x slo_period
    outage_threshold_s: float | None = None
    faults: list[FaultMeasure] = Field(default_factory=list)  # in injection order
    outages: list[Outage] = Field(default_factory=list)  # write outages in the window
    # The client path the probes went through, and one row per path that ran (the ideal
    # "direct" beside a real path), from harness.checkers.paths.
    client_path: str = "direct"
    paths: list[PathMeasure] = []


class _Checked(Protocol):
    @property
    def status(self) -> Status: ...
    @property
    def reason(self) -> str: ...


R = TypeVar("R", bound=_Checked)


def measure(
    history: History | Iterable[Event], probe_interval_s: float, *, outage_threshold_s: float | None = None,
    slo: float = DEFAULT_SLO, slo_period_s: float = DEFAULT_SLO_PERIOD_S,
) -> Measurements:
    events = list(history)  # one snapshot, so every checker sees the same history
    problems: list[str] = []
    statuses: list[Status] = []
    threshold = outage_threshold(outage_threshold_s, probe_interval_s)

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
    w_out = check("write outages", lambda: outages(events, "write", threshold_s=threshold))
    r_out: OutageResult | None = None
    if reads:
        r_out = check("read outages", lambda: outages(events, "read", threshold_s=threshold))
    else:
        problems.append("read RTO: no read probes ran, not measured")  # reads are optional: not unknown
    loss = check("RPO", lambda: rpo(events))
    faults = faults_in_window(events)
    per_fault: list[FaultMeasure] = []
    if w_out is not None:
        try:
            per_fault = fault_measures(events, w_out, r_out,
                                       detect_faults=any(isinstance(e, AlertEvent) for e in events)
                                       or any(isinstance(e, HaView) for e in events))
        except Exception as exc:  # noqa: BLE001 - reported, never a silent number
            statuses.append("unknown")
            problems.append(f"per-fault checker crashed: {type(exc).__name__}: {exc}")
            w_out = None

    rto_write: float | None = None
    rto_read: float | None = None
    if w_out is not None and w_out.status != "unknown":
        rto_write = worst_rto([f.rto_write_s for f in per_fault])
        if rto_write is None:
            statuses.append("invalid")
            problems.append("write RTO: service never came back after a fault")
    elif not faults and w_out is not None:
        rto_write = 0.0
    if r_out is not None and r_out.status != "unknown":
        rto_read = worst_rto([f.rto_read_s for f in per_fault])
    downtime = w_out.downtime_s if w_out is not None else None
    window = w_out.window_s if w_out is not None else None
    avail = None if downtime is None or not window else max(0.0, 1 - downtime / window)
    budget = error_budget_s(slo, slo_period_s)

    detected: DetectionResult | None = None
    if faults and any(isinstance(e, AlertEvent) for e in events):
        try:
            detected = detect(events, faults[0])
        except Exception as exc:  # noqa: BLE001 - reported, never a silent number
            problems.append(f"detection checker crashed: {type(exc).__name__}: {exc}")

    fault = faults[0] if faults else None
    phases: FailoverPhases | None = None
    if fault is not None and any(isinstance(e, HaView) for e in events):
        try:
            phases = failover_phases(events, fault)
        except Exception as exc:  # noqa: BLE001 - reported, never a silent number
            problems.append(f"failover phases checker crashed: {type(exc).__name__}: {exc}")
    took_back_s: float | None = None
    if phases is not None and phases.old_leader is not None:
        try:
            tb = took_back(events, fault)
            took_back_s = tb.back_s if tb is not None else None
        except Exception as exc:  # noqa: BLE001 - reported, never a silent number
            problems.append(f"take-back checker crashed: {type(exc).__name__}: {exc}")

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

    rows = _paths(events, probe_interval_s, threshold, problems)
    rpo_s = loss.window_s if loss is not None else None
    return Measurements(
        rto_write_s=rto_write,
        rto_read_s=rto_read,
        rpo_lost_writes=loss.lost if loss is not None else None,
        rpo_window_s=rpo_s,
        availability=avail,
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
        ha_took_back_s=took_back_s,
        ha_failover=phases.reason if phases is not None else None,
        ha_ttl_s=phases.ttl_s if phases is not None else None,
        ha_rto_minus_ttl_s=(rto_write - phases.ttl_s if phases is not None and phases.ttl_s is not None
                            and phases.new_leader is not None  # only a failover's RTO is about the ttl
                            and rto_write is not None else None),
        dr=dr,
        rpo_s=rpo_s,
        downtime_s=downtime,
        error_budget_used=None if downtime is None else downtime / budget,
        error_budget_s=budget,
        outage_threshold_s=threshold,
        faults=per_fault,
        outages=w_out.outages if w_out is not None else [],
        client_path=chosen_path(events),
        paths=rows,
    )


def _paths(events: list[Event], interval_s: float, threshold_s: float, problems: list[str]) -> list[PathMeasure]:
    try:
        return path_measures(events, interval_s, outage_threshold_s=threshold_s)
    except Exception as exc:  # noqa: BLE001 - reported, never a silent number
        problems.append(f"client path checker crashed: {type(exc).__name__}: {exc}")
        return []
