"""``harness env list``: the environments a name can mean here, the project's and the built-in."""

from __future__ import annotations

import typer

from harness import project, resources
from harness.errors import HarnessError

__all__ = ["register"]


def register(env_app: typer.Typer) -> None:
    @env_app.command("list")
    def env_list() -> None:
        """List environments by name: the project's own (found first) and the built-in ones."""
        from rich.table import Table

        from harness.commands.output import console

        from harness.environment import load_environment

        proj = project.current()
        table = Table(title=f"environments (project {proj.root})")
        for col in ("name", "from", "file", "description"):
            table.add_column(col, overflow="fold")
        shadowed = {f.name for f in resources.catalog("environments", proj) if f.origin == "project"}
        for found in resources.catalog("environments", proj):
            try:
                description = load_environment(found.path).description
            except HarnessError as exc:
                description = f"[red]invalid: {exc}[/]"
            origin: str = found.origin
            if origin == "project" and resources.builtin_environment(found.name) is not None:
                origin += " (shadows the built-in one)"
            table.add_row(found.name, origin, str(found.path), description)
        console.print(table)
        if not shadowed:
            console.print(f"(no environments of the project's own in {proj.environments})")
