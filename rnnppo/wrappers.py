"""Gymnasium wrappers users can name with `--wrapper rnnppo.wrappers:NAME` (one observation mask for now)."""

from rnnppo.core.envs.observation_mask import MaskError, MaskObservation

__all__ = ["MaskError", "MaskObservation"]
