"""Environments with spaces rnnppo refuses, for the error-message tests."""

import gymnasium as gym
import numpy as np


class GraphObsEnv(gym.Env):
    observation_space = gym.spaces.Graph(node_space=gym.spaces.Box(0, 1, (2,)), edge_space=None)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return None, {}

    def step(self, action):
        return None, 0.0, True, False, {}


class TextActionEnv(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (2,), dtype=np.float32)
    action_space = gym.spaces.Text(5)

    def reset(self, *, seed=None, options=None):
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


class VectorRewardEnv(gym.Env):
    """Box actions, but a reward of two numbers per step (what reward scaling cannot handle)."""

    observation_space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), np.array([1.0, 2.0]), False, False, {}


def mask_entry_7(env: gym.Env) -> gym.Env:
    """MaskObservation with an index past a Pendulum observation's 3 entries (a --wrapper for the tests)."""
    from rnnppo.wrappers import MaskObservation

    return MaskObservation(env, indices=[7])
