"""Watching the topology during a drill: samples of every node, alert rules over them."""

from harness.monitor.rules import AlertRule, AlertRules, load_rules
from harness.monitor.sampler import Monitor

__all__ = ["AlertRule", "AlertRules", "Monitor", "load_rules"]
