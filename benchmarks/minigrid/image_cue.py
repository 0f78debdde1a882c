"""A probe of the conv + Dict + LSTM path's memory: CueRecall's 4 observation numbers drawn into a 7x7x3
uint8 image of small integer codes (as MiniGrid's) inside a Dict with a Discrete part, so the cue has to
go through the conv encoder and be carried by the LSTM over the cue distance.

    cd benchmarks/minigrid && PYTHONPATH=. rnnppo train --env rnnppo/CueRecall-v0 --wrapper image_cue:ImageCue \
        --steps 100000 env.cue_distance=10 normalize_images=false memory_horizon=false eval_episodes=50

and the same without the wrapper (the MLP path) beside it; docs/benchmarks.md has the figures."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ImageCue(gym.ObservationWrapper):
    def __init__(self, env):
        super().__init__(env)
        self.observation_space = spaces.Dict(
            {"image": spaces.Box(0, 255, (7, 7, 3), np.uint8), "direction": spaces.Discrete(4)}
        )

    def observation(self, obs):
        img = np.zeros((7, 7, 3), np.uint8)
        for i, v in enumerate(obs):
            img[1 + i, 2:5, i % 3] = int(round(float(v) * 6))  # small integer codes, as MiniGrid's
        return {"image": img, "direction": 0}
