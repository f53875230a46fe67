"""Typed step parameters (durations, percentages, sizes, rates, targets chosen by role), registered once.

Every step module builds its parsers with :func:`parse`, so every phrasing sees every type and
a bad value in any step is named with what its type expects (:func:`type_hint`); "did you
mean" and ``harness steps`` read the phrasings from pytest-bdd's own registry of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_bdd import parsers

from harness.net.rules import RATE_PATTERN, parse_rate
from harness.units import DURATION_PATTERN, SIZE_PATTERN, parse_duration, parse_percent, parse_size

__all__ = ["EXTRA_TYPES", "PARAM_TYPES", "ParamType", "example_value", "known_phrasings", "parse", "parse_duration",
           "type_hint"]

_NUMBER = r"\d+(?:\.\d+)?"
# Roles are resolved when the step runs; the Patroni topology adds the leader and the DCS's members.
_TARGET = (r"the (?:old |former |previous )?primary|a replica|any replica|replica \d+"
           r"|the sync(?:hronous)? (?:replica|standby)|node\d+"
           r"|the (?:old |former )?leader|the etcd leader|the DCS leader|etcd\d+")
_RATE_UNIT = r"[kKmMgG]?bit/s|[kKmMgG]?bps"


def _mode(text: str) -> str:
    return "sync" if text.startswith("sync") else "async"


@dataclass(frozen=True)
class ParamType:
    """A parameter type of the step phrasings (``{timeout:Duration}``): what it matches and means."""

    name: str
    pattern: str  # what the `parse` library matches
    convert: Callable[[str], Any]  # raises ValueError on a value the pattern let through
    hint: str  # what a value looks like, for errors and the step catalog
    example: str  # a typical value, to compare a misspelt step with the phrasings

    def converter(self) -> Callable[[str], Any]:
        fn = self.convert

        def convert(text: str) -> Any:
            return fn(text)

        convert.pattern = self.pattern  # type: ignore[attr-defined]  # the `parse` library reads this
        return convert


PARAM_TYPES: tuple[ParamType, ...] = (
    ParamType("Duration", DURATION_PATTERN, parse_duration,
              "a duration such as '50 ms', '10 seconds', '15 minutes' or '1 hour'", "10 seconds"),
    ParamType("Percent", _NUMBER, parse_percent, "a percentage between 0 and 100", "50"),
    ParamType("Number", _NUMBER, float, "a number such as 3 or 2.5", "50"),
    ParamType("Target", _TARGET, str,
              "a role (the primary, a replica, replica 2, the sync replica, the leader) or a node name (node3)",
              "the primary"),
    ParamType("Mode", r"async|asynchronous|sync|synchronous", _mode, "async or sync", "async"),
    ParamType("Severity", r"critical|warning|info", str, "critical, warning or info", "critical"),
    ParamType("Unit", r"[kKmMgG]?[bB]", str, "a size unit: B, kB, MB or GB", "MB"),
    ParamType("Size", SIZE_PATTERN, parse_size, "a size such as '512 kB', '1 MB' or '2 GB' (powers of 1024)", "1 MB"),
    ParamType("Rate", RATE_PATTERN, parse_rate,
              "a rate such as '1 mbit/s', '500 kbit/s' or '2 MB/s' (B is bytes, b is bits)", "1 mbit/s"),
    ParamType("RateUnit", _RATE_UNIT, lambda u: parse_rate(f"1 {u}"), "a rate unit: kbit/s, mbit/s or gbit/s",
              "mbit/s"),
)

#: The `parse` library's own types that the phrasings use, and untyped fields (any text).
_BUILTIN_HINTS = {"d": ("a whole number", "2"), "g": ("a number such as 3 or 2.5", "2"), "": ("any text", "")}

#: The converters handed to the `parse` library, by type name.
EXTRA_TYPES: dict[str, Callable[[str], Any]] = {t.name: t.converter() for t in PARAM_TYPES}
_BY_NAME = {t.name: t for t in PARAM_TYPES}

def type_hint(kind: str) -> str:
    """What a value of this type looks like ('' is an untyped field)."""
    known = _BY_NAME.get(kind)
    return known.hint if known is not None else _BUILTIN_HINTS.get(kind, (kind, ""))[0]


def example_value(kind: str, name: str) -> str:
    """A typical value of this type; an untyped field shows its name."""
    known = _BY_NAME.get(kind)
    if known is not None:
        return known.example
    return _BUILTIN_HINTS.get(kind, ("", ""))[1] or name


def parse(phrase: str) -> Any:
    """The parser of a phrasing, knowing every parameter type."""
    return parsers.parse(phrase, extra_types=EXTRA_TYPES)


def known_phrasings() -> list[str]:
    """Every phrasing pytest-bdd has registered so far (the harness's and a project's own steps)."""
    from pytest_bdd.steps import step_function_context_registry

    return sorted({c.parser.name for c in list(step_function_context_registry.values())})
