"""Masking observation entries: the wrapper behind the NoVel built-ins and `rnnppo.wrappers:MaskObservation`."""

from __future__ import annotations

from collections.abc import Iterable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rnnppo.core.config import ConfigError


class MaskError(ConfigError):
    """A mask that does not fit the observation it is applied to; the message names the index."""


class MaskObservation(gym.ObservationWrapper):
    """Zero the observation entries at `indices` (flat positions in a Box observation), keeping its shape.

    This is how the RL Zoo builds its *NoVel tasks (`MaskVelocityWrapper`): the masked entries are
    0 in every step, and the observation space's bounds there are [0, 0], so the agent has to infer
    what they held from the history. The shape is kept (not the entries dropped) so that a masked
    env and its fully observed original have the same network input size.
    """

    def __init__(self, env: gym.Env, indices: Iterable[int] = ()):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box):
            raise MaskError(
                f"MaskObservation needs a Box observation space, but {env.spec.id if env.spec else env} "
                f"has {space}; mask a Box env or flatten its observation first"
            )
        size = int(np.prod(space.shape)) if space.shape else 1
        try:
            chosen = [int(i) for i in (indices if not isinstance(indices, int | str) else [indices])]
        except (TypeError, ValueError):
            raise MaskError(f"MaskObservation indices={indices!r} must be a list of integers, e.g. [1]") from None
        bad = [i for i in chosen if not -size <= i < size]
        if bad:
            raise MaskError(
                f"MaskObservation index {bad[0]} is outside the observation: it has {size} entries "
                f"(indices 0..{size - 1}); pick indices in that range"
            )
        self.indices = tuple(sorted({i % size for i in chosen}))
        self._keep = np.ones(size, dtype=bool)
        self._keep[list(self.indices)] = False
        low = np.where(self._keep, space.low.reshape(-1), 0).reshape(space.shape)
        high = np.where(self._keep, space.high.reshape(-1), 0).reshape(space.shape)
        self.observation_space = spaces.Box(low.astype(space.dtype), high.astype(space.dtype), dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        flat = np.where(self._keep, np.asarray(observation).reshape(-1), 0)
        return flat.reshape(np.shape(observation)).astype(self.observation_space.dtype, copy=False)
