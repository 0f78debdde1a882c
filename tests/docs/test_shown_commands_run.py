"""The commands the README and the guides show run: each one not marked `# illustrative` is run here, in page
order, in one scratch folder, with tiny budgets put in (`--steps 64`, --jobs 1, --seeds 1, the tiny network of
tests/shared.py for every setting the command does not set itself) and a run folder the page names but no
earlier command made (`results/runs/run`, `.../name`) replaced by the latest run. A command that exits
non-zero fails the test, naming the page and line. A train or sweep shown on two pages runs once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rnnppo.cli.app import app
from tests.docs.test_shown_commands import ROOT, SHOWN, SHOWN_ILLUSTRATIVE
from tests.shared import TINY, runner

pytestmark = pytest.mark.slow

TRAINS = {"train", "sweep"}
SMALL = [
    *(w for w in TINY if not w.startswith(("minibatch_size=", "eval_episodes="))),
    "minibatch_size=32",
    "eval_episodes=0",
]
"""Minibatches of 32 steps (the pages sweep max_seq_len up to 20, and a minibatch holds whole sequences) and
no evaluation episodes (a Pong episode is thousands of steps; `rnnppo eval` is among the shown commands)."""
STEPS = "64"


def _tiny(argv: list[str]) -> list[str]:
    """The command with tiny budgets: --steps 64, --jobs 1 and --seeds 1 replace the page's, tiny settings fill in."""
    command, rest = argv[0], list(argv[1:])
    if command not in TRAINS or "--resume" in rest:
        return argv
    for flag, value in (("--steps", STEPS), ("--jobs", "1"), ("--seeds", "1")):
        if flag in rest:
            rest[rest.index(flag) + 1] = value
        elif flag == "--steps":
            rest += [flag, value]
    given = {word.split("=", 1)[0] for word in rest if "=" in word and not word.startswith("-")}
    return [command, *rest, *(word for word in SMALL if word.split("=", 1)[0] not in given)]


def _existing_runs(argv: list[str], scratch: Path) -> list[str]:
    """A run folder the page names that no shown command made: the latest run instead."""
    runs = sorted((scratch / "results" / "runs").glob("*"), key=lambda path: path.stat().st_mtime)
    out = []
    for word in argv:
        if word.startswith("results/runs/") and not (scratch / word).exists() and runs:
            word = str(runs[-1].relative_to(scratch))
        out.append(word)
    return out


def test_the_pages_mark_some_commands_illustrative_and_leave_most_to_run():
    assert SHOWN_ILLUSTRATIVE, "no command is marked illustrative: has the marker changed?"
    assert len(SHOWN) - len(SHOWN_ILLUSTRATIVE) > 20


def test_every_shown_command_not_marked_illustrative_runs_with_tiny_budgets(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")  # the files pages name (examples/nightly.toml)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNNPPO_STORAGE", raising=False)
    ran, seen = [], set()
    for where, argv in SHOWN:
        if (where, argv) in SHOWN_ILLUSTRATIVE or not argv:
            continue
        ran.append(where)
        if argv[0] in TRAINS and tuple(argv) in seen:
            continue  # the same command on another page: one run says it works
        seen.add(tuple(argv))
        command = _existing_runs(_tiny(argv), tmp_path)
        result = runner.invoke(app, command)
        shown = f"{where}: `rnnppo {' '.join(command)}`"
        assert result.exit_code == 0, f"{shown} exited {result.exit_code}:\n{result.output}"
    assert len(ran) > 20 and os.listdir(tmp_path)
