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
    # Docker's empty block-I/O list is no answer either; the volumes' own counters still count.
    empty = {"blkio_stats": {"io_service_bytes_recursive": []}}
    assert counters(empty, [])["written"] is None
    assert counters(empty, ["/dev/loop7"])["written"] == 2048 * 1024


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


def _node(name: str, cpu: float | None) -> dict[str, Any]:
    return {"node": name, "cpu_s": cpu, "peak_memory_mb": 50.0, "written_mb": 2.0, "network_rx_mb": 1.0,
            "network_tx_mb": 0.5}


def test_summary_json_has_the_runs_cost_per_scenario_and_node_and_the_report_shows_it(tmp_path: Path) -> None:
    from harness.report.summary import write_summaries
    from harness.result import ScenarioResult

    one = ScenarioResult(feature="f", scenario="kill", directory=tmp_path / "a")
    one.sections["cost"] = cost.Cost(cpu_s=3.0, peak_memory_mb=100.0, written_mb=4.0, network_mb=3.0, window_s=10.0,
                                     nodes=[cost.NodeCost(**_node("node1", 1.0)), cost.NodeCost(**_node("node2", 2.0))])
    first = one.to_json()
    assert first["cost"] == first["sections"]["cost"] and first["cost"]["cpu_s"] == 3.0  # both places
    # An older run's entry has it only under sections: still read.
    older = {"scenario": "pause", "feature": "f", "status": "passed", "sections": {"cost": {
        "cpu_s": None, "peak_memory_mb": 50.0, "written_mb": 2.0, "network_mb": 1.5, "window_s": 5.0,
        "nodes": [_node("node1", None)]}}}
    total = cost.run_cost([first, older, {"scenario": "no cost"}])
    assert total is not None
    assert (total.cpu_s, total.peak_memory_mb, total.written_mb, total.network_mb, total.window_s) == (
        3.0, 150.0, 6.0, 4.5, 15.0)
    assert [s.scenario for s in total.scenarios] == ["kill", "pause"]
    assert [n.node for n in total.scenarios[0].nodes] == ["node1", "node2"] and total.scenarios[1].cpu_s is None
    assert cost.run_cost([{"scenario": "x"}]) is None
    data = {"run_id": "r", "runtime": "docker", "started": "now", "scenarios": [first, older],
            "cost": total.model_dump(mode="json")}
    md, page = write_summaries(tmp_path, data)
    text = md.read_text()
    assert "## Cost of the run: CPU 3.000 s, peak memory 150.000 MB" in text
    assert "|  | node2 | 2.000 s | 50.000 MB | 2.000 MB | 1.000 MB | 0.500 MB |" in text
    assert "| pause | all | n/a |" in text  # unknown, not 0
    assert "Cost of the run" in page.read_text()
