"""Durations, percentages and sizes as people write them in features and environment files.

Neutral ground: the step library, fault schedules and the CLI all read durations, and none
of them should import another's module to do it.
"""

from __future__ import annotations

import re

__all__ = ["DURATION_PATTERN", "DURATION_UNITS", "SIZE_PATTERN", "parse_duration", "parse_percent", "parse_size"]

DURATION_UNITS: dict[str, float] = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
}
DURATION_PATTERN = r"\d+(?:\.\d+)?\s*(?:milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|h)"


def parse_duration(text: str) -> float:
    """'50 ms' → 0.05, '2.5 seconds' → 2.5, '15 minutes' → 900, '1 hour' → 3600 (seconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", text.lower())
    if not m or m.group(2) not in DURATION_UNITS:
        raise ValueError(f"not a duration: {text!r} (say e.g. '50 ms', '10 seconds', '15 minutes', '1 hour')")
    return float(m.group(1)) * DURATION_UNITS[m.group(2)]


def parse_percent(text: str) -> float:
    """'99.9' → 99.9; a share above 100 % is refused, it can never be met or exceeded."""
    value = float(text)
    if not 0 <= value <= 100:
        raise ValueError(f"{text} % is not a percentage: it must be between 0 and 100")
    return value


_SIZE_UNITS = {"b": 1, "byte": 1, "bytes": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}
SIZE_PATTERN = r"\d+(?:\.\d+)?\s*(?:[kKmMgG][bB]|bytes?|B)"


def parse_size(text: str) -> int:
    """'1 MB' → 1048576, '512 kB' → 524288, '2GB' → 2147483648 (bytes; powers of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (say e.g. '512 kB', '1 MB', '2 GB')")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
