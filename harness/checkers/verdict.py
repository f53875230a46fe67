"""The tri-state verdict every checker returns, and how verdicts combine.

``valid``: the history shows the property holds. ``invalid``: it shows the property is broken.
``unknown``: the history cannot tell (missing events, or the checker itself crashed); never
read as a pass.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Status", "combine"]

Status = Literal["valid", "invalid", "unknown"]

_RANK: dict[Status, int] = {"valid": 0, "unknown": 1, "invalid": 2}


def combine(*statuses: Status) -> Status:
    """The worst of ``statuses``: invalid beats unknown beats valid (valid when given none)."""
    worst: Status = "valid"
    for s in statuses:
        if _RANK[s] > _RANK[worst]:
            worst = s
    return worst
