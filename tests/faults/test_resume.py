"""SIGKILL of `rnnppo train` and of a sweep at each of the fault points (mid-rollout, mid-update, mid
checkpoint write, mid metrics write), then resume: at most one checkpoint interval of work is lost, the
run reaches its total steps, and metrics.csv holds every iteration exactly once."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from rnnppo.cli.app import app
from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.checkpoint import CHECKPOINT_FILE
from tests.faults.harness import INJECT, TINY, check_resumed, kill, snapshot, start, sweep_words, trials, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")

runner = CliRunner()
ITERATIONS = 12  # of 2 envs x 16 steps
EVERY = 3  # checkpoint_every, in iterations
STEPS_PER_ITERATION = 32


def train_words(out: Path) -> list[str]:
    return [
        "train",
        *TINY,
        f"checkpoint_every={EVERY}",
        "--env",
        "rnnppo/CueRecall-v0",
        "env.cue_distance=2",
        "--steps",
        str(ITERATIONS * STEPS_PER_ITERATION),
        *INJECT,
        "--out",
        str(out),
        "--name",
        "run",
    ]


def rows(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


@pytest.mark.parametrize(
    "fault",
    [
        "pause-step:202",  # iteration 7's rollout, 10 steps in: the kill lands at ~55% of the run
        "pause-adam:15",  # an optimizer step of iteration 6, 7 or 8
        "pause-write:checkpoint.pt:2",  # the second checkpoint (iteration 6), temp file written, not renamed
        "pause-append:8",  # iteration 8's row half written to metrics.csv
    ],
)
def test_a_train_killed_at_a_fault_point_resumes_losing_at_most_one_checkpoint_interval(tmp_path, fault):
    marker = tmp_path / "paused"
    run_dir = tmp_path / "runs" / "run"
    process = start(train_words(tmp_path), fault=f"{fault}:{marker}")
    wait_for(marker.exists, process, f"the pause at {fault}")
    kill(process)
    done_at_kill = rows(run_dir)
    assert 5 <= done_at_kill < ITERATIONS, "the kill landed mid-run"
    assert (run_dir / CHECKPOINT_FILE).exists()

    # The resume in this process (a fresh one only adds its start-up: the checkpoint and files carry the run)
    resumed = runner.invoke(app, ["train", "--resume", str(run_dir), "--progress-every", "0"])
    assert resumed.exit_code == 0, resumed.output
    summary = run_files.read_json(run_dir / "summary.json")
    [resumed_from] = summary["resumed_from_iterations"]
    assert done_at_kill - resumed_from <= EVERY, "more than one checkpoint interval of work was lost"
    assert resumed_from > 0
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert list(metrics["iteration"]) == list(range(1, ITERATIONS + 1)), "no gap, no iteration twice"
    assert list(metrics["env_steps"]) == [STEPS_PER_ITERATION * i for i in range(1, ITERATIONS + 1)]
    assert summary["env_steps"] == ITERATIONS * STEPS_PER_ITERATION
    assert not list(run_dir.glob(".*.tmp")), "the killed write's temp file was cleaned up"
    assert not (run_dir / CHECKPOINT_FILE).exists()


def test_a_sweep_killed_mid_seed_run_resumes_that_run_from_its_checkpoint(tmp_path):
    study = "resumed"
    words = [*sweep_words(tmp_path, study, steps=256), "checkpoint_every=2"]  # 8 iterations per seed run
    marker = tmp_path / "paused"
    # Trial 0's first seed, iteration 5's rollout (checkpoint at 4): its worker is killed at ~55%.
    process = start(words, fault=f"pause-step:138:{marker}")
    wait_for(marker.exists, process, "the pause mid-rollout")
    kill(process)
    before = snapshot(tmp_path, study)
    killed = [t for t in trials(tmp_path, study) if t.state == TrialState.RUNNING]
    assert len(killed) == 1
    killed_dir = tmp_path / study / str(killed[0].number) / "0"
    assert rows(killed_dir) == 4 and (killed_dir / CHECKPOINT_FILE).exists()

    result = runner.invoke(app, [*words, "--timeout", "120"], env={"RNNPPO_HEARTBEAT_S": "1"})
    assert result.exit_code == 0, result.output
    check_resumed(tmp_path, study, before)
    retry = next(t for t in trials(tmp_path, study) if t.user_attrs.get("retry_of") == killed[0].number)
    assert retry.state == TrialState.COMPLETE
    run_dir = tmp_path / retry.user_attrs["run_0"]["run_dir"]
    assert run_dir == tmp_path / study / str(retry.number) / "0", "the killed run moved to its retry's folder"
    assert not killed_dir.exists()
    summary = run_files.read_json(run_dir / "summary.json")
    assert summary["resumed_from_iterations"] == [4]
    assert summary["env_steps"] == 256
    assert list(pd.read_csv(run_dir / "metrics.csv")["iteration"]) == list(range(1, 9))
    assert run_files.read_json(run_dir / "config.json")["trial"] == retry.number
    assert len(retry.user_attrs["curve_0"]) >= 7, "the retry's curve holds the resumed run's whole history"
