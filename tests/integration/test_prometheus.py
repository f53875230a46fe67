"""Real Prometheus, Alertmanager and postgres_exporter (the monitoring image) on a real topology."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import labels
from harness.drill import Drill
from harness.environment import PrometheusSettings
from harness.errors import EnvironmentFileError, SetupError
from harness.history import AlertEvent, FaultEvent, Sample
from harness.monitor.choose import use_prometheus
from harness.monitor.expect import expect_alert
from harness.monitor.prometheus import ALERTMANAGER_PORT, DEFAULT_PROMETHEUS_RULES, PrometheusMonitor, check_rules
from harness.runtime.docker_client import docker_client
from harness.wait import wait_until

BAD_RULES = """groups:
  - name: team
    rules:
      - alert: Fine
        expr: pg_up == 0
      - alert: TypoInExpr
        expr: pg_up ==
"""


@pytest.fixture
def drill(tmp_path: Path, run_id: str, node_image: str) -> Iterator[Drill]:
    d = Drill(run_id, "t1", tmp_path / "drill")
    try:
        yield d
    finally:
        d.close()


def test_promtool_rejects_a_bad_rules_file_naming_the_file_and_the_rule(tmp_path: Path, node_image: str) -> None:
    bad = tmp_path / "team.rules.yml"
    bad.write_text(BAD_RULES)
    with pytest.raises(EnvironmentFileError) as exc:
        check_rules(bad)
    text = str(exc.value)
    assert str(bad) in text and '"TypoInExpr"' in text and "7:" in text
    assert check_rules(DEFAULT_PROMETHEUS_RULES) >= 11


def test_a_drill_with_a_bad_rules_file_fails_fast_and_leaves_nothing_running(drill: Drill, tmp_path: Path,
                                                                               run_id: str) -> None:
    bad = tmp_path / "team.rules.yml"
    bad.write_text(BAD_RULES)
    settings = PrometheusSettings(rules=str(bad))
    drill.env = drill.env.model_copy(update={"monitor": drill.env.monitor.model_copy(update={"prometheus": settings})})
    with pytest.raises(SetupError, match="TypoInExpr"):
        drill.start_probes(0.05)
    flt = {"label": [f"{labels.RUN}={run_id}", f"{labels.NODE}=monitor"]}
    assert docker_client().containers.list(all=True, filters=flt) == []


@pytest.mark.slow  # features/monitoring/alerting.feature runs the same path in the default suite
def test_a_killed_primary_is_delivered_by_alertmanager_with_its_detection_split(drill: Drill) -> None:
    use_prometheus(drill)
    drill.start_probes(0.05)
    mon = drill.monitor
    assert isinstance(mon, PrometheusMonitor)
    # The samples are Prometheus's: every node up, one primary.
    wait_until(lambda: {s.node for s in drill.history.of(Sample) if s.metrics.get("up") == 1} >= {"node1", "node2"},
               timeout=10, what="samples of every node")
    time.sleep(1)
    drill.inject("kill", "the primary")
    alert = expect_alert(drill, "database down", 15, "critical")
    assert (alert.node, alert.source) == ("node1", "prometheus")
    assert alert.active_at is not None and alert.fired_at is not None
    # An independent view: Alertmanager's own API lists the alert it delivered.
    with urllib.request.urlopen(f"http://{mon.address}:{ALERTMANAGER_PORT}/api/v2/alerts", timeout=5) as r:
        listed = json.loads(r.read())
    assert any(a["labels"].get("alertname") == "DatabaseDown" and a["labels"].get("node") == "node1" for a in listed)
    began = next(f for f in drill.history.of(FaultEvent) if f.phase == "inject").began
    assert began is not None and began.wall <= alert.active_at.wall <= alert.fired_at.wall + 0.001 <= alert.at.wall + 0.002
    # After the kill, Prometheus's samples say the node is down.
    wait_until(lambda: any(s.node == "node1" and s.role == "down" for s in drill.history.of(Sample)
                           if s.at.t > alert.at.t), timeout=5, what="a down sample of node1")
    assert not any(e.source == "harness" for e in drill.history.of(AlertEvent))
