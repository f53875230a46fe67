"""``harness steps [--grep WORD]``: every step phrasing, its parameters and what it does, by family."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from harness.steps.catalog import Family, Step

__all__ = ["register", "steps"]

_FIELD = re.compile(r"\{(\w+)(?::\w+)?\}")


def register(app: typer.Typer) -> None:
    app.command("steps")(steps)


_SHORT = {"d": "whole number", "g": "number", "": "text"}  # the `parse` library's own types, untyped fields


def _kind(kind: str) -> str:
    return _SHORT.get(kind, kind)


def _phrasing(keyword: str, text: str) -> Text:
    """A phrasing with its fields as ``{name}`` in colour (the types go on the parameters line)."""
    out = Text()
    out.append(keyword, style="bold")
    out.append(" ")
    at = 0
    for m in _FIELD.finditer(text):
        out.append(text[at:m.start()])
        out.append("{" + m.group(1) + "}", style="yellow")
        at = m.end()
    out.append(text[at:])
    return out


class _Printer:
    """Indented lines: wrapped with a hanging indent on a terminal, whole lines in a pipe."""

    def __init__(self, console: Console, word: str | None) -> None:
        self.console, self.word = console, word

    def line(self, text: Text, indent: int = 0, style: str = "") -> None:
        if self.word:
            text.highlight_words([self.word], style="reverse", case_sensitive=False)
        if style:
            text.stylize(style)
        if self.console.is_terminal:
            self.console.print(Padding(text, (0, 0, 0, indent), expand=False))
        else:
            self.console.print(Text(" " * indent) + text)

    def step(self, step: Step) -> None:
        first, *others = step.phrasings
        self.line(_phrasing(first.keyword, first.text), 2)
        for p in others:
            self.line(_phrasing(p.keyword, p.text), 4, "dim")
        if step.params:
            self.line(Text("  ".join(f"{p.name}: {_kind(p.kind)}" for p in step.params), style="cyan"), 6)
        self.line(Text(step.description or "(no description)", style="italic"), 6)
        self.console.print()

    def family(self, family: Family) -> None:
        head = Text()
        head.append(family.name, style="bold magenta")
        head.append(f"  {family.summary}  ")
        head.append(family.path, style="dim")
        self.line(head)
        self.console.print()
        for step in family.steps:
            self.step(step)


def steps(
    word: Annotated[str | None, typer.Option("--grep", "-g", metavar="WORD",
                                             help="only steps whose phrasing, description or family mention WORD")
                    ] = None,
) -> None:
    """Every step phrasing with its parameters and what it does, grouped by family."""
    from harness.steps.catalog import families, grep  # the step library loads only for this command
    from harness.steps.types import type_hint

    # In a pipe, one line per item whatever its length, so that grep and less see whole phrasings.
    console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    found = grep(families(), word)
    if not found:
        Console(stderr=True).print(f"no step mentions {word!r} (try a shorter word, or `harness steps` for all)",
                                   markup=False, highlight=False)
        raise typer.Exit(1)
    printer = _Printer(console, word)
    for family in found:
        printer.family(family)
    kinds = [k for k in sorted({p.kind for f in found for s in f.steps for p in s.params}) if k not in _SHORT]
    if kinds:
        console.print(Text("parameter types", style="bold"))
        if console.is_terminal:  # each hint wraps beside its type
            legend = Table.grid(padding=(0, 2))
            legend.add_column(style="cyan", no_wrap=True)
            legend.add_column()
            for kind in kinds:
                legend.add_row(kind, type_hint(kind))
            console.print(Padding(legend, (0, 0, 0, 2)))
        else:
            for kind in kinds:
                console.print(Text(f"  {kind:<9} ").append(type_hint(kind)))
        console.print()
    count = sum(len(f.steps) for f in found)
    plural = ("" if count == 1 else "s", "y" if len(found) == 1 else "ies")
    console.print(Text(f"{count} step{plural[0]} in {len(found)} famil{plural[1]}", style="dim"))
