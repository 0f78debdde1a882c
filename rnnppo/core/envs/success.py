"""Success from the episode's reward: the wrapper behind `rnnppo.wrappers:SuccessIfRewarded`.

Many goal-reaching envs (MiniGrid's among them) pay a positive reward only when the goal is reached
and say nothing else about success. rnnppo reports a success rate wherever an env sets
`info["success"]` at an episode's end; this wrapper sets it from the episode's summed reward, so a
MiniGrid run reports its success rate beside its return.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from rnnppo.core.config import ConfigError


class SuccessIfRewarded(gym.Wrapper):
    """At an episode's end, `info["success"] = 1.0` when its summed reward is above `threshold`, else 0.0.

    Only the last step of an episode carries the key (rnnppo reads it there); `truncated` episodes
    count too, with whatever they summed. The default threshold 0 fits MiniGrid, whose reward is 0
    unless the goal is reached (then 1 - 0.9 · steps / max_steps > 0).
    """

    def __init__(self, env: gym.Env, threshold: float = 0.0):
        super().__init__(env)
        try:
            self.threshold = float(threshold)
        except (TypeError, ValueError):
            raise ConfigError(f"SuccessIfRewarded threshold={threshold!r} must be a number, e.g. 0.5") from None
        self._summed = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self._summed = 0.0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._summed += float(reward)
        if terminated or truncated:
            info = {**info, "success": float(self._summed > self.threshold)}
        return obs, reward, terminated, truncated, info
