"""A drill's numbers in Prometheus format: ``metrics.prom`` per run, ``/metrics`` during one.

Every scenario's measurements become gauges labelled ``scenario``, ``feature``, ``stack``
(the topology kind: streaming, patroni, regions, or what the result names) and ``path`` (the
client path; ``direct`` unless the result names one), ``status``; each fault's own numbers, when
the result lists them, carry ``fault`` and ``target`` too; each restore carries ``node`` and
``target``. The file is OpenMetrics text written beside ``summary.json``;
:class:`MetricsServer` serves the same families over HTTP on loopback, computed from the
journals while a drill runs (``harness drill``) or a topology stands (``harness up``).

Only what was measured is written: a number that is None (unknown) is left out, never 0.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import MetricsHandler
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_text
from prometheus_client.registry import Collector

from harness.errors import SetupError

__all__ = ["SCENARIO_GAUGES", "MetricsServer", "ScenarioCollector", "scenario_labels", "write_metrics"]

# measurement name -> (metric name, help). Seconds stay seconds, ratios stay 0..1.
SCENARIO_GAUGES: dict[str, tuple[str, str]] = {
    "rto_write_s": ("pgharness_rto_write_seconds", "write RTO: fault began to the end of the outage it caused"),
    "rto_read_s": ("pgharness_rto_read_seconds", "read RTO"),
    "downtime_s": ("pgharness_downtime_seconds", "total length of the outages in the window"),
    "rpo_lost_writes": ("pgharness_lost_writes", "acknowledged writes absent from the surviving primary"),
    "rpo_window_s": ("pgharness_rpo_seconds", "span of the lost data"),
    "availability": ("pgharness_availability_ratio", "1 - downtime / window"),
    "error_budget_used": ("pgharness_error_budget_used_ratio", "downtime / the SLO period's budget"),
    "detection_s": ("pgharness_detection_seconds", "fault began to the first alert about it"),
    "writes_acknowledged": ("pgharness_writes_acknowledged", "probe writes acknowledged"),
    "ha_new_leader_s": ("pgharness_ha_new_leader_seconds", "fault to the HA manager's new leader"),
}
FAULT_GAUGES = {"rto_write_s": "pgharness_fault_rto_write_seconds", "rto_read_s": "pgharness_fault_rto_read_seconds",
                "downtime_s": "pgharness_fault_downtime_seconds", "detection_s": "pgharness_fault_detection_seconds"}
LABELS = ["scenario", "feature", "stack", "path", "status"]


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _stack(s: Mapping[str, Any]) -> str:
    if s.get("stack"):
        return str(s["stack"])
    tags = set(s.get("tags") or [])
    if "patroni" in tags:
        return "patroni"
    if tags & {"multi_region", "dr"}:
        return "regions"
    topology = s.get("topology") or ""
    try:  # summary.json keeps the topology spec as JSON text
        spec = json.loads(topology) if isinstance(topology, str) else topology
        return str(spec.get("kind") or "unknown")
    except (ValueError, AttributeError):
        return str(topology).split(":", 1)[0].split(" ", 1)[0] or "unknown"


def scenario_labels(s: Mapping[str, Any]) -> list[str]:
    stack = _stack(s)
    path = s.get("client_path") or s.get("path") or "direct"
    if isinstance(path, Mapping):
        path = path.get("name") or path.get("kind") or "direct"
    return [str(s.get("scenario", "")), str(s.get("feature", "")), stack, str(path), str(s.get("status", ""))]


class ScenarioCollector(Collector):
    """Gauges of the scenarios ``rows()`` gives (summary.json's scenario objects, or live ones)."""

    def __init__(self, rows: Callable[[], Sequence[Mapping[str, Any]]]) -> None:
        self.rows = rows

    def collect(self) -> Iterable[Metric]:
        rows = list(self.rows())
        fams = {k: GaugeMetricFamily(name, doc, labels=LABELS) for k, (name, doc) in SCENARIO_GAUGES.items()}
        passed = GaugeMetricFamily("pgharness_scenario_passed", "1 when the scenario passed", labels=LABELS)
        faults = {k: GaugeMetricFamily(name, f"per fault: {k}", labels=[*LABELS, "fault", "target", "index"])
                  for k, name in FAULT_GAUGES.items()}
        restore = GaugeMetricFamily("pgharness_restore_rto_seconds", "restore RTO of each restore",
                                    labels=[*LABELS, "node", "restore_target"])
        for s in rows:
            lab = scenario_labels(s)
            m: Mapping[str, Any] = s.get("measurements") or {}
            passed.add_metric(lab, 1.0 if s.get("status") == "passed" else 0.0)
            for key, fam in fams.items():
                v = _number(m.get(key))
                if v is not None:
                    fam.add_metric(lab, v)
            for i, f in enumerate(m.get("faults") or []):
                if isinstance(f, Mapping):
                    for key, fam in faults.items():
                        v = _number(f.get(key) if key in f else f.get(key.removesuffix("_s")))
                        if v is not None:
                            fam.add_metric([*lab, str(f.get("fault", "")), str(f.get("target", "")), str(i)], v)
            for r in (m.get("backup") or {}).get("restores") or []:
                v = _number(r.get("rto_s"))
                if v is not None:
                    restore.add_metric([*lab, str(r.get("node", "")), str(r.get("target", ""))], v)
        yield passed
        yield from fams.values()
        yield from faults.values()
        yield restore


def write_metrics(run_dir: Path, data: Mapping[str, Any]) -> Path:
    """``metrics.prom`` (OpenMetrics text) of a run's summary data, beside summary.json."""
    registry = CollectorRegistry()
    scenarios = list(data.get("scenarios") or [])
    registry.register(ScenarioCollector(lambda: scenarios))
    path = run_dir / "metrics.prom"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(openmetrics_text(registry))  # type: ignore[no-untyped-call]
    tmp.replace(path)
    return path


def summary_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The scenarios summary.json holds so far (none yet: empty)."""
    try:
        return list(json.loads((run_dir / "summary.json").read_text()).get("scenarios") or [])
    except (OSError, ValueError):
        return []


class MetricsServer:
    """``/metrics`` on 127.0.0.1:``port`` (0: any free port) from ``registry``; a context manager.

    A port in use is a SetupError naming it, and nothing is left listening."""

    def __init__(self, registry: CollectorRegistry, port: int = 0) -> None:
        handler = MetricsHandler.factory(registry)
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise SetupError(f"cannot serve /metrics on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
