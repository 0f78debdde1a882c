"""`rnnppo sweep` options beyond the grid: extending a finished study, --warm-start, a seeded sampler,
--timeout, and a clean stop on SIGINT."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from tests.shared import TINY as SHARED_TINY
from tests.shared import runner

TINY = [*SHARED_TINY, "cell=4"]
ENV = ["--seeds", "1", "--env", "rnnppo/CueRecall-v0", "env.cue_distance=3", "--steps", "64"]


def sweep(out: Path, study: str, *words: str):
    result = runner.invoke(app, ["sweep", *words, *TINY, *ENV, "--out", str(out), "--study", study])
    assert result.exit_code == 0, result.output
    return result


def trials(out: Path, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{out / 'rnnppo.db'}").trials


def done(out: Path, study: str) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials(out, study) if t.state == TrialState.COMPLETE]


SEEDED = ["lr=1e-4..1e-2:log", "gamma=0.9..0.999", "--sampler", "tpe", "--sampler-seed", "7"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """Results holding the study 'tpe': 3 trials sampled over SEEDED's space with sampler seed 7 (one sweep,
    read by the seeded-sampler test and copied by the extension test)."""
    out = tmp_path_factory.mktemp("seeded")
    sweep(out, "tpe", *SEEDED, "--trials", "3")
    return out


def test_a_finished_study_is_extended_by_a_larger_trials_count(tmp_path, seeded):
    out = copy_of(seeded, tmp_path)
    first = {t.number: (t.params, t.value) for t in done(out, "tpe")}
    assert len(first) == 3

    sweep(out, "tpe", *SEEDED, "--trials", "4")
    after = done(out, "tpe")
    assert len(after) == 4
    assert {t.number: (t.params, t.value) for t in after if t.number in first} == first, "old trials untouched"

    sweep(out, "tpe", *SEEDED, "--trials", "4")
    assert len(done(out, "tpe")) == 4, "the same count again runs nothing"


def test_the_same_spec_and_sampler_seed_suggest_the_same_configurations(tmp_path, seeded):
    sweep(tmp_path / "b", "tpe", *SEEDED, "--trials", "3")

    def suggested(out: Path) -> list[dict]:
        return [t.params for t in sorted(trials(out, "tpe"), key=lambda t: t.number)]

    assert suggested(seeded) == suggested(tmp_path / "b")
    assert len({t["lr"] for t in suggested(seeded)}) == 3
    other = tmp_path / "c"
    sweep(other, "tpe", *SEEDED[:-1], "8", "--trials", "3")
    assert suggested(other) != suggested(seeded), "another sampler seed, other suggestions"


def test_warm_start_runs_the_other_studys_best_configurations_first(tmp_path):
    sweep(tmp_path, "first", "seq_len=2,4,8", "--seeds", "1")
    ranked = sorted(done(tmp_path, "first"), key=lambda t: t.value, reverse=True)
    best = ranked[0].params["max_seq_len"]

    sweep(tmp_path, "second", "seq_len=2..8", "--sampler", "random", "--trials", "1", "--warm-start", "first")
    (trial,) = done(tmp_path, "second")
    assert trial.number == 0 and trial.params["max_seq_len"] == best
    waiting = [t for t in trials(tmp_path, "second") if t.state == TrialState.WAITING]
    queued = [t.system_attrs["fixed_params"]["max_seq_len"] for t in waiting]
    assert queued == [t.params["max_seq_len"] for t in ranked[1:3]], "the next best wait their turn"


def test_warm_start_from_a_missing_study_exits_2_and_creates_nothing(tmp_path):
    result = runner.invoke(
        app, ["sweep", "seq_len=2..8", "--warm-start", "nope", *TINY, *ENV, "--out", str(tmp_path), "--study", "s"]
    )
    assert result.exit_code == 2, result.output
    assert "nope" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rnnppo.db").exists(), "no database made"


@pytest.fixture(scope="module")
def half_done(tmp_path_factory) -> Path:
    """Results holding the study 'same': seq_len=2,4 with one of its two points run (one sweep, shared by
    the tests that try to change it; each works on its own copy, `copy_of`)."""
    out = tmp_path_factory.mktemp("half-done")
    sweep(out, "same", "seq_len=2,4", "--trials", "1")
    return out


def copy_of(results: Path, tmp_path: Path) -> Path:
    shutil.copytree(results, tmp_path / "results")
    return tmp_path / "results"


def test_rerunning_a_study_with_another_fixed_setting_exits_2_and_runs_nothing(tmp_path, half_done):
    out = copy_of(half_done, tmp_path)
    before = [(t.number, t.state, t.value) for t in trials(out, "same")]
    other = [word if word != "cell=4" else "cell=8" for word in TINY]
    result = runner.invoke(
        app, ["sweep", "seq_len=2,4", *other, *ENV, "--out", str(out), "--study", "same", "--trials", "2"]
    )
    assert result.exit_code == 2, result.output
    assert "lstm_cell_size: stored 4, now 8" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert [(t.number, t.state, t.value) for t in trials(out, "same")] == before


def test_a_new_study_never_overwrites_the_runs_of_a_same_named_study_of_another_storage(tmp_path, half_done):
    out = copy_of(half_done, tmp_path)
    run_files = sorted((out / "same").rglob("*"))
    contents = {path: path.read_bytes() for path in run_files if path.is_file()}
    assert any(path.name == "metrics.csv" for path in contents)
    other_db = out / "other.db"
    result = runner.invoke(
        app,
        [
            "sweep",
            "seq_len=2,4",
            *TINY,
            *ENV,
            "--out",
            str(out),
            "--study",
            "same",
            "--storage",
            f"sqlite:///{other_db}",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "holds the runs of a study 'same'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not other_db.exists(), "nothing written"
    assert sorted((out / "same").rglob("*")) == run_files
    assert all(path.read_bytes() == data for path, data in contents.items())


def test_a_time_budget_stops_starting_trials_and_still_reports(tmp_path):
    # The budget is spent asleep in the env's steps (64 of 10 ms a trial), not training trial after trial; the
    # 15 points of the space take longer than the budget, so the budget, not the space, ends the sweep.
    slow = ["--seeds", "1", "--env", "tests.faults.faulty_env:Faulty", "env.step_s=0.01", "--steps", "64"]
    words = ["seq_len=2..16", "--sampler", "random", "--trials", "500", "--timeout", "10", *TINY, *slow]
    began = time.monotonic()
    result = runner.invoke(app, ["sweep", *words, "--out", str(tmp_path), "--study", "budget"])
    assert result.exit_code == 0, result.output
    took = time.monotonic() - began
    finished = done(tmp_path, "budget")
    assert len(finished) < 500
    assert took < 10 + 20, "no trial starts that cannot finish inside the budget (a tiny trial takes well under 1 s)"
    if finished:  # none when starting the worker took the whole budget on a loaded machine
        assert "comparison" in result.output


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_stops_cleanly_keeps_finished_trials_and_the_next_run_finishes(tmp_path):
    command = [
        sys.executable,
        "-c",
        "from rnnppo.cli.app import main; main()",
        "sweep",
        "seq_len=2,3,4",  # after the first, two trials of 6000 steps (a second or more each) are left
        *[w for w in TINY if w.split("=")[0] not in ("num_envs", "rollout_len", "minibatch_size")],
        "num_envs=8",
        "rollout_len=32",
        "minibatch_size=64",
        *ENV[:-1],
        "6000",
        "--out",
        str(tmp_path),
        "--study",
        "sigint",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    try:
        while len(list((tmp_path / "sigint").glob("*/0/summary.json"))) < 1:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the sweep did not finish its first trial")
            time.sleep(0.1)
        time.sleep(0.5)  # into the second trial
        os.kill(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "Traceback" not in output
    assert "kept" in output.lower() or "interrupted" in output.lower(), output
    kept = {t.params["max_seq_len"] for t in done(tmp_path, "sigint")}
    assert kept, "the finished trial is kept"

    finished = runner.invoke(app, command[3:])  # the same command, in this process: it only has to finish
    assert finished.exit_code == 0, finished.output
    after = done(tmp_path, "sigint")
    assert sorted(t.params["max_seq_len"] for t in after) == [2, 3, 4], "each point once"


def test_a_range_whose_high_end_breaks_a_fixed_setting_exits_2_and_writes_nothing(tmp_path):
    # minibatch_size=16 (TINY) needs max_seq_len <= 16; the low end alone is fine
    result = runner.invoke(app, ["sweep", "seq_len=4..32", *TINY, *ENV, "--out", str(tmp_path), "--trials", "2"])
    assert result.exit_code == 2, result.output
    assert "max_seq_len=32" in result.stderr and "narrow the range" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rnnppo.db").exists()
    dry = runner.invoke(app, ["sweep", "seq_len=4..32", *TINY, *ENV, "--out", str(tmp_path), "--dry-run"])
    assert dry.exit_code == 2 and "max_seq_len=32" in dry.stderr


def test_a_dry_run_of_a_range_checks_the_space_not_the_defaults(tmp_path):
    # the default max_seq_len (16) does not fit minibatch_size=4, but every point of 2..4 does
    words = ["seq_len=2..4", *[w for w in TINY if not w.startswith("minibatch_size")], "minibatch_size=4"]
    result = runner.invoke(app, ["sweep", *words, *ENV, "--out", str(tmp_path), "--trials", "1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "nothing was stored" in result.output


def test_a_trial_without_a_finished_episode_says_so(tmp_path):
    # CueRecall episodes last cue_distance + 1 steps: 40 here, more than the 32 steps each env takes
    words = [w for w in TINY if not w.startswith("eval_episodes")] + ["eval_episodes=0"]
    result = runner.invoke(
        app,
        ["sweep", "seq_len=2,4", *words, "--env", "rnnppo/CueRecall-v0", "env.cue_distance=39", "--steps", "64"]
        + ["--out", str(tmp_path), "--study", "short", "--trials", "1"],
    )
    failed = [t for t in trials(tmp_path, "short") if t.state == TrialState.FAIL]
    assert len(failed) == 1, result.output
    error = failed[0].user_attrs["error"]
    assert "no training episode finished in 64 env steps" in error and "eval_episodes > 0" in error, error


def test_a_study_made_by_something_else_is_refused_within_seconds(tmp_path):
    optuna.create_study(study_name="foreign", storage=f"sqlite:///{tmp_path / 'rnnppo.db'}")
    began = time.monotonic()
    result = runner.invoke(app, ["sweep", "seq_len=2,4", *TINY, *ENV, "--out", str(tmp_path), "--study", "foreign"])
    assert result.exit_code == 2, result.output
    assert "not an rnnppo study" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - began < 30  # it waited the whole minute for a spec before
    assert optuna.load_study(study_name="foreign", storage=f"sqlite:///{tmp_path / 'rnnppo.db'}").trials == []


def test_settings_that_crash_their_worker_twice_are_failed_for_good_and_the_rest_runs(tmp_path):
    words = ["env.crash=0,1", *TINY, "--env", "tests.sweeps.crashy_env:ExitOnStep", "--steps", "64"]
    command = ["sweep", *words, "--out", str(tmp_path), "--study", "poison"]
    codes = [runner.invoke(app, command).exit_code for _ in range(2)]
    assert codes == [1, 1], codes  # a worker died in each run (crash=1's second death ends it for good)
    everything = trials(tmp_path, "poison")
    assert not [t for t in everything if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    assert [t.params["env.crash"] for t in everything if t.state == TrialState.COMPLETE] == [0]
    crashed = [t for t in everything if t.params.get("env.crash") == 1]
    assert [t.state for t in crashed] == [TrialState.FAIL, TrialState.FAIL]
    assert "died 2 times" in crashed[-1].user_attrs["error"] and "not queued again" in crashed[-1].user_attrs["error"]
    again = runner.invoke(app, command)
    assert again.exit_code == 0 and len(trials(tmp_path, "poison")) == len(everything), again.output


def test_best_of_a_study_whose_trials_all_failed_says_there_is_nothing_to_wait_for(tmp_path):
    words = ["seq_len=2,4", *TINY, "--env", "tests.sweeps.constant_env:ConstantReward", "env.reward=nan"]
    runner.invoke(app, ["sweep", *words, "--steps", "64", "--out", str(tmp_path), "--study", "nan"])
    result = runner.invoke(app, ["best", str(tmp_path), "--study", "nan"])
    assert result.exit_code == 2, result.output
    assert "nothing left to run (2 failed, 0 pruned)" in result.stderr and "wait" not in result.stderr
