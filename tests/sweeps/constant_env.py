"""A deterministic environment: every episode is 5 steps of `reward`, whatever the policy does, so a
planted change of `reward` is a certain, seed-independent change of the final return."""

import os

import gymnasium as gym
import numpy as np


class ConstantReward(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, reward: float = 1.0):
        self.reward = reward
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(2, self.t / 5, np.float32), self.reward, self.t >= 5, False, {}


class RewardFromEnviron(ConstantReward):
    """ConstantReward whose reward comes from $RNNPPO_TEST_REWARD: a change of behaviour between nights
    with the same settings, as a change of the code would make. An `env.reward` setting overrides it: a
    change of settings, which nightly names and does not compare."""

    def __init__(self, reward: float | None = None):
        super().__init__(float(os.environ.get("RNNPPO_TEST_REWARD", "1.0")) if reward is None else reward)


class NoisyReward(ConstantReward):
    """ConstantReward times $RNNPPO_TEST_SCALE (default 1) plus a small noise fixed by the episode's seed and
    the reward: per-seed differences between two rewards have a spread, so a race can stop the lower one
    before its exact sign-flip floor, and nights of the same scale score the same on each seed."""

    def __init__(self, reward: float = 1.0):
        super().__init__(reward)
        self.scale = float(os.environ.get("RNNPPO_TEST_SCALE", "1.0"))
        self.noise = 0.0

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.noise = float(np.random.default_rng([seed, round(1000 * self.reward)]).uniform(-0.1, 0.1))
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, self.reward * self.scale + self.noise, terminated, truncated, info
