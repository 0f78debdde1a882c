"""The command's entry points: --version, `python -m rnnppo`, shell completion, and `rnnppo settings`
listing every setting from the config's own metadata."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import rnnppo
from rnnppo.cli.app import app
from rnnppo.core.config import ALIASES, TrainConfig, format_value

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    from rnnppo.cli import common

    monkeypatch.setattr(common.console, "width", 250)
    monkeypatch.setattr(common.err_console, "width", 250)


def run_module(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnppo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_python_dash_m_prints_the_version():
    done = run_module("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rnnppo {rnnppo.__version__}"


def test_shell_completion_is_offered_and_completes_commands():
    # Typer detects the calling shell; under pytest there is none, so name it (Typer's switch for that)
    script = run_module("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert script.returncode == 0, script.stderr
    assert "_RNNPPO_COMPLETE" in script.stdout
    done = run_module(_RNNPPO_COMPLETE="complete_bash", COMP_WORDS="rnnppo set", COMP_CWORD="1")
    assert done.stdout.split() == ["settings"]


def test_settings_lists_every_field_with_its_default_alias_and_help():
    result = runner.invoke(app, ["settings"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells:
            rows[cells[0]] = cells
    assert "env.NAME" in rows
    for f in dataclasses.fields(TrainConfig):
        if f.name == "env_kwargs":
            continue
        assert f.name in rows, f"{f.name} is not listed"
        cells = rows[f.name]
        assert cells[2] == format_value(f.default), f.name
        assert f.metadata["doc"][:40] in cells[3], f.name
        aliases = [alias for alias, full in ALIASES.items() if full == f.name]
        assert cells[1] == ", ".join(aliases), f.name


def test_settings_of_one_group_and_an_unknown_group():
    result = runner.invoke(app, ["settings", "--group", "model"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "max_seq_len" in result.output and "clip_param" not in result.output
    result = runner.invoke(app, ["settings", "--group", "modle"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "choose one of env, model" in result.output


def test_an_unknown_setting_points_at_the_settings_command():
    result = runner.invoke(app, ["inspect", "--obs-shape", "4", "zzzz=1"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "unknown setting 'zzzz'; `rnnppo settings` lists them" in result.output


@pytest.mark.parametrize("command", ["report", "best"])
def test_report_and_best_read_the_storage_from_rnnppo_storage(command, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNPPO_STORAGE", "mongodb://user:hunter2@db-host/rnnppo")
    args = [command, str(tmp_path)] if command == "report" else [command, "--study", "x"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert "RNNPPO_STORAGE" in result.output and "mongodb://user:***@db-host" in result.output
    assert "hunter2" not in result.output
    assert list(tmp_path.iterdir()) == []
