"""Watching the topology during a drill: samples of every node, alert rules over them.

Two implementations of :class:`AlertMonitor`: :class:`Monitor`, the harness's own sampler and
rule loop (``environments/alerts/default.yaml``), and
:class:`~harness.monitor.prometheus.PrometheusMonitor`, real Prometheus + Alertmanager +
postgres_exporter (``monitor.prometheus`` in the environment).
"""

from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from harness.monitor.rules import AlertRule, AlertRules, load_rules
from harness.monitor.sampler import Monitor

__all__ = ["AlertMonitor", "Announces", "AlertRule", "AlertRules", "Monitor", "load_rules"]


@runtime_checkable
class AlertMonitor(Protocol):
    """Samples into the history and records alerts there; a drill part (found by this protocol)."""

    error: BaseException | None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    @property
    def running(self) -> bool: ...

    @property
    def firing(self) -> set[tuple[str, str]]:
        """(alert, node) pairs firing now."""
        ...


@runtime_checkable
class Announces(Protocol):
    """A monitor that takes an operator's announcement (a maintenance window) as an alert."""

    def announce(self, alert: str, severity: str, node: str, minutes: float) -> None: ...
