"""Wrappers with keyword arguments: parsed safely, applied in order, the same from the CLI, TOML and
`name=value` words; a wrapper that fails names itself."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnppo.cli.app import app
from rnnppo.cli.common import console
from rnnppo.core.config import ConfigError, TrainConfig, load_toml, parse_overrides, to_toml
from rnnppo.core.envs.make import EnvError, describe_spaces, env_factory
from rnnppo.core.wrapper_spec import WrapperSpecError, parse_wrapper, split_specs

runner = CliRunner()
TIME_LIMIT_7 = "gymnasium.wrappers:TimeLimit(max_episode_steps=7)"


def test_keyword_values_are_python_literals():
    spec = parse_wrapper('pkg.mod:Outer.Inner(n=3, x=-1.5, name="a,b", on=True, off=None, sizes=(1, 2), d={"k": [1]})')
    assert (spec.module, spec.name) == ("pkg.mod", "Outer.Inner")
    assert spec.kwargs == {"n": 3, "x": -1.5, "name": "a,b", "on": True, "off": None, "sizes": (1, 2), "d": {"k": [1]}}
    assert parse_wrapper("gymnasium.wrappers:FlattenObservation").kwargs == {}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("gymnasium.wrappers:TimeLimit(max_episode_steps=__import__('os').getpid())", "not a literal"),
        ("gymnasium.wrappers:TimeLimit(max_episode_steps=n)", "not a literal"),
        ("gymnasium.wrappers:TimeLimit(50)", "positional"),
        ("gymnasium.wrappers:TimeLimit(**{'max_episode_steps': 5})", r"\*\*"),
        ("gymnasium.wrappers:TimeLimit(max_episode_steps=", "not valid"),
        ("TimeLimit(max_episode_steps=5)", "package.module:Name"),
        ("gymnasium.wrappers:TimeLimit()()", "must name a class"),
    ],
)
def test_anything_but_keyword_literals_is_refused_without_running_it(text, why):
    with pytest.raises(WrapperSpecError, match=why):
        parse_wrapper(text)


def test_a_list_splits_only_at_commas_outside_brackets_and_quotes():
    text = '[a.b:C(x=1, y=(2, 3)), d:E(s="p,q"), f:G]'
    assert split_specs(text) == ("a.b:C(x=1, y=(2, 3))", 'd:E(s="p,q")', "f:G")


def test_the_wrapper_arguments_reach_the_env():
    env = env_factory(TrainConfig(env="CartPole-v1", wrappers=(TIME_LIMIT_7,)))()
    env.reset(seed=0)
    steps, truncated, terminated = 0, False, False
    while not (truncated or terminated):
        _, _, terminated, truncated, _ = env.step(steps % 2)
        steps += 1
    assert truncated and steps == 7


def test_wrappers_apply_in_the_order_given_and_a_failing_one_is_named_not_the_env():
    image_then_flat = ("minigrid.wrappers:ImgObsWrapper", "gymnasium.wrappers:FlattenObservation")
    obs_space, _ = describe_spaces(TrainConfig(env="minigrid:MiniGrid-MemoryS7-v0", wrappers=image_then_flat))
    assert obs_space.shape == (147,)
    with pytest.raises(EnvError, match=r"^wrapper 'gymnasium.wrappers:FlattenObservation' failed to build"):
        describe_spaces(TrainConfig(env="minigrid:MiniGrid-MemoryS7-v0", wrappers=image_then_flat[::-1]))


def test_toml_words_and_to_toml_agree_on_wrappers(tmp_path):
    words = parse_overrides([f"wrappers=[minigrid.wrappers:ImgObsWrapper, {TIME_LIMIT_7}]"])
    assert words["wrappers"] == ("minigrid.wrappers:ImgObsWrapper", TIME_LIMIT_7)
    config = TrainConfig(env="minigrid:MiniGrid-MemoryS7-v0", wrappers=words["wrappers"])
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert load_toml(path)["wrappers"] == words["wrappers"]


def test_a_bad_wrapper_in_a_config_fails_at_construction():
    with pytest.raises(ConfigError, match="not a literal"):
        TrainConfig(wrappers=("gymnasium.wrappers:TimeLimit(max_episode_steps=open('x'))",))


def flat(text: str) -> str:
    """A table's text with whitespace and borders removed: a cell wrapped onto more lines reads as one."""
    return "".join(char for char in text if not char.isspace() and char not in "│┃")


def test_inspect_shows_the_wrapped_spaces_and_bad_syntax_is_one_line_exit_2(monkeypatch):
    monkeypatch.setattr(console, "width", 300)  # wide enough that no word of the note is cut short
    ok = runner.invoke(
        app, ["inspect", "--env", "CartPole-v1", "--wrapper", "gymnasium.wrappers:FlattenObservation", "--no-probe"]
    )
    assert ok.exit_code == 0, ok.output
    assert "aftergymnasium.wrappers:FlattenObservation" in flat(ok.stdout)
    words = ["--env", "minigrid:MiniGrid-MemoryS7-v0", "--wrapper", "minigrid.wrappers:ImgObsWrapper", "--no-probe"]
    image = runner.invoke(app, ["inspect", *words])
    assert image.exit_code == 0, image.output
    assert "flattenedfromBox(0,255,(7,7,3),uint8)" in flat(image.stdout)
    bad = runner.invoke(app, ["inspect", "--env", "CartPole-v1", "--wrapper", "gymnasium.wrappers:TimeLimit(5)"])
    assert bad.exit_code == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "positional" in bad.stderr


def test_train_with_a_wrapper_argument_records_it_and_eval_uses_it(tmp_path):
    words = ["num_envs=2", "rollout_len=16", "fcnet_hiddens=[8]", "cell=8", "seq_len=4", "minibatch_size=16"]
    words += ["num_epochs=1", "eval_episodes=2", "--steps", "32", "--out", str(tmp_path), "--name", "w"]
    result = runner.invoke(app, ["train", *words, "--env", "CartPole-v1", "--wrapper", TIME_LIMIT_7])
    assert result.exit_code == 0, result.output
    import pandas as pd

    metrics = pd.read_csv(tmp_path / "runs" / "w" / "metrics.csv")
    assert np.nanmax(metrics["episode_len_mean"]) <= 7
    evaluated = runner.invoke(app, ["eval", str(tmp_path / "runs" / "w"), "--episodes", "3"])
    assert evaluated.exit_code == 0, evaluated.output
    assert float(evaluated.stdout.split("return ")[1].split(" ")[0]) <= 7
