"""A run at a glance: every scenario's numbers against its targets, and a maturity scorecard.

Written beside ``summary.json`` as ``summary.md`` and ``summary.html``. The scorecard scores
the environment against the maturity levels (docs/maturity.md) from which drills ran and passed,
found by their tags (``@failover``, ``@alerting``, ``@backup``, ``@pitr``, ``@dr``,
``@multi_region``, ``@logical``): a criterion is "met" when a drill for it passed, "missed" when one
failed, and "not tested" when none ran, which is not the same as met.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.result import METRICS, Metric, section_rows, with_target

__all__ = ["Criterion", "scorecard", "write_summaries"]

Verdict = Literal["met", "missed", "not tested"]


@dataclass(frozen=True)
class Criterion:
    level: int
    name: str
    tags: tuple[str, ...]
    verdict: Verdict
    evidence: str


_CRITERIA: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "automated daily backups", ("backup",)),
    (1, "basic monitoring", ("alerting", "monitoring")),
    (1, "manual failover works", ("failover",)),
    (2, "point-in-time recovery", ("pitr", "delayed_replica")),  # a table back from a delayed replica too
    (2, "automated failover", ("patroni", "automatic_failover")),
    (2, "comprehensive alerting", ("alerting",)),
    # logical: a second cluster fed by logical replication; s3: backups kept off-site in object storage
    (2, "regular DR tests", ("dr", "logical", "s3")),
    (3, "multi-region", ("multi_region", "dr")),
    (3, "near-zero RTO (write RTO < 5 s in every failover drill)", ("failover",)),
]


def _num(v: Any, unit: str = "", pct: bool = False) -> str:
    if v is None:
        return "n/a"
    if pct:
        return f"{v * 100:.2f} %"
    return f"{v:.3f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def _failover_rto(m: Mapping[str, Any]) -> Any:
    """A two-region drill is judged by its DR RTO: its fail backs (and a repeated drill's later
    losses) are not part of the first loss's recovery, though writes fail during them."""
    dr = m.get("dr") or {}
    return dr["dr_rto_s"] if dr.get("dr_rto_s") is not None else m.get("rto_write_s")


def scorecard(scenarios: Sequence[Mapping[str, Any]]) -> tuple[int, list[Criterion]]:
    """The highest level whose criteria (and all lower levels') are all met, and each criterion."""
    out: list[Criterion] = []
    for level, name, tags in _CRITERIA:
        runs = [s for s in scenarios if set(s.get("tags", [])) & set(tags)]
        if not runs:
            out.append(Criterion(level, name, tags, "not tested", "no drill tagged " + "/".join(f"@{t}" for t in tags)))
            continue
        if name.startswith("near-zero RTO"):
            rtos = [_failover_rto(s.get("measurements") or {}) for s in runs]
            ok = all(r is not None and r < 5 for r in rtos) and all(s["status"] == "passed" for s in runs)
            worst = max((r for r in rtos if r is not None), default=None)
            out.append(Criterion(level, name, tags, "met" if ok else "missed",
                                 f"worst write RTO {_num(worst, ' s')} over {len(runs)} drills"))
            continue
        passed = [s for s in runs if s["status"] == "passed" and not s.get("violations")]
        verdict: Verdict = "met" if len(passed) == len(runs) else "missed"
        out.append(Criterion(level, name, tags, verdict, f"{len(passed)}/{len(runs)} drills passed"))
    achieved = 0
    for level in (1, 2, 3):
        if all(c.verdict == "met" for c in out if c.level <= level):
            achieved = level
    return achieved, out


def _headline() -> list[Metric]:
    return [m for m in METRICS if m.headline]


