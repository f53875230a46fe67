"""Typed step parameters: durations, percentages, targets chosen by role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_bdd import parsers

from harness.units import DURATION_PATTERN, parse_duration, parse_percent

__all__ = ["EXTRA_TYPES", "KNOWN_STEPS", "parse", "parse_duration"]

_NUMBER = r"\d+(?:\.\d+)?"
_TARGET = (r"the (?:old |former |previous )?primary|a replica|any replica|replica \d+"
           r"|the sync(?:hronous)? (?:replica|standby)|node\d+"
           r"|the (?:old |former )?leader|the etcd leader|the DCS leader|etcd\d+")  # Patroni


def _typed(pattern: str, fn: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        return fn(text)

    convert.pattern = pattern  # type: ignore[attr-defined]  # the `parse` library reads this
    return convert


def _mode(text: str) -> str:
    return "sync" if text.startswith("sync") else "async"


EXTRA_TYPES: dict[str, Callable[[str], Any]] = {
    "Duration": _typed(DURATION_PATTERN, parse_duration),
    "Percent": _typed(_NUMBER, parse_percent),
    "Number": _typed(_NUMBER, float),
    "Target": _typed(_TARGET, str),
    "Mode": _typed(r"async|asynchronous|sync|synchronous", _mode),
    "Severity": _typed(r"critical|warning|info", str),
    "Unit": _typed(r"[kKmMgG]?[bB]", str),
}

#: Every phrasing registered, for "did you mean" on an unknown step.
KNOWN_STEPS: list[str] = []


def parse(phrase: str) -> Any:
    KNOWN_STEPS.append(phrase)
    return parsers.parse(phrase, extra_types=EXTRA_TYPES)
