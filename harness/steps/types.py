"""Typed step parameters: durations, percentages, targets chosen by role."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pytest_bdd import parsers

__all__ = ["EXTRA_TYPES", "KNOWN_STEPS", "parse", "parse_duration"]

_UNITS = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
}
_DURATION = r"\d+(?:\.\d+)?\s*(?:milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|h)"
_NUMBER = r"\d+(?:\.\d+)?"
_TARGET = (r"the (?:old |former |previous )?primary|a replica|any replica|replica \d+"
           r"|the sync(?:hronous)? (?:replica|standby)|node\d+"
           r"|the (?:old |former )?leader|the etcd leader|the DCS leader|etcd\d+")  # issue 4 (Patroni)


def parse_duration(text: str) -> float:
    """'50 ms' → 0.05, '2.5 seconds' → 2.5, '15 minutes' → 900, '1 hour' → 3600 (seconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", text.lower())
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"not a duration: {text!r} (say e.g. '50 ms', '10 seconds', '15 minutes', '1 hour')")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _typed(pattern: str, fn: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        return fn(text)

    convert.pattern = pattern  # type: ignore[attr-defined]  # the `parse` library reads this
    return convert


def _mode(text: str) -> str:
    return "sync" if text.startswith("sync") else "async"


EXTRA_TYPES: dict[str, Callable[[str], Any]] = {
    "Duration": _typed(_DURATION, parse_duration),
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
