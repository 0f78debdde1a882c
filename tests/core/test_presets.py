"""The shipped presets: every one parses, says what it reaches, and trains for one iteration."""

from __future__ import annotations

import pytest

from rnnppo.core.config import ConfigError, build_config, load_toml
from rnnppo.core.envs import builtin as builtin_envs
from rnnppo.core.presets import PRESET_DIR, load_preset, preset_names, presets_by_env
from rnnppo.core.runs.trainer import train

NAMES = preset_names()


def test_every_built_in_env_has_a_preset():
    covered = presets_by_env()
    for env_id in [*builtin_envs.BUILTIN_ENVS, *builtin_envs.MASKED_ENVS]:
        assert covered.get(env_id), f"no preset trains on {env_id}"


@pytest.mark.parametrize("name", NAMES)
def test_a_preset_parses_and_names_its_score_budget_seeds_and_command(name):
    preset = load_preset(name)
    assert preset.description and preset.score and preset.reproduce
    assert len(preset.seeds) >= 5
    assert preset.settings.get("total_steps") == preset.budget  # the score was measured at the preset's budget
    build_config(preset.settings)  # a valid config as it stands
    # a copy of the file works as a --config file: the [preset] table is not read as settings
    assert load_toml(PRESET_DIR / f"{name}.toml") == preset.settings


@pytest.mark.parametrize("name", NAMES)
def test_a_preset_trains_one_iteration(name):
    settings = load_preset(name).settings
    config = build_config(settings, total_steps=1, rollout_len=min(settings.get("rollout_len", 128), 64))
    config = config.replace(eval_episodes=0, num_epochs=1, minibatch_size=max(config.max_seq_len, 64))
    result = train(config)
    assert len(result.metrics) == 1


def test_an_unknown_preset_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'pendulum-novel'"):
        load_preset("pendulum-novle")
    with pytest.raises(ConfigError, match="unknown preset '../config'"):
        load_preset("../config")
