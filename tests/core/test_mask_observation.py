"""MaskObservation and the masked built-ins (the RL Zoo's *NoVel tasks): what is zeroed, and bad masks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rnnppo.core.config import ConfigError
from rnnppo.core.envs import builtin as builtin_envs
from rnnppo.wrappers import MaskObservation


def test_mask_observation_zeroes_the_chosen_entries_and_keeps_the_others():
    base = gym.make("Pendulum-v1")
    masked = MaskObservation(gym.make("Pendulum-v1"), indices=[2])
    raw, _ = base.reset(seed=5)
    seen, _ = masked.reset(seed=5)
    assert raw[2] != 0 and seen[2] == 0
    np.testing.assert_array_equal(seen[:2], raw[:2])
    action = np.array([1.5], dtype=np.float32)
    raw, *_ = base.step(action)
    seen, *_ = masked.step(action)
    assert seen[2] == 0
    np.testing.assert_array_equal(seen[:2], raw[:2])
    assert masked.observation_space.shape == (3,)
    assert masked.observation_space.low[2] == 0 and masked.observation_space.high[2] == 0
    assert masked.observation_space.contains(seen)


def test_a_negative_index_counts_from_the_end():
    masked = MaskObservation(gym.make("MountainCarContinuous-v0"), indices=[-1])
    assert masked.indices == (1,)


@pytest.mark.parametrize(("indices", "words"), [([3], "index 3 is outside"), ([-4], "index -4"), (["a"], "integers")])
def test_a_mask_index_outside_the_observation_is_a_config_error_naming_it(indices, words):
    with pytest.raises(ConfigError, match=words):
        MaskObservation(gym.make("Pendulum-v1"), indices=indices)


def test_a_non_box_observation_cannot_be_masked():
    with pytest.raises(ConfigError, match="Box observation"):
        MaskObservation(gym.make("FrozenLake-v1"), indices=[0])


@pytest.mark.parametrize(
    ("env_id", "base", "index"),
    [
        ("rnnppo/PendulumNoVel-v0", "Pendulum-v1", 2),
        ("rnnppo/MountainCarContinuousNoVel-v0", "MountainCarContinuous-v0", 1),
    ],
)
def test_the_novel_built_ins_are_gymnasium_envs_with_the_velocity_masked(env_id, base, index):
    builtin_envs.register()
    masked, plain = gym.make(env_id), gym.make(base)
    seen, _ = masked.reset(seed=1)
    raw, _ = plain.reset(seed=1)
    action = np.ones(plain.action_space.shape, dtype=np.float32)
    for _ in range(5):  # same dynamics, same rewards: only the observation differs
        seen, reward_m, *_ = masked.step(action)
        raw, reward_p, *_ = plain.step(action)
        assert reward_m == reward_p
    assert raw[index] != 0 and seen[index] == 0
    assert np.delete(seen, index).tolist() == np.delete(raw, index).tolist()
    assert env_id in builtin_envs.MASKED_ENVS
