"""The run's headline on the report's first page (hand-made summaries)."""

from __future__ import annotations

from harness.report.headline import headline


def _scenario(name: str, status: str, rto: float | None, lost: int, cpu: float | None) -> dict[str, object]:
    s: dict[str, object] = {"scenario": name, "status": status, "tags": [],
                            "measurements": {"rto_write_s": rto, "rpo_lost_writes": lost, "error_budget_used": 0.001}}
    if cpu is not None:
        s["cost"] = {"cpu_s": cpu, "peak_memory_mb": 10.0, "written_mb": 12.4, "network_mb": 1.0, "window_s": 5.0,
                     "nodes": []}
    return s


def test_the_headline_has_the_worst_numbers_the_regressions_and_the_cost() -> None:
    text = headline([_scenario("a", "passed", 2.5, 0, 1.25), _scenario("b", "failed", 11.0, 3, 2.0)], 1)
    assert text == ("2 scenarios, 1 passed · worst write RTO 11.00 s · 3 acknowledged writes lost · "
                    "error budget 0.20 % used · maturity level 0 · 1 regression · cost 3.2 CPU s, 25 MB written")
    bare = headline([_scenario("a", "passed", None, 0, None)], None)
    assert bare.endswith("worst write RTO n/a · 0 acknowledged writes lost · error budget 0.10 % used · "
                         "maturity level 0 · regressions n/a")
