"""Wrappers users can name with `--wrapper rnnppo.wrappers:NAME`: an observation mask and success from reward."""

from rnnppo.core.envs.observation_mask import MaskError, MaskObservation
from rnnppo.core.envs.success import SuccessIfRewarded

__all__ = ["MaskError", "MaskObservation", "SuccessIfRewarded"]
