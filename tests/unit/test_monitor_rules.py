"""Alert rules over hand-made samples, and detection time over hand-made histories."""

from __future__ import annotations

import pytest

from harness.checkers.detection import detection
from harness.errors import EnvironmentFileError
from harness.history import AlertEvent, FaultEvent, Sample, Stamp
from harness.monitor.rules import AlertRule, AlertRules, RuleEngine, load_rules


def _s(t: float, node: str = "node1", role: str = "primary", **metrics: float) -> Sample:
    return Sample(at=Stamp(t=t, wall=1000 + t), node=node, role=role, metrics={"up": 1.0, **metrics})  # type: ignore[arg-type]


def test_default_rules_load_and_name_the_design_alerts() -> None:
    rules = load_rules()
    names = {r.name for r in rules.rules}
    assert {"database down", "replication broken", "replication lag", "storage at 95 %", "storage at 80 %",
            "connection pool exhausted", "data corruption detected", "high query latency"} <= names
    assert rules.named("database down").severity == "critical"
    assert rules.named("replication lag").severity == "warning"


def test_rule_fires_after_holding_for_its_duration_and_resolves() -> None:
    engine = RuleEngine(AlertRules(rules=[AlertRule(name="lag", severity="warning", when="lag_s > 10", for_s=2)]))
    assert engine.feed(_s(0, lag_s=20)) == []          # true, but not for 2 s yet
    assert engine.feed(_s(1, lag_s=20)) == []
    fired = engine.feed(_s(2.5, lag_s=20))
    assert [(a.alert, a.phase) for a in fired] == [("lag", "firing")]
    assert engine.feed(_s(3, lag_s=30)) == []          # still firing: no second event
    resolved = engine.feed(_s(4, lag_s=1))
    assert [(a.alert, a.phase) for a in resolved] == [("lag", "resolved")]


def test_a_blip_shorter_than_for_does_not_fire() -> None:
    engine = RuleEngine(AlertRules(rules=[AlertRule(name="lag", severity="warning", when="lag_s > 10", for_s=2)]))
    engine.feed(_s(0, lag_s=20))
    engine.feed(_s(1, lag_s=0))
    assert engine.feed(_s(2.5, lag_s=20)) == []


def test_missing_metric_and_role_filter() -> None:
    rule = AlertRule(name="broken", severity="critical", when="receiving < 1", only="replica")
    assert not rule.holds(_s(0))                                  # no metric: false
    assert not rule.holds(_s(0, role="primary", receiving=0))     # wrong role
    assert rule.holds(_s(0, role="replica", receiving=0))


def test_bad_rule_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        AlertRule(name="x", severity="critical", when="lag_s is big")
    f = tmp_path / "rules.yaml"
    f.write_text("rules:\n  - name: x\n    severity: loud\n    when: up < 1\n")
    with pytest.raises(EnvironmentFileError) as err:
        load_rules(f)
    assert str(f) in str(err.value)


def test_detection_time_is_from_the_fault_to_the_first_alert_after_it() -> None:
    def alert(t: float, name: str, severity: str = "critical") -> AlertEvent:
        return AlertEvent(at=Stamp(t=t, wall=t), alert=name, severity=severity, node="node1", phase="firing")  # type: ignore[arg-type]

    fault = FaultEvent(at=Stamp(t=10.0, wall=10.0), began=Stamp(t=9.9, wall=9.9), fault="kill", target="node1",
                       phase="inject")
    events = [alert(5.0, "old news"), fault, alert(11.5, "database down"), alert(12.0, "replication broken")]
    d = detection(events)
    # From the fault's began (9.9), when the injector was called.
    assert d.value_s == pytest.approx(1.6) and d.alert == "database down" and d.status == "valid"
    assert detection([fault]).status == "invalid"
    assert detection([alert(1, "x")]).status == "unknown"
    # An info alert does not count as detection.
    assert detection([fault, alert(11, "backup completed", "info")]).status == "invalid"
