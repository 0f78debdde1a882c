"""The manual stays true: the generated reference pages match the code, and every `rnnppo` command shown in
the README and the docs names a command and options that exist, with NAME=VALUE / NAME=SPACE words that
parse. A command or option removed or renamed fails here, naming the page and line that shows it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from rnnppo.cli.app import app
from rnnppo.cli.reference import PAGES
from rnnppo.core.config import parse_overrides
from rnnppo.sweeps.space import parse_word

ROOT = Path(__file__).resolve().parents[2]
PAGES_SHOWN = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(bash|sh|console)\s*$")  # untagged blocks: usage lines, output
SETTING_WORDS = {"train": "value", "inspect": "value", "sweep": "space"}  # how each command's words parse


ILLUSTRATIVE = "# illustrative"
"""A shown command's line ends with this when it is not run by test_shown_commands_run.py (it needs your own
module, a server or hours); the text after it says why."""


def shown_commands() -> list[tuple[str, list[str], bool]]:
    """(where, argv after `rnnppo`, marked illustrative) for every rnnppo command in a bash code block of the
    README or docs."""
    found = []
    for page in PAGES_SHOWN:
        in_block, lines = False, page.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
        for number, line in enumerate(lines, start=1):
            if line.startswith("```"):
                in_block = bool(FENCE.match(line)) and not in_block
                continue
            if not in_block:
                continue
            marked = ILLUSTRATIVE in line
            for piece in re.split(r"&&|\|\||;", line):
                words = shlex.split(piece.replace("<", "").replace(">", ""), comments=True)
                if words[:1] == ["rnnppo"]:
                    found.append((f"{page.relative_to(ROOT)}:{number}", words[1:], marked))
                elif words[:3] == ["python", "-m", "rnnppo"]:
                    found.append((f"{page.relative_to(ROOT)}:{number}", words[3:], marked))
    return found


SHOWN = [(where, argv) for where, argv, _ in shown_commands()]
SHOWN_ILLUSTRATIVE = [(where, argv) for where, argv, marked in shown_commands() if marked]


def test_the_command_reference_renders_every_command():
    text = PAGES["commands.md"]()
    for name in typer.main.get_command(app).commands:  # type: ignore[attr-defined]
        assert f"## `rnnppo {name}`" in text


def test_the_pages_show_commands_at_all():
    assert len(SHOWN) > 20, "the command extraction found almost nothing: has the code-block format changed?"


@pytest.mark.parametrize("where,argv", SHOWN, ids=[where for where, _ in SHOWN])
def test_a_shown_command_names_options_and_settings_that_exist(where, argv):
    group = typer.main.get_command(app)
    if not argv or argv[0].startswith("-"):
        return  # `rnnppo --version` and the like: the group's own options
    command = group.commands.get(argv[0])  # type: ignore[attr-defined]
    assert command is not None, f"{where}: `rnnppo {argv[0]}` is not a command"
    ctx = command.make_context(f"rnnppo {argv[0]}", list(argv[1:]), resilient_parsing=False)
    kind = SETTING_WORDS.get(argv[0])
    words = [arg for arg in ctx.params.get("overrides") or ctx.params.get("space") or () if "=" in arg]
    if kind == "value":
        parse_overrides(words)
    elif kind == "space":
        for word in words:
            parse_word(word)


COMMITTED_PAGES = sorted(set(PAGES) - {"commands.md"})
"""commands.md is written only when the site is built (docs/hooks.py): its text follows the installed Typer's
rendering of option types, which differs between the versions CI tests; the settings and exit codes do not."""


@pytest.mark.parametrize("name", COMMITTED_PAGES)
def test_the_generated_reference_pages_match_the_code(name):
    committed = (ROOT / "docs" / "reference" / name).read_text(encoding="utf-8")
    assert committed == PAGES[name](), (
        f"docs/reference/{name} is stale: run `python -m rnnppo.cli.reference docs/reference` and commit it"
    )
