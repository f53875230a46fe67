"""Clients that exercise the database and record every attempt in the history."""

from harness.workload.probe import Probe, ReadProbe, WriteProbe

__all__ = ["Probe", "ReadProbe", "WriteProbe"]
