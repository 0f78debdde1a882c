"""Sweeps over several tasks (--suite, repeated --env): the task is the grid's outer dimension, every
configuration runs on the same seeds on every task, each task's settings sit under the user's, and what
cannot be done across tasks is refused with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnppo.core import suites
from rnnppo.errors import InputError
from rnnppo.sweeps.spec import SweepRequest, build_spec
from rnnppo.sweeps.study import validate_grid
from rnnppo.sweeps.tasks import TASK, make_tasks

TINY_SUITE = """
[suite]
description = "two tiny tasks"

[[task]]
name = "cue-2"
env = "rnnppo/CueRecall-v0"
env_kwargs = { cue_distance = 2 }
budget = 256
memory = 2
reference = 1.0
reference_note = "success on every episode"

[[task]]
name = "repeat-1"
env = "rnnppo/RepeatPrevious-v0"
env_kwargs = { delay = 1 }
budget = 512
memory = 1
reference = 49.0
reference_note = "every scored step right"
settings = { gamma = 0.5, num_epochs = 2 }
"""


@pytest.fixture
def tiny_suite(tmp_path, monkeypatch):
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "tiny.toml").write_text(TINY_SUITE)
    monkeypatch.setattr(suites, "SUITE_DIR", folder)
    return "tiny"


def spec_for(words: list[str], tmp_path: Path, **request):
    # iterations of 2 x 16 steps: the tiny budgets are whole iterations (a run below one is refused)
    return build_spec([*words, "num_envs=2", "rollout_len=16"], SweepRequest(out=tmp_path / "out", **request))


def test_a_suite_sweep_runs_every_configuration_on_every_task_on_the_same_seeds(tiny_suite, tmp_path):
    spec = spec_for(["seq_len=2,4"], tmp_path, suite=tiny_suite)
    assert spec.trials == 4
    assert spec.space.swept_names == (TASK, "max_seq_len")
    points = spec.space.grid_points()
    assert {(p[TASK], p["max_seq_len"]) for p in points} == {
        ("cue-2", 2),
        ("cue-2", 4),
        ("repeat-1", 2),
        ("repeat-1", 4),
    }
    validate_grid(spec)
    assert spec.study_name == "tiny--max_seq_len"


def test_each_task_brings_its_env_arguments_budget_and_settings(tiny_suite, tmp_path):
    spec = spec_for(["seq_len=2,4"], tmp_path, suite=tiny_suite)
    cue = spec.config_for({TASK: "cue-2", "max_seq_len": 4}, seed=1)
    repeat = spec.config_for({TASK: "repeat-1", "max_seq_len": 2}, seed=1)
    assert (cue.env, dict(cue.env_kwargs), cue.total_steps, cue.max_seq_len) == (
        "rnnppo/CueRecall-v0",
        {"cue_distance": 2},
        256,
        4,
    )
    assert (repeat.env, dict(repeat.env_kwargs), repeat.total_steps) == ("rnnppo/RepeatPrevious-v0", {"delay": 1}, 512)
    assert (repeat.gamma, repeat.num_epochs) == (0.5, 2)
    assert cue.gamma != 0.5  # a task's settings are its own


def test_the_users_settings_and_steps_win_over_a_tasks(tiny_suite, tmp_path):
    spec = spec_for(["seq_len=2,4", "gamma=0.9"], tmp_path, suite=tiny_suite, steps=128)
    repeat = spec.config_for({TASK: "repeat-1", "max_seq_len": 2}, seed=0)
    assert repeat.gamma == 0.9 and repeat.num_epochs == 2
    assert repeat.total_steps == 128


def test_env_words_are_laid_over_every_tasks_env_arguments():
    task = suites.SuiteTask("r", "rnnppo/RepeatPrevious-v0", 10, 49.0, "n", env_kwargs={"delay": 4})
    (made,) = make_tasks([task], explicit=set(), env_words={"max_steps": 20}, steps_given=False)
    assert made.overrides["env_kwargs"] == {"delay": 4, "max_steps": 20}


def test_the_stored_spec_names_the_suite_and_each_tasks_reference(tiny_suite, tmp_path):
    stored = spec_for(["seq_len=2,4"], tmp_path, suite=tiny_suite).stored_spec()
    assert stored["suite"] == "tiny"
    assert [(t["name"], t["reference"], t["memory"]) for t in stored["tasks"]] == [
        ("cue-2", 1.0, 2),
        ("repeat-1", 49.0, 1),
    ]


def test_repeated_env_options_make_tasks_with_a_shipped_reference_where_one_is_known(tmp_path):
    spec = spec_for(["seq_len=2,4"], tmp_path, env=("CartPole-v1", "rnnppo/CueRecall-v0"))
    assert [t.name for t in spec.tasks] == ["CartPole-v1", "CueRecall-v0"]
    assert spec.tasks[0].info["reference"] == 500.0  # the memory suite's cartpole control
    assert "reference" not in spec.tasks[1].info  # CueRecall at its default distance is in no suite
    assert spec.config_for({TASK: "CueRecall-v0", "max_seq_len": 2}, 0).env == "rnnppo/CueRecall-v0"


@pytest.mark.parametrize(
    ("words", "request_", "message"),
    [
        (["seq_len=2..8"], {"sampler": "tpe"}, "runs a grid"),
        (["seq_len=2,4"], {"pruner": "median"}, "--pruner"),
        (["seq_len=2,4"], {"trials": 1}, "--trials cannot cut"),
        (["seq_len=2,4"], {"env": "CartPole-v1"}, "not both"),
    ],
)
def test_what_cannot_be_done_across_tasks_is_refused_with_the_fix(tiny_suite, tmp_path, words, request_, message):
    with pytest.raises(InputError, match=message):
        spec_for(words, tmp_path, suite=tiny_suite, **request_)


def test_suite_name_colon_tasks_keeps_only_those_tasks(tiny_suite, tmp_path):
    spec = spec_for(["seq_len=2,4"], tmp_path, suite=f"{tiny_suite}:repeat-1")
    assert [t.name for t in spec.tasks] == ["repeat-1"] and spec.trials == 2
    assert spec.study_name == "tiny-repeat-1--max_seq_len"
    with pytest.raises(InputError, match="has no task 'cue-3'; its tasks: cue-2, repeat-1"):
        spec_for([], tmp_path, suite=f"{tiny_suite}:cue-3")


def test_an_env_given_twice_and_an_unknown_suite_are_refused(tmp_path):
    with pytest.raises(InputError, match="given twice"):
        spec_for([], tmp_path, env=("CartPole-v1", "CartPole-v1"))
    with pytest.raises(InputError, match="unknown suite 'memroy'; did you mean 'memory'"):
        spec_for([], tmp_path, suite="memroy")


def test_a_dry_run_counts_each_tasks_own_budget(tiny_suite, tmp_path):
    from rnnppo.sweeps.plan import make_plan

    spec = spec_for(["seq_len=2,4"], tmp_path, suite=tiny_suite, seeds=3)
    plan = make_plan(spec, probe=False)
    assert (plan.trials, plan.runs) == (4, 12)
    assert plan.env_steps == 6 * 256 + 6 * 512  # 2 configurations x 3 seeds on each task, at its budget


def test_the_progress_total_averages_the_tasks_budgets(tiny_suite, tmp_path):
    from rnnppo.sweeps.tasks import mean_run_steps

    assert mean_run_steps(spec_for(["seq_len=2,4"], tmp_path, suite=tiny_suite)) == (256 + 512) // 2
