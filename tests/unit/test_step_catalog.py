"""`harness steps` and the README's step tables come from the registered steps and their docstrings."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

import harness.steps.plugin  # noqa: F401  (the pytest plugin; the catalog loads its step modules)
from harness.cli import app
from harness.steps.catalog import BEGIN, END, families, grep, markdown, replace_block

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _written_phrasings() -> set[str]:
    """Every phrasing in a step decorator of harness/steps/, read from the source (not from pytest-bdd)."""
    out = set()
    for path in (ROOT / "harness" / "steps").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("given", "when", "then") and node.args):
                arg = node.args[0]
                if isinstance(arg, ast.Call) and arg.args:  # parse("...")
                    arg = arg.args[0]
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), f"{path.name}:{node.lineno}"
                out.add(arg.value)
    return out


def test_every_registered_phrasing_appears_exactly_once() -> None:
    found = families()
    listed = Counter(p.text for f in found for s in f.steps for p in s.phrasings)
    assert set(listed) == _written_phrasings()
    assert [t for t, n in listed.items() if n > 1] == []
    # One family per step module that the plugin loads, each holding steps.
    assert [f.module for f in found] == harness.steps.plugin.pytest_plugins
    assert all(f.steps and f.summary for f in found)


def test_every_step_has_a_one_line_description() -> None:
    missing = [f"{s.where}: {s.phrasings[0]}" for f in families() for s in f.steps if not s.description]
    assert missing == [], "give these step functions a one-line docstring:\n" + "\n".join(missing)
    for f in families():
        for s in f.steps:
            assert "\n" not in s.description and len(s.description) < 300, s.description


def test_the_phrasing_written_first_comes_first() -> None:
    faults = next(f for f in families() if f.name == "faults")
    kill = faults.steps[0]
    assert [str(p) for p in kill.phrasings] == ["When I kill {target:Target}", "When I crash {target:Target}"]
    assert [(p.name, p.kind) for p in kill.params] == [("target", "Target")]
    assert kill.phrasings[0].example == "I kill the primary"


def test_grep_keeps_only_matching_steps_in_any_case() -> None:
    found = grep(families(), "wal DISK")
    assert [f.name for f in found] == ["disk"]
    assert all("wal disk" in " ".join(str(p) for p in s.phrasings).lower() or "wal" in s.description.lower()
               for s in found[0].steps)
    assert len(found[0].steps) < len(next(f for f in families() if f.name == "disk").steps)
    # A filled-in example matches too: people search for what they would write.
    assert any(s.phrasings[0].text == "I kill {target:Target}" for f in grep(families(), "kill the primary")
               for s in f.steps)
    assert grep(families(), "no such step anywhere") == []


def test_the_command_prints_phrasings_parameters_and_descriptions() -> None:
    result = CliRunner().invoke(app, ["steps", "--grep", "postmaster"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "When I kill the postmaster on {target}" in out
    assert "target: Target" in out
    assert "Only PostgreSQL crashes: SIGKILL to the postmaster." in out
    assert "faults" in out and "I heal the network" not in out


def test_the_command_lists_every_step_once() -> None:
    result = CliRunner().invoke(app, ["steps"])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    for f in families():
        for s in f.steps:
            for p in s.phrasings:
                shown = re.sub(r"\{(\w+):\w+\}", r"{\1}", str(p))
                assert lines.count(shown) == 1, shown


def test_a_grep_that_matches_nothing_fails_and_says_so() -> None:
    result = CliRunner().invoke(app, ["steps", "--grep", "parsecs"])
    assert result.exit_code == 1
    assert "no step mentions 'parsecs'" in result.output


def test_the_readme_step_tables_are_generated() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    block = text[text.index(BEGIN):text.index(END) + len(END)] + "\n"
    assert block == markdown(families()), "README.md's step tables drifted: python -m harness.steps.catalog --write README.md"


def test_replace_block_keeps_what_is_around_it() -> None:
    text = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    assert replace_block(text, f"{BEGIN}\nnew\n{END}\n") == f"intro\n{BEGIN}\nnew\n{END}\noutro\n"
