"""Small environments over every supported observation and action space (for the space tests)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

OBSERVATION_SPACES = {
    "box_image": spaces.Box(0, 255, (4, 3, 2), dtype=np.uint8),
    "discrete": spaces.Discrete(5, start=2),
    "multi_discrete": spaces.MultiDiscrete([3, 2, 4]),
    "multi_binary": spaces.MultiBinary(6),
    "dict": spaces.Dict({"image": spaces.Box(-1, 1, (2, 2), dtype=np.float32), "flag": spaces.Discrete(2)}),
    "tuple": spaces.Tuple((spaces.Discrete(3), spaces.Box(-1, 1, (3,), dtype=np.float32))),
    # an image beside flat parts and a text part (MiniGrid's shape of observation); needs conv_filters
    "dict_image": spaces.Dict(
        {
            "image": spaces.Box(0, 255, (5, 5, 2), dtype=np.uint8),
            "mission": spaces.Text(6),
            "flag": spaces.Discrete(2),
            "pos": spaces.Box(-1, 1, (3,), dtype=np.float32),
        }
    ),
}
IMAGE_FILTERS = ((4, (3, 3), 1), (6, (2, 2), 2))  # conv_filters for the 5x5 images above
ACTION_SPACES = {
    "discrete": spaces.Discrete(3, start=-1),
    "multi_discrete": spaces.MultiDiscrete([2, 3]),
    "box": spaces.Box(-0.5, 0.5, (2,), dtype=np.float32),
    "box_1d": spaces.Box(-2.0, 2.0, (1,), dtype=np.float32),
    "box_matrix": spaces.Box(-1.0, 1.0, (2, 3), dtype=np.float32),  # six action dims in a 2-D shape
}


class AnySpaceEnv(gym.Env):
    """Random observations of `obs` space; checks every action lies in `act` space; 9-step episodes."""

    def __init__(self, obs: str = "dict", act: str = "box"):
        self.observation_space = OBSERVATION_SPACES[obs]
        self.action_space = ACTION_SPACES[act]
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        if not self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)):
            raise AssertionError(f"action {action!r} is outside {self.action_space}")
        self.t += 1
        return self.observation_space.sample(), float(self.t % 2), self.t >= 9, False, {}
