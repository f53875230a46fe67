"""The step catalog: every phrasing, its parameters and what it does, grouped by family.

Read from what pytest-bdd registered (the step functions, their phrasings and keywords) and
from each step function's docstring; a family is a module of ``harness/steps/`` and its
summary is the module docstring's first line. ``harness steps`` prints it, and the README's
step tables are this module's Markdown, between ``<!-- steps:begin -->`` and
``<!-- steps:end -->``::

    python -m harness.steps.catalog --markdown        # print the generated block
    python -m harness.steps.catalog --write README.md # replace the block in place
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.steps.types import PARAM_TYPES, example_value, type_hint

__all__ = ["BEGIN", "END", "Family", "Param", "Phrasing", "Step", "families", "grep", "markdown", "replace_block"]

BEGIN = "<!-- steps:begin -->"
END = "<!-- steps:end -->"
_FIELD = re.compile(r"\{(\w+)(?::(\w+))?\}")
_KEYWORDS = {"given": "Given", "when": "When", "then": "Then", None: "Given/When/Then"}
_ORDER = ["Given", "When", "Then", "Given/When/Then"]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # a type of harness.steps.types, the `parse` library's d / g, or "" (any text)

    @property
    def hint(self) -> str:
        return type_hint(self.kind)


@dataclass(frozen=True)
class Phrasing:
    keyword: str  # Given, When or Then
    text: str  # the phrasing as registered, with its typed fields: "I kill {target:Target}"

    @property
    def example(self) -> str:
        """The phrasing with typical values in its fields: "I kill the primary"."""
        return _FIELD.sub(lambda m: example_value(m.group(2) or "", m.group(1)), self.text)

    def __str__(self) -> str:
        return f"{self.keyword} {self.text}"


@dataclass(frozen=True)
class Step:
    """One step function: its phrasings (the first is the main one, the others synonyms)."""

    phrasings: tuple[Phrasing, ...]
    description: str
    where: str = ""  # harness/steps/disk.py:42, where the step function is defined

    @property
    def params(self) -> tuple[Param, ...]:
        seen: dict[str, Param] = {}
        for p in self.phrasings:
            for m in _FIELD.finditer(p.text):
                seen.setdefault(m.group(1), Param(m.group(1), m.group(2) or ""))
        return tuple(seen.values())

    def matches(self, word: str, family: str) -> bool:
        word = word.lower()
        texts = [family, self.description] + [str(p) for p in self.phrasings] + [p.example for p in self.phrasings]
        return any(word in t.lower() for t in texts)


@dataclass(frozen=True)
class Family:
    name: str  # the module's name: "network"
    module: str  # "harness.steps.network"
    summary: str  # the module docstring's first line
    steps: tuple[Step, ...]

    @property
    def path(self) -> str:
        return self.module.replace(".", "/") + ".py"


def _first_line(doc: str | None) -> str:
    return (inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ").strip()) if doc else ""


def _where(func: Callable[..., object]) -> str:
    return f"{func.__module__.replace('.', '/')}.py:{func.__code__.co_firstlineno}"


def _merged(registered: list[Phrasing]) -> tuple[Phrasing, ...]:
    """Phrasings in source order, one per text: a phrasing registered as Given and When is 'Given/When'."""
    keywords: dict[str, list[str]] = {}
    for p in reversed(registered):  # decorators run bottom-up: the phrasing written first comes last
        keywords.setdefault(p.text, []).append(p.keyword)
    return tuple(Phrasing("/".join(sorted(set(k), key=_ORDER.index)), text) for text, k in keywords.items())


def families() -> list[Family]:
    """Every family of the step library, in the plugin's order, each with its steps in source order."""
    from pytest_bdd.steps import step_function_context_registry

    from harness.steps.plugin import pytest_plugins

    modules = [importlib.import_module(name) for name in pytest_plugins]
    by_func: dict[Callable[..., object], list[Phrasing]] = {}
    for context in list(step_function_context_registry.values()):
        by_func.setdefault(context.step_func, []).append(Phrasing(_KEYWORDS[context.type], context.parser.name))
    out = []
    for module in modules:
        funcs = [f for f in by_func if f.__module__ == module.__name__]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        steps = tuple(Step(_merged(by_func[f]), _first_line(f.__doc__), _where(f)) for f in funcs)
        out.append(Family(module.__name__.rsplit(".", 1)[-1], module.__name__, _first_line(module.__doc__), steps))
    return out


def grep(found: Iterable[Family], word: str | None) -> list[Family]:
    """Only the steps that mention ``word`` (any case) in a phrasing, its example, description or family."""
    if not word:
        return list(found)
    out = []
    for family in found:
        steps = tuple(s for s in family.steps if s.matches(word, family.name))
        if steps:
            out.append(Family(family.name, family.module, family.summary, steps))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(found: Sequence[Family]) -> str:
    """The README's step reference: the parameter types, then one table per family."""
    lines = [
        BEGIN,
        "<!-- Generated by `python -m harness.steps.catalog --write README.md` from the step functions'",
        "     docstrings and phrasings; edit those, not this block (a unit test fails when they differ). -->",
        "",
        "Parameters in a phrasing are written `{name:Type}`; `harness steps --grep WORD` searches this list.",
        "",
        "| type | a value is |",
        "| --- | --- |",
    ]
    lines += [f"| `{t.name}` | {_cell(t.hint)} |" for t in PARAM_TYPES]
    lines += [f"| `{kind}` | {type_hint(kind)} |" for kind in ("d", "g")]
    lines.append("| (none) | any text, usually between quotes |")
    for family in found:
        lines += ["", f"### {family.name} (`{family.path}`)", "", family.summary, "",
                  "| step | what it does |", "| --- | --- |"]
        for step in family.steps:
            phrasings = "<br>".join(f"`{_cell(str(p))}`" for p in step.phrasings)
            lines.append(f"| {phrasings} | {_cell(step.description)} |")
    lines.append(END)
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with its marked block replaced by ``block`` (which carries the markers)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN} ... {END} block")
    return text[:start] + block.rstrip("\n") + text[end + len(END):]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.steps.catalog", description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", action="store_true", help="print the README's generated step block")
    ap.add_argument("--write", metavar="FILE", type=Path, help="replace the marked block of FILE in place")
    args = ap.parse_args(argv)
    block = markdown(families())
    if args.write:
        args.write.write_text(replace_block(args.write.read_text(encoding="utf-8"), block), encoding="utf-8")
        print(f"{args.write}: step reference regenerated")
    else:
        sys.stdout.write(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
