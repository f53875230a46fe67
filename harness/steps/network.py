"""When/Then steps of network faults: partitions and degraded links."""

from __future__ import annotations
