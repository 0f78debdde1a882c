"""The progress views themselves: when a plain line is printed, what the sweep's live view shows of each
running trial, and how the sweep's progress in env steps is counted."""

from __future__ import annotations

import io
import math

from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from rnnppo.cli.progress import SweepProgress, TrainProgress, trial_steps_done
from rnnppo.cli.sweep_cmd import _live_view
from rnnppo.sweeps.study import SweepSpec


def row(iteration: int, steps: int, ret: float = 1.5) -> dict:
    return {"iteration": iteration, "env_steps": steps, "steps_per_s": 1000.0, "return_mean_100": ret}


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False, color_system=None), out


def test_off_a_terminal_train_prints_the_first_row_then_one_line_per_interval_and_the_last():
    console, out = plain_console()
    progress = TrainProgress(console, total_steps=300, interactive=False, every_s=3600)
    with progress:
        progress.update(row(1, 100, math.nan))
        progress.update(row(2, 200))  # within the interval: no line
        progress.update(row(3, 300))  # the end: always a line
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("train 100/300 steps (33%), iteration 1, 1,000 steps/s, return -")
    assert lines[1].startswith("train 300/300 steps (100%), iteration 3") and "return 1.5" in lines[1]
    assert "ETA" in lines[1] and "\x1b" not in out.getvalue()


def running(number: int, seeds_done: int, live: dict | None, state=TrialState.RUNNING):
    attrs = {"seeds_done": seeds_done}
    if live is not None:
        attrs["live"] = live
    trial = create_trial(
        state=state,
        params={"max_seq_len": 4},
        distributions={"max_seq_len": CategoricalDistribution([2, 4])},
        user_attrs=attrs,
        value=1.0 if state == TrialState.COMPLETE else None,
    )
    trial.number = number
    return trial


def test_sweep_progress_counts_finished_trials_whole_and_running_ones_by_their_live_steps():
    live = {"seed": 1, "env_steps": 300, "total_steps": 1000, "return": 2.5}
    trials = [running(0, 2, None, TrialState.COMPLETE), running(1, 1, live), running(2, 0, None, TrialState.WAITING)]
    assert trial_steps_done(trials[1], seeds=2, steps_per_run=1000) == 1300
    progress = SweepProgress(trials=3, seeds=2, steps_per_run=1000, every_s=0)
    done, eta = progress.measure(trials)
    assert done == 2000 + 1300
    assert math.isnan(eta), "no rate yet from a single look"
    line = progress.line("s", trials, done, eta)
    assert line.startswith("sweep s: 1/3 trials done (0 failed), 55% of env steps")
    assert line.endswith("running #1 seed 1 300/1,000 steps return 2.5")


def test_the_live_view_shows_a_bar_and_each_running_trials_seed_steps_and_return():
    spec = SweepSpec(
        base={"env": "rnnppo/CueRecall-v0", "total_steps": 1000},
        space_words=("seq_len=2,4",),
        study_name="s",
        storage_url="sqlite://",
        results_dir="/tmp",
        seeds=(0, 1),
        trials=2,
        sampler="grid",
        sampler_seed=0,
        pruner="none",
        objective="final",
    )
    live = {"seed": 1, "env_steps": 640, "total_steps": 1000, "return": 3.25}
    trials = [running(0, 1, live), running(1, 2, None, TrialState.COMPLETE)]
    console, out = plain_console()
    console.print(_live_view(spec, trials, SweepProgress(2, 2, 1000)))
    text = out.getvalue()
    assert "3,640/4,000 env steps" in text and "ETA" in text
    # the running trial's cell stacks its seed, env steps and recent return (the table fits 80 columns)
    assert "seed 1" in text and "640/1,000" in text and "return 3.2" in text
