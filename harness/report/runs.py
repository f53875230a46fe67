"""The runs a reports folder holds, read back from their ``summary.json`` files as trend points
(the record every run leaves; the trend checker is pure over these points)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.checkers.trend import METRICS, TrendPoint

__all__ = ["load_points", "restore_time"]


def restore_time(m: Mapping[str, Any]) -> float | None:
    """The longest restore RTO of a scenario (None: it made no restore)."""
    restores = (m.get("backup") or {}).get("restores") or []
    times = [float(r["rto_s"]) for r in restores if isinstance(r.get("rto_s"), int | float)]
    return max(times) if times else None


def load_points(runs_dir: Path, scenario: str | None = None) -> list[TrendPoint]:
    """One point per run and scenario, oldest run first (summary.json files that do not parse are skipped)."""
    points: list[TrendPoint] = []
    for path in sorted(runs_dir.glob("*/summary.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        run_id = str(data.get("run_id") or path.parent.name)
        for s in data.get("scenarios") or []:
            name = str(s.get("scenario", ""))
            if scenario is not None and scenario.lower() not in name.lower():
                continue
            m = s.get("measurements") or {}
            values: dict[str, float | None] = {}
            for key in METRICS:
                raw = restore_time(m) if key == "restore_s" else m.get(key)
                if key in m or (key == "restore_s" and raw is not None):
                    values[key] = float(raw) if isinstance(raw, int | float) else None
            points.append(TrendPoint(run_id=run_id, started=str(data.get("started") or run_id), scenario=name,
                                     status=str(s.get("status", "")), values=values))
    points.sort(key=lambda p: (p.started, p.run_id))
    return points
