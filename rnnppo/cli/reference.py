"""The command and settings references as Markdown, generated from the Typer app and TrainConfig (one source:
the docs site's reference pages are these functions' output, never a hand-kept copy)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from rnnppo.core.config import settings as all_settings

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "done"),
    (
        1,
        "the work failed: training diverged (NaN loss), a step after training failed (model.pt and summary.json"
        " are kept; the step is named in summary.json's after_training_errors), a sweep's worker died, results"
        " could not be written, nightly found a regression (--fail-on-regression) or could not check the night",
    ),
    (2, "bad input, refused before anything is written: one line naming what is wrong and how to fix it"),
    (
        130,
        "stopped by Ctrl-C (SIGINT): train kept the last whole iteration in checkpoint.pt and printed the --resume"
        " command; a sweep kept its finished trials, and re-running the same command goes on",
    ),
    (143, "stopped by SIGTERM (kill, Slurm before its time limit): as for Ctrl-C"),
)
"""Every exit code a command can end with and what it means (the reference pages print this table)."""


def _md(text: str) -> str:
    """One table cell: no line breaks, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _params(command: Any, ctx: Any) -> tuple[list[Any], list[Any]]:
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [p for p in command.params if p.param_type_name == "option" and not getattr(p, "hidden", False)]
    return arguments, options


def command_markdown(name: str, command: Any) -> str:
    """One command's section: what it does, its usage line, its arguments and options with defaults."""
    ctx = command.make_context(f"rnnppo {name}", [], resilient_parsing=True)
    arguments, options = _params(command, ctx)
    usage = " ".join(["rnnppo", name, "[OPTIONS]", *(f"[{p.name.upper()}]..." for p in arguments)])
    lines = [f"## `rnnppo {name}`", "", _help_text(command), "", "```", usage, "```", ""]
    if arguments:
        lines += ["| argument | meaning |", "| --- | --- |"]
        lines += [f"| `{p.name.upper()}` | {_md(getattr(p, 'help', None) or '')} |" for p in arguments]
        lines.append("")
    if options:
        lines += ["| option | meaning | default |", "| --- | --- | --- |"]
        for option in options:
            record = option.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            default = "" if option.default in (None, False, ()) or getattr(option, "is_flag", False) else option.default
            help_text = re.sub(
                r"\s*\[(default: [^;\]]*;?\s*)?([^\]]*)\]",
                lambda m: f" ({m.group(2)})" if m.group(2) else "",
                help_text,
            )
            lines.append(f"| `{_md(names)}` | {_md(help_text)} | {_md(default)} |")
        lines.append("")
    return "\n".join(lines)


def _help_text(command: Any) -> str:
    text = (command.help or "").strip()
    return text.replace("\b\n", "")


def commands_markdown() -> str:
    """The whole command reference: every `rnnppo` command in the order `rnnppo --help` lists them, then the
    exit codes."""
    import typer.main

    from rnnppo.cli.app import app

    group = typer.main.get_command(app)
    parts = [
        "# Command reference",
        "",
        "Generated from the Typer app (`rnnppo/cli/reference.py`): what `rnnppo COMMAND --help` prints, on one"
        " page. Settings (`NAME=VALUE` words, `--config` TOML keys) are in the [settings reference](settings.md).",
        "",
    ]
    for name, command in getattr(group, "commands", {}).items():
        parts.append(command_markdown(name, command))
    parts += ["## Exit codes", "", "| code | meaning |", "| --- | --- |"]
    parts += [f"| {code} | {_md(meaning)} |" for code, meaning in EXIT_CODES]
    return "\n".join(parts) + "\n"


def settings_markdown() -> str:
    """The settings reference: every TrainConfig field by group, with its aliases, default and help."""
    rows = all_settings()
    parts = [
        "# Settings reference",
        "",
        "Generated from `TrainConfig`'s field docs (`rnnppo/core/config.py`), the same text `rnnppo settings`"
        " prints. Set one as `NAME=VALUE` on `train`, sweep it as `NAME=SPACE` on `sweep`, or give it as a key in"
        " a `--config` TOML file (in a `[group]` table or at the top level). Aliases work wherever names do.",
        "",
    ]
    for group in dict.fromkeys(row.group for row in rows):
        parts += [f"## {group}", "", "| setting | alias | default | meaning |", "| --- | --- | --- | --- |"]
        for row in rows:
            if row.group == group:
                alias = ", ".join(f"`{a}`" for a in row.aliases)
                parts.append(f"| `{row.name}` | {alias} | `{_md(row.default)}` | {_md(row.doc)} |")
        parts.append("")
    return "\n".join(parts)


def exit_codes_markdown() -> str:
    """The exit-code table as its own page (linked from the README)."""
    lines = [
        "# Exit codes",
        "",
        "Every `rnnppo` command ends with one of these.",
        "",
        "| code | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| {code} | {_md(meaning)} |" for code, meaning in EXIT_CODES]
    return "\n".join(lines) + "\n"


PAGES = {"commands.md": commands_markdown, "settings.md": settings_markdown, "exit-codes.md": exit_codes_markdown}
"""The generated reference pages, by file name under docs/reference/."""


def write_pages(folder: Path) -> list[Path]:
    """Write every generated page into `folder`; returns the pages whose text changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, make in PAGES.items():
        path, text = folder / name, make()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":  # python -m rnnppo.cli.reference docs/reference
    for page in write_pages(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/reference")):
        print(f"wrote {page}")
