"""The cost of a drill from container statistics (hand-made stats answers, no Docker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import cost
from harness.cost import CostMeter, counters


def _stats(cpu_ns: int, peak: int, written: int, rx: int, tx: int) -> dict[str, Any]:
    return {"cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}}, "memory_stats": {"max_usage": peak},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 7}, {"op": "Write", "value": written}]},
            "networks": {"eth0": {"rx_bytes": rx, "tx_bytes": tx}, "eth1": {"rx_bytes": 1, "tx_bytes": 1}}}


def test_counters_add_the_volumes_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "loop7").mkdir()
    (tmp_path / "loop7" / "lifetime_write_kbytes").write_text("2048\n")
    monkeypatch.setattr(cost, "EXT4", tmp_path)
    c = counters(_stats(5, 10, 100, 3, 4), ["/dev/loop7", None])
    assert c == {"cpu_ns": 5.0, "peak": 10.0, "written": 100.0 + 2048 * 1024, "rx": 4.0, "tx": 5.0}
    assert counters({}, [])["cpu_ns"] is None  # unknown, never 0


def test_a_scenario_cost_is_the_difference_and_a_killed_node_keeps_its_last_answer() -> None:
    meter = CostMeter()
    mb = 1024 * 1024
    meter._first = {"node1": counters(_stats(1_000_000_000, 50 * mb, 0, 0, 0), []),
                    "node2": counters(_stats(0, 40 * mb, 0, 0, 0), [])}
    meter._last = {"node1": counters(_stats(3_500_000_000, 80 * mb, 10 * mb, 2 * mb, mb), []),
                   "node2": counters(_stats(500_000_000, 45 * mb, 0, 0, 0), [])}
    meter._t1 = 12.0
    c = meter.result_section()
    assert c is not None
    n1 = c.nodes[0]
    assert (n1.node, n1.cpu_s, n1.peak_memory_mb, n1.written_mb) == ("node1", 2.5, 80.0, 10.0)
    assert c.cpu_s == 3.0 and c.peak_memory_mb == 125.0 and c.window_s == 12.0
    assert c.network_mb == pytest.approx(3.0, abs=0.01)
    assert CostMeter().result_section() is None  # nothing measured: no section
