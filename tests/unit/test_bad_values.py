"""An impossible or misspelt value in a step is named, with what was expected."""

from __future__ import annotations

import pytest

import harness.steps.checks  # noqa: F401  (registers its phrasings)
import harness.steps.faults  # noqa: F401
from harness.steps.plugin import _suggest
from harness.units import parse_duration, parse_percent


def _hint(step: str) -> str:
    return _suggest(f'Step definition is not found: Then "{step}". Line 4 in scenario "x"')


@pytest.mark.parametrize(("step", "value", "expected"), [
    ("the write RTO is under -5 seconds", "'-5 seconds'", "negative"),
    ("the write RTO is under 5 parsecs", "'5 parsecs'", "a duration such as"),
    ("the availability is at least 120 %", "'120'", "between 0 and 100"),
    ("the availability is at least 99.9 percent", "", ""),
])
def test_a_bad_value_is_named(step: str, value: str, expected: str) -> None:
    hint = _hint(step)
    if not value:
        assert "bad value" not in hint  # wrong words, not a wrong value: only suggestions
        assert "the availability is at least {percent:Percent} %" in hint
        return
    assert "bad value for 'limit'" in hint or "bad value for 'percent'" in hint
    assert value in hint and expected in hint


def test_a_good_step_has_no_value_problem() -> None:
    assert "bad value" not in _hint("the write RTO is under 5 seconds")


def test_percent_and_duration_parsers() -> None:
    assert parse_percent("99.9") == 99.9
    with pytest.raises(ValueError, match="between 0 and 100"):
        parse_percent("100.5")
    assert parse_duration("1.5 minutes") == 90
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("-1 s")
