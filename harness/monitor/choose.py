"""Which monitor a drill runs: the harness's own rule loop, or real alerting (monitor.prometheus)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.environment import Environment, PrometheusSettings
from harness.errors import SetupError
from harness.history import History
from harness.monitor import AlertMonitor, Monitor, load_rules

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.runtime.base import Runtime
    from harness.topology.base import Topology

__all__ = ["new_monitor", "use_prometheus"]


def new_monitor(env: Environment, topology: Topology, history: History, runtime: Runtime | None,
                directory: Path) -> AlertMonitor:
    """The environment's monitor for ``topology`` (not started)."""
    settings = env.monitor.prometheus
    if settings is None:
        return Monitor(topology, history, load_rules(), interval_s=env.monitor.interval_s,
                       timeout_s=env.monitor.timeout_s, max_duration_s=env.probe.max_duration_s,
                       disk_usage=topology.disk_usage)
    if runtime is None:
        raise SetupError("monitor.prometheus: real alerting runs its monitoring container on Docker")
    from harness.monitor.prometheus import PrometheusMonitor, prometheus_rules_path
    from harness.runtime.docker import docker_runtime
    from harness.topology.auth import password_from_environment
    from harness.topology.regions import RegionCluster

    # Two regions: the monitoring container joins each region's network (it watches each from inside).
    networks = [r.network for r in topology.regions.values()] if isinstance(topology, RegionCluster) else []
    password = password_from_environment(env.auth.password_env) if env.auth is not None else None
    return PrometheusMonitor(docker_runtime(runtime, "real alerting"), topology, history, settings,
                             rules=prometheus_rules_path(env), disk_usage=topology.disk_usage,
                             interval_s=env.monitor.interval_s, max_duration_s=env.probe.max_duration_s,
                             logs_dir=directory / "logs", password=password, networks=networks)


def use_prometheus(drill: Drill) -> None:
    """Alerts evaluated by Prometheus and delivered by Alertmanager (before the probes start)."""
    if drill.monitor is not None:
        raise SetupError("the monitor already runs: say how alerts are evaluated before the probes start")
    if drill.env.monitor.prometheus is None:
        monitor = drill.env.monitor.model_copy(update={"prometheus": PrometheusSettings()})
        drill.env = drill.env.model_copy(update={"monitor": monitor})
