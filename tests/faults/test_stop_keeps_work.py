"""Ctrl-C (SIGINT) and SIGTERM keep the work: `rnnppo train` stops after the iteration it is in, keeps it
in a checkpoint, prints one line with the shell-quoted resume command and exits 128 + the signal; the
printed command goes on from the next iteration (none runs twice). A sweep's seed run stopped the same way
is checkpointed where it stopped and its retry goes on from there."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.checkpoint import CHECKPOINT_FILE
from tests.faults.harness import TINY, kill, runner, start, sweep_words, trials, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups"),
]
ITERATIONS = 40  # of 2 envs x 16 steps; each step sleeps STEP_S, so an iteration takes ~0.1 s or more
STEPS_PER_ITERATION = 32
STEP_S = 0.003
PIPES = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}


def rows(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def train_words(out: Path) -> list[str]:
    return [
        "train",
        *TINY,
        "--env",
        "tests.faults.faulty_env:Faulty",
        f"env.step_s={STEP_S}",
        "--steps",
        str(ITERATIONS * STEPS_PER_ITERATION),
        "--out",
        str(out),
        "--name",
        "run",
        "--progress-every",
        "0",
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_to_train_checkpoints_the_iteration_and_the_printed_command_goes_on_from_it(tmp_path, signum):
    out = tmp_path / "my results"  # a space: the printed command must quote it
    run_dir = out / "runs" / "run"
    process = start(train_words(out), **PIPES)
    wait_for(lambda: rows(run_dir) >= 5, process, "five iterations", poll=0.02)
    process.send_signal(signum)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        kill(process)
        pytest.fail(f"train did not stop on {signal.Signals(signum).name}")

    assert process.returncode == 128 + signum, output
    assert "Traceback" not in output
    [line] = [line for line in output.splitlines() if "stopped" in line]
    stopped_at = rows(run_dir)
    assert 5 <= stopped_at < ITERATIONS
    assert f"stopped ({signal.Signals(signum).name}) after iteration {stopped_at} " in line
    saved = run_files.read_json(run_dir / "config.json")  # the run folder is still there, unfinished
    assert "summary.json" not in {p.name for p in run_dir.iterdir()} and saved["config"]["env"]
    assert (run_dir / CHECKPOINT_FILE).exists()
    command = shlex.split(line.split("go on with: ", 1)[1])
    assert command == ["rnnppo", "train", "--resume", str(run_dir)]

    # The printed command's words, run in this process (a fresh one only adds its start-up)
    resumed = runner.invoke(app, command[1:])
    assert resumed.exit_code == 0, resumed.output
    summary = run_files.read_json(run_dir / "summary.json")
    assert summary["resumed_from_iterations"] == [stopped_at], "went on after the stopped iteration"
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert list(metrics["iteration"]) == list(range(1, ITERATIONS + 1)), "no gap, no iteration twice"
    assert summary["env_steps"] == ITERATIONS * STEPS_PER_ITERATION


def test_a_stop_signal_to_a_sweep_checkpoints_its_seed_run_where_it_stopped_and_the_retry_goes_on(tmp_path):
    study = "stopped"
    steps = 24 * STEPS_PER_ITERATION  # a seed run of 24 iterations: the stop lands inside it
    # two grid points: the retry of the stopped one, and one the stop left queued (the 2x2 grid's other two
    # would only add their 48 iterations to the run that finishes the study)
    words = sweep_words(tmp_path, study, steps=steps, seeds=1, step_s=STEP_S, grid=("seq_len=2,4", "cell=4"))
    process = start(words, **PIPES)
    first_run = tmp_path / study / "0" / "0"
    wait_for(lambda: rows(first_run) >= 4, process, "four iterations of trial 0", poll=0.02)
    kill(process, signal.SIGINT)  # what Ctrl-C in a terminal does: the coordinator and its worker
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 128 + signal.SIGINT, output
    stopped_at = rows(first_run)
    assert 4 <= stopped_at < 24, "the stop landed inside the seed run"
    assert (first_run / CHECKPOINT_FILE).exists(), "the stopped seed run kept its work"

    result = runner.invoke(app, [*words, "--timeout", "300"], env={"RNNPPO_HEARTBEAT_S": "1"})
    assert result.exit_code == 0, result.output
    everything = trials(tmp_path, study)
    retry = next(t for t in everything if t.user_attrs.get("retry_of") == 0)
    assert retry.state == TrialState.COMPLETE
    run_dir = tmp_path / retry.user_attrs["run_0"]["run_dir"]
    summary = run_files.read_json(run_dir / "summary.json")
    assert summary["resumed_from_iterations"] == [stopped_at]
    assert list(pd.read_csv(run_dir / "metrics.csv")["iteration"]) == list(range(1, 25)), "none twice"
