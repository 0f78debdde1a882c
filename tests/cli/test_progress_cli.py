"""Watching long runs from a pipe or a log file: plain progress lines while `train` and `sweep` run (no
escape codes), `train --resume`'s bad input, and a logger that is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnppo.cli.app import app

runner = CliRunner()
CLI = [sys.executable, "-c", "from rnnppo.cli.app import main; main()"]
TINY = ["num_envs=2", "rollout_len=16", "fcnet_hiddens=[8]", "minibatch_size=16", "num_epochs=1", "eval_episodes=1"]
TINY += ["memory_horizon=false"]  # on SLOW_ENV the end-of-run measurement sleeps seconds per run, in no assertion
SLOW_ENV = ["--env", "tests.faults.faulty_env:Faulty", "env.step_s=0.002"]  # 32 steps (an iteration) >= 64 ms


def piped(words: list[str]) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(
        [*CLI, *words], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )


def lines_until(process: subprocess.Popen, wanted, timeout: float = 120) -> list[str]:
    """Read the pipe until a line satisfies `wanted`; fail if the process ends first."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if wanted(line):
            return seen
    process.kill()
    pytest.fail("no such line before the command ended:\n" + "".join(seen))


def test_train_through_a_pipe_prints_progress_lines_while_it_runs(tmp_path):
    words = ["train", *TINY, *SLOW_ENV, "--steps", "1600", "--out", str(tmp_path), "--progress-every", "0.3"]
    process = piped(words)
    lines_until(process, lambda line: line.startswith("train ") and "iteration 1," not in line)
    assert process.poll() is None, "a progress line after the first came while the run was still going"
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, rest
    progress = [line for line in rest.splitlines() if line.startswith("train ")]
    assert progress[-1].startswith("train 1,600/1,600 steps (100%)")
    assert "ETA" in progress[-1] and "steps/s" in progress[-1]
    assert "\x1b" not in rest, "no escape codes off a terminal"


def test_sweep_through_a_pipe_prints_each_running_trials_seed_steps_and_return(tmp_path):
    words = ["sweep", "seq_len=2,4", *TINY, *SLOW_ENV, "--steps", "640", "--seeds", "1"]  # seed 0's line is read
    process = piped([*words, "--out", str(tmp_path), "--progress-every", "0.3"])
    seen = lines_until(process, lambda line: "running #" in line and " steps return " in line)
    assert process.poll() is None
    line = seen[-1]
    assert line.startswith("sweep ") and "trials done" in line and "ETA" in line
    assert "seed 0 " in line and "/640 steps return" in line
    rest, _ = process.communicate(timeout=180)
    assert process.returncode == 0, rest
    assert "\x1b" not in "".join(seen) + rest


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "64"], "--resume goes on with the run's own settings; drop --steps"),
        (["seq_len=8"], "drop NAME=VALUE"),
    ],
)
def test_resume_with_settings_is_refused(tmp_path, extra, message):
    result = runner.invoke(app, ["train", "--resume", str(tmp_path), *extra])
    assert result.exit_code == 2
    assert message in result.output


def test_resume_of_a_folder_that_is_no_killed_run_is_refused(tmp_path):
    missing = runner.invoke(app, ["train", "--resume", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no config.json there" in missing.output
    made = runner.invoke(app, ["train", *TINY, "--steps", "64", "--out", str(tmp_path), "--name", "done"])
    assert made.exit_code == 0, made.output
    again = runner.invoke(app, ["train", "--resume", str(tmp_path / "runs" / "done")])
    assert again.exit_code == 2 and "that run finished" in again.output


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_logger_that_is_not_installed_names_its_extra_and_writes_nothing(tmp_path, command, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what Python cannot import: as if it were not installed
    words = [command, *(["seq_len=2,4"] if command == "sweep" else []), *TINY, "--steps", "64"]
    result = runner.invoke(app, [*words, "--out", str(tmp_path / "out"), "--logger", "mlflow"])
    assert result.exit_code == 2, result.output
    assert "pip install 'rnnppo[mlflow]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not Path(tmp_path / "out").exists()
