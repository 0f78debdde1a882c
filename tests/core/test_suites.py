"""The shipped suites: every task parses, builds a valid config on an env that exists, and a broken suite file
is one clear error naming the file, the task and the fix."""

from __future__ import annotations

import pytest

from rnnppo.core import suites
from rnnppo.core.config import ConfigError, build_config
from rnnppo.core.envs.make import describe_spaces
from rnnppo.core.suites import load_suite, suite_names


def test_the_memory_suite_ships_graded_memory_tasks_and_a_control():
    suite = load_suite("memory")
    by_name = {task.name: task for task in suite.tasks}
    cue = sorted(t.env_kwargs["cue_distance"] for t in suite.tasks if t.env == "rnnppo/CueRecall-v0")
    lags = sorted(t.env_kwargs["delay"] for t in suite.tasks if t.env == "rnnppo/RepeatPrevious-v0")
    assert len(cue) >= 3 and len(lags) >= 3
    assert "rnnppo/StatelessCartPole-v0" in {t.env for t in suite.tasks}
    assert "rnnppo/PendulumNoVel-v0" in {t.env for t in suite.tasks}
    assert any(t.memory == 0 for t in suite.tasks), "no task that needs no memory (the control)"
    assert by_name["repeat-4"].reference == 46.0  # 50 steps, the first 4 unscored


@pytest.mark.parametrize("name", suite_names())
def test_every_available_task_of_a_shipped_suite_builds_a_config_on_an_existing_env(name):
    for task in load_suite(name).available:
        assert task.reference_note, task.name
        config = build_config(task.overrides())
        assert config.total_steps == task.budget
        describe_spaces(config)  # the env exists and its spaces are supported (raises otherwise)


def test_a_tasks_overrides_leave_the_budget_to_steps_when_asked():
    task = load_suite("memory").tasks[0]
    assert "total_steps" not in task.overrides(budget=False)
    assert task.overrides()["env_kwargs"] == task.env_kwargs


def test_an_unknown_suite_names_the_close_match_and_the_listing_command():
    with pytest.raises(ConfigError, match="did you mean 'memory'.*rnnppo suites"):
        load_suite("memroy")


def _write(tmp_path, monkeypatch, text: str) -> None:
    monkeypatch.setattr(suites, "SUITE_DIR", tmp_path)
    (tmp_path / "bad.toml").write_text('[suite]\ndescription = "d"\n' + text)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ('name = "a"\nenv = "CartPole-v1"\nbudget = 10\nreference_note = "r"', "reference is required"),
        ('name = "a b"\nenv = "CartPole-v1"\nbudget = 10\nreference = 1\nreference_note = "r"', "task name"),
        ('name = "a"\nenv = "CartPole-v1"\nbudget = 10\nreference = 1\nreference_note = "r"\nrandom = 2', "below"),
        ('name = "a"\nenv = "CartPole-v1"\nbudget = 10\nreference = 1\nreference_note = "r"\nbugdet = 1', "bugdet"),
        (
            'name = "a"\nenv = "CartPole-v1"\nbudget = 10\nreference = 1\nreference_note = "r"\n'
            "settings = { total_steps = 5 }",
            "the task's own keys",
        ),
    ],
)
def test_a_broken_task_is_one_error_naming_the_file_and_the_task(tmp_path, monkeypatch, task, message):
    _write(tmp_path, monkeypatch, "[[task]]\n" + task + "\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_suite("bad")
    assert "bad.toml" in str(caught.value)


def test_a_task_that_needs_a_missing_module_is_listed_but_not_available(tmp_path, monkeypatch):
    _write(
        tmp_path,
        monkeypatch,
        '[[task]]\nname = "x"\nenv = "CartPole-v1"\nbudget = 10\nreference = 500\nreference_note = "r"\n'
        'requires = "no_such_module_here"\n',
    )
    suite = load_suite("bad")
    assert [t.name for t in suite.tasks] == ["x"] and suite.available == ()
