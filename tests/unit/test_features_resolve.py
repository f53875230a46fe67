"""Every step of every shipped feature resolves to exactly one step function, without Docker.

A renamed phrasing, a typo in a feature or a Target pattern that stops matching shows up here in
a second, not after a topology has started; so does a step that two step functions both match.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pytest_bdd.feature import get_features
from pytest_bdd.steps import StepFunctionContext, step_function_context_registry

from harness.steps.catalog import families

FEATURES = Path(__file__).resolve().parents[2] / "features"


def _steps() -> Iterator[tuple[str, str, str]]:
    """(where, type, text) of every step, each outline rendered with every row of its examples."""
    for feature in get_features([str(FEATURES)]):
        for template in feature.scenarios.values():
            contexts = [c for examples in template.examples for c in examples.as_contexts()] or [{}]
            for context in contexts:
                for step in template.render(context).steps:
                    yield f"{feature.rel_filename}:{step.line_number}", step.type, step.name


def _library() -> list[StepFunctionContext]:
    families()  # loads every step module
    return [c for c in step_function_context_registry.values() if c.step_func.__module__.startswith("harness.steps.")]


def test_every_feature_step_has_exactly_one_step_function() -> None:
    library = _library()
    unknown, ambiguous, count = [], [], 0
    for where, kind, text in _steps():
        count += 1
        funcs = {c.step_func for c in library if c.type in (None, kind) and c.parser.is_matching(text)}
        if not funcs:
            unknown.append(f"{where}: {kind.capitalize()} {text}")
        elif len(funcs) > 1:
            ambiguous.append(f"{where}: {kind.capitalize()} {text} ({len(funcs)} step functions)")
    assert count > 100
    assert unknown == [], "no step function for:\n" + "\n".join(unknown)
    assert ambiguous == [], "more than one step function for:\n" + "\n".join(ambiguous)
