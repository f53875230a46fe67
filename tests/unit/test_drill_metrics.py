"""metrics.prom and /metrics: the drill's numbers in Prometheus format."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from harness.errors import SetupError
from harness.gameday import LiveState
from harness.gameday.metrics import live_registry
from harness.history import AlertEvent, History, ProbeOp, Sample, Stamp
from harness.report.metrics import MetricsServer, write_metrics


def _scenario(**m: Any) -> dict[str, Any]:
    return {"feature": "Primary failover", "scenario": "Kill the primary", "status": "passed",
            "topology": "streaming: primary node2, replicas node3, async", "measurements": m}


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_prom_holds_each_scenario_and_fault_and_restore(tmp_path: Path) -> None:
    data = {"scenarios": [
        _scenario(rto_write_s=0.17, rto_read_s=None, rpo_lost_writes=2, availability=0.98, detection_s=1.9,
                  downtime_s=0.4, faults=[{"fault": "kill", "target": "node1", "rto_write_s": 0.17}],
                  backup={"restores": [{"node": "restore1", "target": "latest", "rto_s": 4.5}]}),
        _scenario(rto_write_s=12.0) | {"scenario": "Patroni kill", "status": "failed",
                                        "topology": "patroni: 3 nodes", "client_path": "haproxy"},
    ]}
    text = write_metrics(tmp_path, data).read_text()
    assert text.rstrip().endswith("# EOF")  # OpenMetrics
    got = _samples(text)
    lab = frozenset({"scenario": "Kill the primary", "feature": "Primary failover", "stack": "streaming",
                     "path": "direct", "status": "passed"}.items())
    assert got[("pgharness_rto_write_seconds", lab)] == pytest.approx(0.17)
    assert got[("pgharness_lost_writes", lab)] == 2
    assert got[("pgharness_downtime_seconds", lab)] == pytest.approx(0.4)
    assert got[("pgharness_scenario_passed", lab)] == 1
    assert ("pgharness_rto_read_seconds", lab) not in got  # unknown is left out, never 0
    fault = lab | {("fault", "kill"), ("target", "node1"), ("index", "0")}
    assert got[("pgharness_fault_rto_write_seconds", frozenset(fault))] == pytest.approx(0.17)
    restore = lab | {("node", "restore1"), ("restore_target", "latest")}
    assert got[("pgharness_restore_rto_seconds", frozenset(restore))] == pytest.approx(4.5)
    other = frozenset({"scenario": "Patroni kill", "feature": "Primary failover", "stack": "patroni",
                       "path": "haproxy", "status": "failed"}.items())
    assert got[("pgharness_rto_write_seconds", other)] == 12.0
    assert got[("pgharness_scenario_passed", other)] == 0


def _at(t: float) -> Stamp:
    return Stamp(t=t, wall=1_700_000_000 + t)


def test_the_live_endpoint_serves_running_numbers_from_the_journals(tmp_path: Path) -> None:
    journal = tmp_path / "scenarios" / "01-kill" / "journal.jsonl"
    journal.parent.mkdir(parents=True)
    h = History(journal=journal)
    for i in range(5):
        h.add(ProbeOp(at=_at(i * 0.05), probe="write", seq=i, node="node1", outcome="ok", end=_at(i * 0.05 + 0.01)))
    h.add(ProbeOp(at=_at(0.3), probe="write", seq=5, node="node1", outcome="fail", end=_at(0.31)))
    h.add(Sample(at=_at(0.3), node="node1", role="down", metrics={"up": 0.0}))
    h.add(AlertEvent(at=_at(0.3), alert="DatabaseDown", severity="critical", node="node1", phase="firing"))
    h.close()
    state = LiveState(tmp_path)
    state.poll()
    with MetricsServer(live_registry(state)) as server:
        with urllib.request.urlopen(server.url, timeout=5) as r:
            text = r.read().decode()
    assert 'pgharness_node_up{node="node1",role="down",scenario="01-kill"} 0.0' in text
    assert 'pgharness_alert_firing{alert="DatabaseDown",node="node1",scenario="01-kill",severity="critical"} 1.0' in text
    assert 'pgharness_probe_attempts_total{outcome="ok",probe="write",scenario="01-kill"} 5.0' in text
    assert 'pgharness_scenario_passed{feature="",path="direct",scenario="01-kill",stack="unknown",status="running"}' in text


def test_a_metrics_port_in_use_is_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(SetupError, match=f"127.0.0.1:{port}"):
            MetricsServer(live_registry(LiveState(Path("/nonexistent"))), port)
