"""Database deployments built from nodes."""

import harness.topology.kinds  # noqa: F401 - registers the built-in topology kinds
from harness.topology.streaming import StreamingCluster

__all__ = ["StreamingCluster"]
