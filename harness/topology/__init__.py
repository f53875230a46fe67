"""Database deployments built from nodes."""

from harness.topology.streaming import StreamingCluster

__all__ = ["StreamingCluster"]
