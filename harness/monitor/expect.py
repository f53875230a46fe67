"""The monitor's expectations (the Then steps about alerts), over the drill's history.

An alert "fires after the fault" when it fired after the first fault's injector was called;
the monitor must run (it starts with the probes when ``monitor.enabled``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from harness.checkers.detection import detection
from harness.errors import SetupError, TargetMissed, WaitTimeout
from harness.history import AlertEvent, FaultEvent, now
from harness.topology.pg import sql
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.monitor.sampler import Monitor

__all__ = ["change_setting", "expect_alert", "expect_no_alert", "expect_resolved", "maintenance_window",
           "require_detection"]


def psql_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_.]*", name):
        raise SetupError(f"not a setting name: {name!r}")
    return name


def psql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _alerts(drill: Drill, phase: str) -> list[AlertEvent]:
    return [a for a in drill.history.of(AlertEvent) if a.phase == phase]


def _require_monitor(drill: Drill) -> Monitor:
    if drill.monitor is None:
        raise SetupError("no monitor is running: start the probes (Given the write probe is running) "
                         "with monitor.enabled in the environment")
    return drill.monitor


def expect_alert(drill: Drill, name: str, timeout: float, severity: str | None = None) -> AlertEvent:
    """Wait for alert ``name`` to fire after the first fault (or at all, with no fault)."""
    _require_monitor(drill)
    since = _fault_began(drill)

    def fired() -> AlertEvent | None:
        for a in _alerts(drill, "firing"):
            if a.alert.lower() == name.lower() and a.at.t >= since and (severity is None or a.severity == severity):
                return a
        return None

    try:
        return wait_until(fired, timeout=timeout, interval=0.1, what=f"alert {name!r} to fire")
    except WaitTimeout as exc:
        seen = sorted({f"{a.severity} {a.alert!r} on {a.node}" for a in _alerts(drill, "firing")})
        raise TargetMissed(f"alert {name!r}", f"did not fire within {timeout:g} s (fired: {seen or 'none'})",
                           f"fires within {timeout:g} s") from exc


def maintenance_window(drill: Drill, minutes: float) -> None:
    """An announced maintenance window: an info alert on every node, as an operator would raise."""
    _require_monitor(drill)
    for name in drill.cluster.names:
        drill.history.add(AlertEvent(at=now(), alert="maintenance window", severity="info", node=name,
                                     phase="firing", detail=f"{minutes:g} min announced"))


def change_setting(drill: Drill, role: str, name: str, value: str) -> None:
    target = drill.target(role)
    addr = drill.cluster.address(target)
    sql(addr, f"ALTER SYSTEM SET {psql_ident(name)} = %s" % psql_quote(value))
    sql(addr, "SELECT pg_reload_conf()")
    drill.history.note("config.change", f"{target}: {name} = {value}")


def expect_no_alert(drill: Drill, severity: str) -> None:
    _require_monitor(drill)
    fired = [a for a in _alerts(drill, "firing") if a.severity == severity]
    if fired:
        first = fired[0]
        raise TargetMissed(f"{severity} alerts", f"{len(fired)} fired, first {first.alert!r} on {first.node}",
                           "none")


def expect_resolved(drill: Drill, name: str, timeout: float) -> None:
    monitor = _require_monitor(drill)

    def clear() -> bool:
        return not any(rule.lower() == name.lower() for rule, _ in monitor.engine.firing)

    try:
        wait_until(clear, timeout=timeout, interval=0.1, what=f"alert {name!r} to resolve")
    except WaitTimeout as exc:
        raise TargetMissed(f"alert {name!r}", f"still firing after {timeout:g} s", "resolved") from exc


def require_detection(drill: Drill, limit_s: float) -> float:
    _require_monitor(drill)
    result = detection(drill.history)
    drill.history.note("detection", result.reason)
    value = result.value_s
    if value is None or value >= limit_s:
        got = "nothing detected it" if value is None else f"{value:.3f} s ({result.reason})"
        raise TargetMissed("detection time", got, f"< {limit_s:g} s")
    return value


def _fault_began(drill: Drill) -> float:
    faults = [f for f in drill.history.of(FaultEvent) if f.phase == "inject"]
    return (faults[0].began or faults[0].at).t if faults else 0.0
