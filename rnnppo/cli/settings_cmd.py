"""`rnnppo settings`: every training setting with its aliases, default and help, from the config itself."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from rnnppo.cli.common import console, fail
from rnnppo.core.config import settings as all_settings


def settings(
    group: str = typer.Option(None, "--group", help="only this group: env, model, rollout, ppo, curiosity or run"),
) -> None:
    """List every setting (NAME=VALUE on train, NAME=SPACE on sweep, a key in a --config TOML file)."""
    rows = all_settings()
    groups = list(dict.fromkeys(row.group for row in rows))
    if group is not None and group not in groups:
        fail(f"--group {group!r} is unknown; choose one of {', '.join(groups)}")
    table = Table(title="settings (name=value; aliases work too)", title_justify="left")
    table.add_column("setting", style="bold")
    table.add_column("alias")
    table.add_column("default", style="cyan")
    table.add_column("meaning")
    for name in groups if group is None else [group]:
        table.add_section()
        for row in rows:
            if row.group == name:
                table.add_row(
                    row.name, ", ".join(row.aliases), escape(row.default), f"[dim]{name}:[/] {escape(row.doc)}"
                )
    console.print(table)
