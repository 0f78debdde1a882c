"""A sweep over an env id from another package, with wrappers that take arguments: every run's
config.json records them as given, and `best --export`-style re-creation (eval) makes the same env."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rnnppo.cli.app import app

runner = CliRunner()
TINY = ["num_envs=2", "rollout_len=16", "fcnet_hiddens=[8]", "minibatch_size=16", "num_epochs=1", "eval_episodes=1"]
WRAPPERS = ["minigrid.wrappers:ImgObsWrapper", "gymnasium.wrappers:TimeLimit(max_episode_steps=6)"]
WORDS = ["--env", "minigrid:MiniGrid-MemoryS7-v0", "--steps", "32", "--seeds", "1"]
WORDS += [word for wrapper in WRAPPERS for word in ("--wrapper", wrapper)]


def test_a_sweep_records_the_env_id_and_wrapper_arguments_in_every_run(tmp_path):
    result = runner.invoke(app, ["sweep", "cell=4", "seq_len=4", *TINY, *WORDS, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    configs = [json.loads(path.read_text())["config"] for path in sorted(tmp_path.glob("*/*/*/config.json"))]
    assert len(configs) == 1
    for config in configs:
        assert config["env"] == "minigrid:MiniGrid-MemoryS7-v0" and config["wrappers"] == WRAPPERS
    run = sorted(tmp_path.glob("*/*/*/config.json"))[0].parent
    evaluated = runner.invoke(app, ["eval", str(run), "--episodes", "2"])
    assert evaluated.exit_code == 0, evaluated.output
    assert float(evaluated.stdout.split("return ")[1].split(" ")[0]) <= 1.0


def test_a_bad_wrapper_argument_in_a_sweep_is_one_line_exit_2_and_nothing_is_written(tmp_path):
    words = [*WORDS[:-1], "gymnasium.wrappers:TimeLimit(max_episode_steps=six)"]
    result = runner.invoke(app, ["sweep", "cell=4,8", *TINY, *words, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "not a literal" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
