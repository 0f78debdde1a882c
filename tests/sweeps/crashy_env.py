"""An environment that raises after a set number of steps, to test that one crashing trial is contained."""

import os

import gymnasium as gym
import numpy as np

from tests.sweeps.constant_env import ConstantReward


class CrashAfter(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, crash_after: int = 10):
        self.crash_after = crash_after
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.steps > self.crash_after:
            raise RuntimeError(f"boom after {self.crash_after} steps")
        return np.zeros(2, np.float32), 1.0, self.steps % 7 == 0, False, {}


class ExitOnStep(ConstantReward):
    """With crash=1, kills its whole process on the first step (as a segfault in native code would)."""

    def __init__(self, crash: int = 0):
        super().__init__()
        self.crash = crash

    def step(self, action):
        if self.crash:
            os._exit(3)
        return super().step(action)
