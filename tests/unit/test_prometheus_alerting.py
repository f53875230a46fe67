"""Real alerting without Docker: names, times, the receiver's events, the detection split."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.checkers.alerting import detection_split
from harness.environment import load_environment
from harness.history import AlertEvent, FaultEvent, History, Stamp
from harness.monitor.rules import alert_key
from harness.monitor.prometheus import (
    DEFAULT_PROMETHEUS_RULES,
    AlertReceiver,
    PrometheusMonitor,
    _AmPayload,

    parse_time,
    prometheus_rules_path,
)


def test_step_names_match_prometheus_alert_names() -> None:
    assert alert_key("database down") == alert_key("DatabaseDown")
    assert alert_key("storage at 95 %") == alert_key("StorageAt95")
    assert alert_key("replication lag") != alert_key("replication broken")


def test_go_times_with_nanoseconds_parse() -> None:
    assert parse_time("2026-12-01T09:50:01.123456789Z") == pytest.approx(1796118601.123456, abs=1e-6)
    assert parse_time("2026-12-01T10:50:01+01:00") == parse_time("2026-12-01T09:50:01Z")
    with pytest.raises(ValueError):
        parse_time("yesterday")


class _Runtime:  # never asked for anything before start()
    pass


def _payload(status: str, starts: str) -> dict[str, Any]:
    return {"version": "4", "status": status, "receiver": "harness", "alerts": [
        {"status": status, "labels": {"alertname": "DatabaseDown", "severity": "critical", "node": "node1"},
         "annotations": {"summary": "PostgreSQL on node1 does not answer"}, "startsAt": starts,
         "endsAt": "0001-01-01T00:00:00Z"}]}


def test_the_receiver_records_each_firing_and_resolved_alert_once() -> None:
    h = History()
    mon = PrometheusMonitor(_Runtime(), type("C", (), {"names": ["node1"]})(), h,  # type: ignore[arg-type]
                            _settings())
    receiver = AlertReceiver("127.0.0.1", mon._on_alerts)
    try:
        for status in ("firing", "firing", "resolved", "resolved"):  # Alertmanager repeats itself
            body = json.dumps(_payload(status, "2026-12-01T09:50:01.5Z")).encode()
            req = urllib.request.Request(receiver.url + "/alerts", data=body, method="POST")
            with urllib.request.urlopen(req, timeout=5) as r:
                assert r.status == 200
        bad = urllib.request.Request(receiver.url + "/alerts", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(bad, timeout=5)
    finally:
        receiver.close()
    events = h.of(AlertEvent)
    assert [(e.alert, e.node, e.phase, e.severity, e.source) for e in events] == [
        ("DatabaseDown", "node1", "firing", "critical", "prometheus"),
        ("DatabaseDown", "node1", "resolved", "critical", "prometheus")]
    assert events[0].fired_at is not None and events[0].fired_at.wall == pytest.approx(1796118601.5)
    assert mon.firing == set()
    assert receiver.errors and "not Alertmanager's" in receiver.errors[0]


def _settings() -> Any:
    from harness.environment import PrometheusSettings

    return PrometheusSettings()


def _at(wall: float) -> Stamp:
    return Stamp(t=wall - 1000, wall=wall)


def test_detection_splits_into_scrape_for_and_delivery() -> None:
    fault = FaultEvent(at=_at(100.05), began=_at(100.0), fault="kill", target="node1", phase="inject")
    before = AlertEvent(at=_at(99.0), alert="ConfigurationChange", severity="info", node="node1", phase="firing",
                        source="prometheus", fired_at=_at(98.9))
    alert = AlertEvent(at=_at(104.2), alert="ReplicationBroken", severity="critical", node="node2", phase="firing",
                       source="prometheus", active_at=_at(101.0), fired_at=_at(104.0))
    split = detection_split([before, fault, alert])
    assert split is not None
    assert (split.alert, split.node) == ("ReplicationBroken", "node2")
    assert split.total_s == pytest.approx(4.2)
    assert split.scrape_s == pytest.approx(1.0)
    assert split.for_s == pytest.approx(3.0)
    assert split.delivery_s == pytest.approx(0.2)
    assert "for 3.00 s" in split.describe()
    assert detection_split([before]) is None  # no fault
    native = alert.model_copy(update={"source": "harness"})
    assert detection_split([fault, native]) is None  # the harness's own rules have no parts


def test_an_environment_names_its_own_rules_file_relative_to_itself(tmp_path: Path) -> None:
    env_file = tmp_path / "team.yaml"
    env_file.write_text("monitor:\n  prometheus:\n    rules: rules/team.rules.yml\n    scrape_interval_s: 2\n")
    env = load_environment(env_file)
    assert env.monitor.prometheus is not None and env.monitor.prometheus.scrape_interval_s == 2
    assert prometheus_rules_path(env) == tmp_path / "rules" / "team.rules.yml"
    assert prometheus_rules_path(load_environment("streaming")) == DEFAULT_PROMETHEUS_RULES


def test_a_bad_prometheus_setting_names_the_line(tmp_path: Path) -> None:
    from harness.errors import EnvironmentFileError

    env_file = tmp_path / "bad.yaml"
    env_file.write_text("monitor:\n  prometheus:\n    scrape_interval_s: -1\n")
    with pytest.raises(EnvironmentFileError, match=r"bad.yaml:3: monitor.prometheus.scrape_interval_s"):
        load_environment(env_file)


def test_the_payload_model_ignores_what_it_does_not_use() -> None:
    p = _AmPayload.model_validate(_payload("firing", "2026-12-01T09:50:01Z") | {"groupKey": "x"})
    assert p.alerts[0].labels["node"] == "node1"


class _Res:
    exit_code, output = 0, ""


class _MonitorNode:
    """The monitoring container, as far as watch() uses it: what was run in it."""

    def __init__(self) -> None:
        self.detached: list[tuple[list[str], dict[str, str]]] = []
        self.ran: list[list[str]] = []
        self.container = self

    def exec_run(self, cmd: list[str], *, user: str, detach: bool, environment: dict[str, str]) -> None:
        assert detach and user == "root"
        self.detached.append((cmd, environment))

    def exec(self, cmd: list[str], *, user: str, timeout: float) -> _Res:
        self.ran.append(cmd)
        return _Res()


def test_a_node_that_joins_gets_an_exporter_with_the_password_and_a_scrape_target() -> None:
    from harness.history import NodeJoined, now

    h = History()
    rt = type("R", (), {"network_name": "pgh-run"})()
    mon = PrometheusMonitor(rt, type("C", (), {"names": ["node1"]})(), h, _settings(),  # type: ignore[arg-type]
                            password="p@ss/word:1", networks=["pgh-run", "pgh-run-west"])
    assert mon.networks == ["pgh-run-west"]  # the run's own network is joined at creation
    mon._receiver = AlertReceiver("127.0.0.1", mon._on_alerts)
    try:
        env = mon._container_env()
    finally:
        mon._receiver.close()
    assert "node1 9187 postgresql://postgres:p%40ss%2Fword%3A1@node1:5432/" in env["HARNESS_EXPORTERS"]
    assert "/etc/pgharness/targets/*.json" in env["HARNESS_PROMETHEUS_YML"]
    node = _MonitorNode()
    mon._node = node  # type: ignore[assignment]
    h.add(NodeJoined(at=now(), node="restore1", role="restored"))
    mon._watch_joined()
    mon._watch_joined()  # each event once
    assert mon.names == ["node1", "restore1"]
    [(cmd, environment)] = node.detached
    assert environment["PORT"] == "9188" and environment["NAME"] == "restore1"
    assert environment["DATA_SOURCE_NAME"].startswith("postgresql://postgres:p%40ss%2Fword%3A1@restore1:5432/")
    assert "p%40ss" not in " ".join(cmd)  # the password is in the exec's environment, not its command line
    [write] = node.ran
    assert json.loads(write[-1]) == [{"targets": ["127.0.0.1:9188"], "labels": {"node": "restore1"}}]


def test_an_exporter_that_cannot_reach_a_node_is_one_error_naming_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prometheus and Alertmanager answer, but node2's exporter reports pg_up 0 and node3's is not
    scraped: the start fails naming both nodes and why, instead of a drill without their metrics."""
    from harness.environment import PrometheusSettings
    from harness.errors import SetupError

    class _Ok:
        status = 200

        def __enter__(self) -> _Ok:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    rt = type("R", (), {"network_name": "pgh-run"})()
    mon = PrometheusMonitor(rt, type("C", (), {"names": ["node1", "node2", "node3"]})(), History(),  # type: ignore[arg-type]
                            PrometheusSettings(ready_timeout_s=0.5))
    mon.address = "127.0.0.1"
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _Ok())
    series = {'pg_up{job="postgres"}': {"node1": "1", "node2": "0"},
              'up{job="postgres"}': {"node1": "1", "node2": "1", "node3": "0"}}
    monkeypatch.setattr(mon, "query", lambda expr: [{"metric": {"node": n}, "value": [0, v]}
                                                    for n, v in series[expr].items()])
    with pytest.raises(SetupError, match=r"postgres_exporter cannot reach every node within 0.5 s "
                                         r"\(node2: its exporter cannot connect \(pg_up 0\); "
                                         r"node3: its exporter is not scraped\)"):
        mon._wait_ready()