def _rows(scenarios: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for s in scenarios:
        m, t = s.get("measurements") or {}, s.get("targets") or {}
        rows.append([s["scenario"], s["status"]] + [with_target(spec, m.get(spec.key), t) for spec in _headline()]
                    + ["; ".join(v["message"] for v in s.get("violations") or []) or "none"])
    return rows


def _head() -> list[str]:
    return ["scenario", "status", *(m.label for m in _headline()), "targets missed"]


_HA_HEAD = ["scenario", "ttl", "write RTO", "RTO - ttl", "detection", "new leader", "first write on it",
            "old leader rejoined", "old leader took leadership back"]


def _ha_rows(scenarios: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for s in scenarios:
        m = s.get("measurements") or {}
        if m.get("ha_new_leader_s") is None and m.get("ha_detection_s") is None:
            continue
        rows.append([s["scenario"], _num(m.get("ha_ttl_s"), " s"), _num(m.get("rto_write_s"), " s"),
                     _num(m.get("ha_rto_minus_ttl_s"), " s")]
                    + [_num(m.get(k), " s") for k in ("ha_detection_s", "ha_new_leader_s", "ha_first_write_s",
                                                      "ha_rejoin_s", "ha_took_back_s")])
    return rows


_DR_HEAD = ["scenario", "DR RTO", "fail back outage", "RPO exposure max / mean", "writes at risk (max)",
            "MTTR ± stdev (repetitions)", "MTTD", "MTTR with the runbook's manual estimates"]


def _dr_rows(scenarios: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Each two-region drill's DR numbers (``measurements.dr``)."""
    rows = []
    for s in scenarios:
        d = (s.get("measurements") or {}).get("dr")
        if not d:
            continue
        reps = d.get("repetitions") or []
        rows.append([s["scenario"], _num(d.get("dr_rto_s"), " s"),
                     ", ".join(_num(v, " s") for v in d.get("failback_outage_s") or []) or "n/a",
                     f"{_num(d.get('exposure_max_s'), ' s')} / {_num(d.get('exposure_mean_s'), ' s')}",
                     _num(d.get("exposure_max_writes")),
                     f"{_num(d.get('mttr_s'), ' s')} ± {_num(d.get('mttr_stdev_s'), ' s')} ({len(reps)})" if reps
                     else "n/a", _num(d.get("mttd_s"), " s"), _num(d.get("mttr_with_people_s"), " s")])
    return rows


def _html_table(title: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return (f"<h2>{html.escape(title)}</h2><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</table>")


_BK_HEAD = ["scenario", "backups ok", "seconds per type", "restore RTO (fetch + replay)", "restore lost writes"]


def _backup_rows(scenarios: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Each drill's backups and restores (``measurements.backup``)."""
    rows = []
    for s in scenarios:
        b = (s.get("measurements") or {}).get("backup")
        if not b:
            continue
        durations = "; ".join(f"{k} {', '.join(f'{v:.1f}' for v in vs)}" for k, vs in b.get("durations_s", {}).items())
        restores = b.get("restores", [])
        rto = "; ".join(f"{_num(r.get('rto_s'), ' s')} ({_num(r.get('fetch_s'), ' s')} + {_num(r.get('replay_s'), ' s')})"
                        for r in restores) or "none"
        lost = "; ".join(_num(r.get("lost_writes")) for r in restores) or "none"
        rows.append([s["scenario"], f"{b.get('succeeded')}/{b.get('attempts')}", durations or "none", rto, lost])
    return rows


_COST_HEAD = ["scenario", "node", "CPU", "peak memory", "written", "network in", "network out"]


def _cost_rows(data: Mapping[str, Any]) -> tuple[str, list[list[str]]]:
    """The run's cost (summary.json ``cost``): its totals as a title, one row per scenario and node."""
    from harness.cost import RunCost, run_cost

    raw = data.get("cost")
    total = RunCost.model_validate(raw) if raw else run_cost(data.get("scenarios", []))
    if total is None:
        return "", []
    title = (f"Cost of the run: CPU {_num(total.cpu_s, ' s')}, peak memory {_num(total.peak_memory_mb, ' MB')}, "
             f"written {_num(total.written_mb, ' MB')}, network {_num(total.network_mb, ' MB')} "
             f"over {_num(total.window_s, ' s')} of drills")
    rows = []
    for sc in total.scenarios:
        rows.append([sc.scenario, "all", _num(sc.cpu_s, " s"), _num(sc.peak_memory_mb, " MB"),
                     _num(sc.written_mb, " MB"), "", _num(sc.network_mb, " MB") + " (in + out)"])
        rows += [["", n.node, _num(n.cpu_s, " s"), _num(n.peak_memory_mb, " MB"), _num(n.written_mb, " MB"),
                  _num(n.network_rx_mb, " MB"), _num(n.network_tx_mb, " MB")] for n in sc.nodes]
    return title, rows


def write_summaries(run_dir: Path, data: Mapping[str, Any]) -> tuple[Path, Path]:
    scenarios = data.get("scenarios", [])
    level, crits = scorecard(scenarios)
    rows = _rows(scenarios)
    head = _head()
    md = [f"# Run {data.get('run_id')} ({data.get('runtime')}, started {data.get('started')})", "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    md += ["", f"## Operational maturity: level {level} of 3", "", "| level | criterion | verdict | evidence |",
           "|---|---|---|---|"]
    md += [f"| {c.level} | {c.name} | {c.verdict} | {c.evidence} |" for c in crits]
    ha = _ha_rows(scenarios)  # the HA manager's failover phases, RTO against ttl
    if ha:
        md += ["", "## Failover phases (seconds from the fault)", "", "| " + " | ".join(_HA_HEAD) + " |",
               "|" + "---|" * len(_HA_HEAD)]
        md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in ha]
    bk = _backup_rows(scenarios)
    if bk:
        total = data.get("backups") or {}
        md += ["", f"## Backups and restores (run-wide backup success rate: {_num(total.get('success_rate'), pct=True)})",
               "", "| " + " | ".join(_BK_HEAD) + " |", "|" + "---|" * len(_BK_HEAD)]
        md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in bk]
    dr = _dr_rows(scenarios)
    if dr:
        md += ["", "## Disaster recovery across regions", "", "| " + " | ".join(_DR_HEAD) + " |",
               "|" + "---|" * len(_DR_HEAD)]
        md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in dr]
    # What drill parts added (ScenarioResult.sections); the cost has its own table, per node.
    parts = [p for p in section_rows(list(scenarios)) if p[0] != "cost"]
    cost_title, cost = _cost_rows(data)
    if cost:
        md += ["", f"## {cost_title}", "", "| " + " | ".join(_COST_HEAD) + " |", "|" + "---|" * len(_COST_HEAD)]
        md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cost]
    for name, shead, srows in parts:
        md += ["", f"## {name}", "", "| " + " | ".join(shead) + " |", "|" + "---|" * len(shead)]
        md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in srows]
    md_path = run_dir / "summary.md"
    md_path.write_text("\n".join(md) + "\n")

    colour = {"passed": "#2a9d8f", "failed": "#d00000", "error": "#9d4edd", "broken": "#9d4edd", "aborted": "#e85d04",
              "met": "#2a9d8f", "missed": "#d00000", "not tested": "#888888"}
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(
            f'<td style="color:{colour[c]}">{html.escape(c)}</td>' if i == 1 and c in colour
            else f"<td>{html.escape(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    score = "".join(f'<tr><td>{c.level}</td><td>{html.escape(c.name)}</td>'
                    f'<td style="color:{colour[c.verdict]}">{c.verdict}</td><td>{html.escape(c.evidence)}</td></tr>'
                    for c in crits)
    page = f"""<!doctype html><meta charset="utf-8"><title>Run {html.escape(str(data.get('run_id')))}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}}th{{background:#f3f3f3}}</style>
<h1>Run {html.escape(str(data.get('run_id')))}</h1><p>{html.escape(str(data.get('runtime')))}, started
{html.escape(str(data.get('started')))}</p><table><tr>{cells}</tr>{body}</table>
<h2>Operational maturity: level {level} of 3</h2>
<table><tr><th>level</th><th>criterion</th><th>verdict</th><th>evidence</th></tr>{score}</table>"""
    if ha:
        page += ("<h2>Failover phases (seconds from the fault)</h2><table><tr>"
                 + "".join(f"<th>{html.escape(h)}</th>" for h in _HA_HEAD) + "</tr>"
                 + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in ha)
                 + "</table>")
    if bk:
        page += ("<h2>Backups and restores</h2><table><tr>"
                 + "".join(f"<th>{html.escape(h)}</th>" for h in _BK_HEAD) + "</tr>"
                 + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in bk)
                 + "</table>")
    if dr:
        page += _html_table("Disaster recovery across regions", _DR_HEAD, dr)
    if cost:
        page += _html_table(cost_title, _COST_HEAD, cost)
    for name, shead, srows in parts:
        page += _html_table(name, shead, srows)
    html_path = run_dir / "summary.html"
    html_path.write_text(page)
    return md_path, html_path
