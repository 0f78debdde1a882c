"""`rnnppo sweep` end to end with tiny budgets: storage and files, resume after a kill, a failing
trial, and --jobs 2 giving the same results as --jobs 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from tests.shared import TINY, runner

GRID = ["seq_len=2,4", "cell=4,8"]
ENV = ["--env", "rnnppo/CueRecall-v0", "env.cue_distance=3", "--steps", "256", "--seeds", "2"]
STUDY = "grid"


def sweep(out: Path, *extra: str):
    return runner.invoke(app, ["sweep", *GRID, *TINY, *ENV, "--out", str(out), "--study", STUDY, *extra])


def load(out: Path, name: str = STUDY) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'rnnppo.db'}")


def complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.state == TrialState.COMPLETE]


def point(trial: optuna.trial.FrozenTrial) -> tuple:
    return (trial.params["max_seq_len"], trial.params["lstm_cell_size"])


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    result = sweep(out)
    assert result.exit_code == 0, result.output
    return out


def test_a_grid_sweep_stores_every_configuration_and_seed(finished):
    study = load(finished)
    done = complete(study)
    assert sorted(point(t) for t in done) == [(2, 4), (2, 8), (4, 4), (4, 8)]
    spec = study.user_attrs["rnnppo_spec"]
    assert spec["swept"] == ["max_seq_len", "lstm_cell_size"] and spec["seeds"] == [0, 1]
    for trial in done:
        assert set(trial.params) == {"max_seq_len", "lstm_cell_size"}  # full names, never aliases
        runs = [trial.user_attrs[f"run_{seed}"] for seed in (0, 1)]
        assert trial.value == pytest.approx(sum(r["final_return"] for r in runs) / 2)
        assert trial.user_attrs["config"]["max_seq_len"] == trial.params["max_seq_len"]
        assert trial.user_attrs["config"]["env_kwargs"] == {"cue_distance": 3}
        assert trial.intermediate_values, "the learning curve is reported for pruners"
        for seed, run in zip((0, 1), runs, strict=True):
            folder = finished / run["run_dir"]
            assert folder == finished / STUDY / str(trial.number) / str(seed)
            for name in ("config.json", "metrics.csv", "summary.json", "model.pt"):
                assert (folder / name).is_file(), folder / name
            saved = json.loads((folder / "config.json").read_text())
            assert saved["config"]["seed"] == seed
            assert run["lstm_saw"]["seq_len_max"] <= trial.params["max_seq_len"]


def test_the_sweep_ends_with_the_comparison(finished):
    result = runner.invoke(app, ["sweep", *GRID, *TINY, *ENV, "--out", str(finished), "--study", STUDY])
    assert result.exit_code == 0, result.output
    assert "max_seq_len" in result.output
    assert len(complete(load(finished))) == 4, "re-running a finished grid adds nothing"


def test_report_and_best_read_back_what_a_real_sweep_wrote(finished, tmp_path):
    """tests/cli/test_report_cli.py pins the report on a fixture study; this checks the fixture's premise:
    a real sweep's storage and files give one row per configuration and seed, and a best config that
    `train` accepts."""
    report = runner.invoke(app, ["report", str(finished), "--format", "csv", "--out", str(tmp_path / "r.csv")])
    assert report.exit_code == 0, report.output
    assert "warning" not in report.output, "every run file a sweep writes is read"
    runs = pd.read_csv(tmp_path / "r.csv")
    assert len(runs) == 4 * 2 and runs.groupby("config")["seed"].nunique().eq(2).all()
    assert {"max_seq_len", "lstm_cell_size", "final_return", "auc", "steps_per_s", "seq_len_mean"} <= set(runs)
    best = runner.invoke(app, ["best", str(finished), "--export", str(tmp_path / "best.toml")])
    assert best.exit_code == 0, best.output
    train = ["train", "--config", str(tmp_path / "best.toml"), "--steps", "32", "--out", str(tmp_path)]
    run = runner.invoke(app, train)
    assert run.exit_code == 0, run.output


def test_a_conflicting_space_for_the_same_study_exits_2_and_changes_nothing(finished):
    before = len(load(finished).trials)
    result = runner.invoke(app, ["sweep", "seq_len=2,16", *TINY, *ENV, "--out", str(finished), "--study", STUDY])
    assert result.exit_code == 2
    assert "--study" in result.output
    assert len(load(finished).trials) == before


def test_a_killed_sweep_resumes_without_losing_or_rerunning_finished_trials(tmp_path):
    command = [
        sys.executable,
        "-c",
        "from rnnppo.cli.app import main; main()",
        "sweep",
        *GRID,
        *TINY,
        *ENV,
        "--out",
        str(tmp_path),
        "--study",
        STUDY,
    ]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Watch the files, not the database (no lock contention with the sweep): with one job, a second
    # trial folder means the first trial is complete.
    deadline = time.monotonic() + 120
    try:
        while len(list((tmp_path / STUDY).glob("*/0"))) < 2:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the sweep did not reach its second trial")
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    first = {t.number: (point(t), t.datetime_complete) for t in complete(load(tmp_path))}
    assert 1 <= len(first) < 4
    stamps = {p.stat().st_mtime_ns: p for p in (tmp_path / STUDY).rglob("summary.json")}

    result = sweep(tmp_path)
    assert result.exit_code == 0, result.output
    done = complete(load(tmp_path))
    assert sorted(point(t) for t in done) == [(2, 4), (2, 8), (4, 4), (4, 8)], "each grid point exactly once"
    for trial in done:
        if trial.number in first:
            assert (point(trial), trial.datetime_complete) == first[trial.number]
    for mtime, path in stamps.items():
        if int(path.parent.parent.name) in first:
            assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten"


def test_a_failing_trial_does_not_stop_the_sweep(tmp_path):
    words = ["env.crash_after=5,100000", *TINY]
    result = runner.invoke(
        app,
        [
            "sweep",
            *words,
            "--env",
            "tests.sweeps.crashy_env:CrashAfter",
            "--steps",
            "128",
            "--out",
            str(tmp_path),
            "--study",
            "crashy",
        ],
    )
    assert result.exit_code == 0, result.output
    study = load(tmp_path, "crashy")
    states = {t.params["env.crash_after"]: t for t in study.trials}
    assert states[5].state == TrialState.FAIL
    assert "RuntimeError" in states[5].user_attrs["error"] and "boom" in states[5].user_attrs["error"]
    assert states[100000].state == TrialState.COMPLETE
    assert "boom" in result.output


def test_two_jobs_finish_the_same_grid_with_the_same_results(tmp_path, finished):
    result = sweep(tmp_path, "--jobs", "2")
    assert result.exit_code == 0, result.output

    def results(out: Path) -> dict:
        return {point(t): [t.user_attrs[f"run_{s}"]["final_return"] for s in (0, 1)] for t in complete(load(out))}

    assert results(tmp_path) == results(finished)


def test_a_dry_run_stores_nothing(tmp_path):
    result = runner.invoke(app, ["sweep", *GRID, *TINY, *ENV, "--out", str(tmp_path / "r"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "4" in result.output and "runs" in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["seq_len=4,,8"], "empty choice"),
        (["lr=1.."], "both ends"),
        (["lr=0..1:log"], "above 0"),
        (["seq_len=0,8"], "max_seq_len=0"),
        (["seq_lenn=4,8"], "did you mean 'seq_len'"),
        (["seq_len=4,8", "--sampler", "grdi"], "sampler"),
        (["seq_len=4,8", "--pruner", "mediam"], "pruner"),
        (["seq_len=4,8", "--trials", "9"], "grid"),
        (["seq_len=4,8", "--study", "bad name!"], "study"),
        (["seq_len=4,8", "--objective", "best"], "objective"),
        (["seq_len=4,8", "--storage", "redis://x"], "scheme"),
    ],
)
def test_bad_sweep_input_exits_2_with_one_line_and_writes_nothing(tmp_path, words, message):
    out = tmp_path / "results"
    result = runner.invoke(app, ["sweep", *words, "--env", "rnnppo/CueRecall-v0", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()


def test_an_unknown_env_exits_2(tmp_path):
    result = runner.invoke(app, ["sweep", "seq_len=4,8", "--env", "CartPol-v1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "did you mean 'CartPole-v1'" in result.output
    assert not (tmp_path / "r").exists()


def test_sweeping_rollout_len_keeps_each_seeds_learning_curve_in_its_own_steps(tmp_path):
    words = [
        "rollout_len=16,64",
        "num_envs=2",
        "fcnet_hiddens=[8]",
        "cell=4",
        "seq_len=4",
        "minibatch_size=16",
        "num_epochs=1",
        "eval_episodes=1",
        "memory_horizon=false",  # as TINY (tests/shared.py): no assertion reads it
    ]
    result = runner.invoke(
        app,
        [
            "sweep",
            *words,
            "--env",
            "rnnppo/CueRecall-v0",
            "env.cue_distance=2",
            "--steps",
            "512",
            "--seeds",
            "2",
            "--out",
            str(tmp_path),
            "--study",
            "rl",
        ],
    )
    assert result.exit_code == 0, result.output
    per_seed = -(-512 // (2 * 16))  # iterations of the base config (completed with the first point, 16)
    for trial in complete(load(tmp_path, "rl")):
        steps = sorted(trial.intermediate_values)
        assert steps[0] >= 1 and steps[-1] <= 2 * per_seed
        assert any(s > per_seed for s in steps), "the second seed reports after the first"


def test_a_finished_grid_run_again_starts_no_worker_and_keeps_its_trials(tmp_path):
    from rnnppo.sweeps import runner as sweep_runner
    from rnnppo.sweeps.request import SweepRequest
    from rnnppo.sweeps.spec import build_spec

    request = SweepRequest(env="rnnppo/CueRecall-v0", steps=64, seeds="1", out=tmp_path, study="again")
    first = sweep_runner.run(build_spec(["seq_len=2,4", *TINY], request))
    assert first.workers_started == 1 and first.count(TrialState.COMPLETE) == 2
    again = sweep_runner.run(build_spec(["seq_len=2,4", *TINY], request))
    assert again.workers_started == 0 and again.count(TrialState.COMPLETE) == 2
