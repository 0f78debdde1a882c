"""An environment that misbehaves on purpose, for the fault-injection tests.

Episodes are 5 steps of reward 1, each step taking `step_s` seconds in a process that trains (a sweep's
worker, `rnnppo train`; not the sweep's own process, whose random-policy baseline steps 100 episodes of
it), until the env has taken `after` steps; then it does what `fault` says:

* `healthy`: nothing (the control)
* `raise`: step() raises RuntimeError
* `nan`: the reward is NaN
* `huge`: the reward is 1e30 (finite, but its squared value error overflows the PPO loss to inf/NaN)
* `hang`: step() sleeps for an hour (only a trial time limit can end it)
* `nan_eval`: NaN rewards from the start, but only in evaluation episodes (envs whose seed is not a
  training copy's seed)
"""

import math
import multiprocessing
import sys
import time

import gymnasium as gym
import numpy as np

from rnnppo.core.envs.make import copy_seeds

FAULTS = ("healthy", "raise", "nan", "huge", "hang", "nan_eval")
# The seeds rnnppo gives the training env copies of runs seeded 0..99 (up to 64 copies; the first n of
# copy_seeds(s, 64) are copy_seeds(s, n)). Evaluation envs are seeded from config.seed + 1_000_003.
TRAINING_SEEDS = frozenset(seed for run_seed in range(100) for seed in copy_seeds(run_seed, 64))


def _trains() -> bool:
    """Whether this process trains: a sweep's worker, or the `rnnppo train` command."""
    return multiprocessing.current_process().name.startswith("rnnppo-worker") or sys.argv[1:2] == ["train"]


class Faulty(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, fault: str = "healthy", after: int = 0, step_s: float = 0.0):
        if fault not in FAULTS:
            raise ValueError(f"fault={fault!r}: choose one of {FAULTS}")
        self.fault, self.after, self.step_s = fault, after, step_s
        self.slow = step_s > 0 and _trains()
        self.steps = 0
        self.t = 0
        self.evaluating = False

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.evaluating = seed not in TRAINING_SEEDS
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        if self.slow:
            time.sleep(self.step_s)  # a slow env: trials take about as long on any machine
        self.steps += 1
        self.t += 1
        reward = 1.0
        due = self.steps > self.after
        if due and self.fault == "raise":
            raise RuntimeError(f"faulty env raised after {self.after} steps")
        if due and self.fault == "hang":
            time.sleep(3600)
        if (due and self.fault == "nan") or (self.fault == "nan_eval" and self.evaluating):
            reward = math.nan
        if due and self.fault == "huge":
            reward = 1e30
        return np.full(2, self.t / 5, np.float32), reward, self.t >= 5, False, {}
