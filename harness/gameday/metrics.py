"""``/metrics`` while a drill runs or a topology stands: a team's dashboard reads the game day.

The scenarios summary.json already holds (finished), then each journal still being written
with its running numbers (``status="running"``, measured as the live view does), and the live
state: each node's newest sample (``pgharness_node_up``), the alerts firing now, the probe
attempts so far by outcome. One registry, the same families as ``metrics.prom``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from harness.checkers import measure
from harness.gameday.live import LiveState
from harness.history import AlertEvent, ProbeOp, Sample
from harness.report.metrics import ScenarioCollector, summary_rows

__all__ = ["live_registry"]


class _LiveCollector(Collector):
    def __init__(self, state: LiveState) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("pgharness_node_up", "1 when the node's newest sample answered",
                               labels=["scenario", "node", "role"])
        firing = GaugeMetricFamily("pgharness_alert_firing", "alerts firing now",
                                   labels=["scenario", "alert", "severity", "node"])
        probes = CounterMetricFamily("pgharness_probe_attempts", "probe attempts by outcome",
                                     labels=["scenario", "probe", "outcome"])
        for path, journal in list(self.state.journals.items()):
            name = path.parent.name
            events = list(journal.events)
            latest: dict[str, Sample] = {}
            alerts: dict[tuple[str, str], AlertEvent] = {}
            counts: dict[tuple[str, str], int] = {}
            for e in events:
                if isinstance(e, Sample):
                    latest[e.node] = e
                elif isinstance(e, AlertEvent):
                    if e.phase == "firing":
                        alerts[(e.alert, e.node)] = e
                    else:
                        alerts.pop((e.alert, e.node), None)
                elif isinstance(e, ProbeOp):
                    counts[(e.probe, e.outcome)] = counts.get((e.probe, e.outcome), 0) + 1
            for node, s in sorted(latest.items()):
                up.add_metric([name, node, s.role], s.metrics.get("up", 0.0))
            for a in alerts.values():
                firing.add_metric([name, a.alert, a.severity, a.node], 1.0)
            for (probe, outcome), n in sorted(counts.items()):
                probes.add_metric([name, probe, outcome], n)
        yield up
        yield firing
        yield probes


def _rows(state: LiveState) -> list[Mapping[str, Any]]:
    done = summary_rows(state.run_dir)
    finished = {str(s.get("journal", "")) for s in done}
    rows: list[Mapping[str, Any]] = list(done)
    for path, journal in list(state.journals.items()):
        if str(path) in finished or not any(isinstance(e, ProbeOp) for e in journal.events):
            continue
        try:
            m = measure(list(journal.events), state.interval_s).model_dump()
        except Exception:  # noqa: BLE001 - a running number that cannot be computed yet is left out
            continue
        rows.append({"scenario": path.parent.name, "feature": "", "status": "running", "measurements": m})
    return rows


def live_registry(state: LiveState) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ScenarioCollector(lambda: _rows(state)))
    registry.register(_LiveCollector(state))
    return registry
