"""Observation normalisation (`observation_filter=mean_std`, RLlib's MeanStdFilter).

Each flat observation feature is shifted and scaled by the running mean and standard deviation of
every observation the training rollouts have seen so far, then clipped to [-clip, clip]. The
statistics are updated while collecting (before the policy sees the step's observation, as RLlib's
filter does), frozen in evaluation, and kept as buffers of the policy so that model.pt carries them.
The rollout stores the normalised observations, so the training forward sees exactly what the
rollout's policy saw. Image columns (`passthrough`) leave the filter as they came: the conv encoder
scales them itself (a per-pixel standardisation would blow up the pixels that hardly ever change).
"""

from __future__ import annotations

import numpy as np
import torch

CLIP = 10.0
EPSILON = 1e-8


def buffer(module: torch.nn.Module, name: str) -> torch.Tensor:
    """The module's tensor `name` (a registered buffer), typed as one: nn.Module's attribute lookup is not."""
    value = getattr(module, name)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{type(module).__name__}.{name} is {value!r}, not a tensor")
    return value


class MeanStdFilter:
    """Running mean/variance (Chan et al.'s parallel update, float64) over batches of flat observations."""

    def __init__(
        self,
        mean: np.ndarray,
        var: np.ndarray,
        count: float,
        clip: float = CLIP,
        passthrough: list[tuple[int, int]] | None = None,
    ):
        self.mean = np.array(mean, dtype=np.float64)
        self.var = np.array(var, dtype=np.float64)
        self.count = float(count)
        self.clip = clip
        self.passthrough = passthrough or []  # (start, stop) column ranges returned unfiltered

    @classmethod
    def fresh(cls, size: int) -> MeanStdFilter:
        return cls(np.zeros(size), np.ones(size), 0.0)

    @classmethod
    def from_policy(cls, policy: torch.nn.Module) -> MeanStdFilter | None:
        """The filter whose statistics are the policy's buffers, or None when the policy has none."""
        if getattr(policy, "obs_mean", None) is None:
            return None
        return cls(
            buffer(policy, "obs_mean").detach().cpu().numpy(),
            buffer(policy, "obs_var").detach().cpu().numpy(),
            float(buffer(policy, "obs_count")),
            passthrough=getattr(policy, "image_columns", None),
        )

    def write_to(self, policy: torch.nn.Module) -> None:
        """Copy the statistics into the policy's buffers (once per rollout, not per step)."""
        with torch.no_grad():
            buffer(policy, "obs_mean").copy_(torch.from_numpy(self.mean))
            buffer(policy, "obs_var").copy_(torch.from_numpy(self.var))
            buffer(policy, "obs_count").fill_(self.count)

    def update(self, batch: np.ndarray) -> None:
        """Fold a [B, size] batch into the running statistics."""
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean = batch.mean(axis=0, dtype=np.float64)
        batch_var = batch.var(axis=0, dtype=np.float64)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.var = (self.var * self.count + batch_var * n + delta**2 * (self.count * n / total)) / total
        self.count = total

    def __call__(self, batch: np.ndarray, update: bool) -> np.ndarray:
        """Normalise a [B, size] batch (after folding it in, when `update`); float32 out."""
        if update:
            self.update(batch)
        scaled = (batch - self.mean) / np.sqrt(self.var + EPSILON)
        out = np.clip(scaled, -self.clip, self.clip).astype(np.float32)
        for start, stop in self.passthrough:
            out[:, start:stop] = batch[:, start:stop]
        return out
