"""Step parsers are registered once: every module's phrasings see every type, and a bad size or
rate is named like a bad duration."""

from __future__ import annotations

import re

import pytest
from pytest_bdd import given, parsers

import harness.steps.plugin  # noqa: F401  (loads every step module)
from harness.steps.plugin import _suggest
from harness.steps.types import EXTRA_TYPES, PARAM_TYPES, known_phrasings, type_hint


def _hint(keyword: str, step: str) -> str:
    return _suggest(f'Step definition is not found: {keyword} "{step}". Line 4 in scenario "x"')


@pytest.mark.parametrize(("keyword", "step", "field", "value", "expected"), [
    ("Then", "replication lag on replica 1 exceeds 1 MiB within 20 seconds", "size", "'1 MiB'", "a size such as"),
    ("When", "I generate 3 parsecs of WAL on the primary", "size", "'3 parsecs'", "a size such as"),
    ("When", "I limit replica 1 to 5 parsecs/s", "rate", "'5 parsecs/s'", "a rate such as"),
    ("When", "I limit the bandwidth of replica 1 to fast", "rate", "'fast'", "a rate such as"),
    ("Then", "a loud alert \"database down\" fires within 30 seconds", "severity", "'loud'", "critical, warning"),
])
def test_a_bad_size_or_rate_is_named(keyword: str, step: str, field: str, value: str, expected: str) -> None:
    hint = _hint(keyword, step)
    assert f"bad value for {field!r}" in hint, hint
    assert value in hint and expected in hint, hint


def test_good_sizes_and_rates_have_no_value_problem() -> None:
    for keyword, step in (("Then", "replication lag on replica 1 exceeds 1 MB within 20 seconds"),
                          ("When", "I limit replica 1 to 1 mbit/s")):
        assert "bad value" not in _hint(keyword, step)


def test_every_phrasing_compiles_with_the_one_registry() -> None:
    assert len(known_phrasings()) > 300  # every step module is loaded
    for phrase in known_phrasings():
        parsers.parse(phrase, extra_types=EXTRA_TYPES)  # an unknown type would raise


def test_no_step_module_registers_parsers_of_its_own() -> None:
    from pathlib import Path

    steps = Path(harness.steps.plugin.__file__).parent
    for module in sorted(steps.glob("*.py")):
        if module.name == "types.py":
            continue
        text = module.read_text()
        assert "parsers.parse(" not in text and "extra_types" not in text, module.name
        assert not re.search(r"^def parse\(", text, re.M), module.name


def test_every_type_has_a_hint_and_an_example_that_it_accepts() -> None:
    for t in PARAM_TYPES:
        assert type_hint(t.name) == t.hint
        assert re.fullmatch(t.pattern, t.example), t.name
        t.convert(t.example)


@given("the project's own precondition holds")
def _() -> None:
    """A step a project writes in its conftest, as a plain string: "did you mean" knows it too."""


def test_did_you_mean_knows_steps_registered_without_parse() -> None:
    assert "the project's own precondition holds" in known_phrasings()
    assert "the project's own precondition holds" in _hint("Given", "the projects own precondition holds")
