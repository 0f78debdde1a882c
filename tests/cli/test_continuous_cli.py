"""The CLI around continuous control: presets, the masked envs, and the bad inputs of issue 20 (exit 2)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rnnppo.cli.app import app

runner = CliRunner()
TINY = ["num_envs=2", "rollout_len=32", "fcnet_hiddens=[8]", "cell=8", "minibatch_size=16", "num_epochs=1"]


@pytest.fixture
def wide_console(monkeypatch):
    """Tables unwrapped, whatever width the shared console picked when it was made."""
    from rnnppo.cli.common import console

    monkeypatch.setattr(console, "width", 400)


def test_presets_lists_every_shipped_preset_with_its_reproduce_command(wide_console):
    from rnnppo.core.presets import preset_names

    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0, result.output
    for name in preset_names():
        assert name in result.output
    assert "benchmarks/continuous.py" in result.output


def test_envs_lists_the_masked_envs_with_what_is_masked_and_the_presets(wide_console):
    result = runner.invoke(app, ["envs"])
    assert result.exit_code == 0, result.output
    assert "rnnppo/PendulumNoVel-v0" in result.output and "angular velocity (obs[2])" in result.output
    assert "rnnppo/MountainCarContinuousNoVel-v0" in result.output and "velocity (obs[1])" in result.output
    assert "pendulum-novel" in result.output and "stateless-cartpole" in result.output
    assert "rnnppo.wrappers:MaskObservation" in result.output


def test_train_with_a_preset_uses_its_settings_under_the_words(tmp_path):
    result = runner.invoke(
        app,
        ["train", "--preset", "pendulum-novel", *TINY, "eval_episodes=0", "--steps", "64", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["env"] == "rnnppo/PendulumNoVel-v0" and config["gamma"] == 0.9  # from the preset
    assert config["num_envs"] == 2 and config["total_steps"] == 64  # words and options win


def test_sweep_takes_a_preset_as_its_base_config(tmp_path):
    result = runner.invoke(
        app,
        [
            "sweep",
            "seq_len=4,8",
            *TINY,
            "--preset",
            "pendulum-novel",
            "--steps",
            "64",
            "--dry-run",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "PendulumNoVel" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "pendulum-novle"], "did you mean 'pendulum-novel'"),
        (["--env", "CartPole-v1", "free_log_std=false"], "free_log_std=false is invalid"),
        (["--env", "tests.cli.odd_envs:VectorRewardEnv"], "reward_scaling=true is invalid"),
        (["--env", "Pendulum-v1", "--wrapper", "tests.cli.odd_envs:mask_entry_7"], "index 7 is outside"),
    ],
)
def test_bad_continuous_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "results"
    result = runner.invoke(app, ["train", *args, "--steps", "64", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_suites_lists_the_memory_suite_with_every_task_and_its_reference(wide_console):
    from rnnppo.core.suites import load_suite

    result = runner.invoke(app, ["suites"])
    assert result.exit_code == 0, result.output
    assert "suite memory" in result.output
    for task in load_suite("memory").tasks:
        assert task.name in result.output
    assert "reference 46" in result.output
