"""Reward scaling (`reward_scaling=true`): divide training rewards by a running std of the discounted return.

The semantics of sb3's `VecNormalize(norm_reward=True)`: each env keeps a discounted running return
R_t = gamma * R_{t-1} + r_t (reset to 0 after an episode ends), the running variance of every R_t seen
so far is tracked, and the reward PPO trains on is r_t / sqrt(var + eps), clipped to [-clip, clip]. The
mean is not subtracted (a shift would change which policy is optimal when episodes end early).
sb3 folds in one step at a time; here a rollout's T x N returns are folded in at once after it is
collected (the same running estimate, updated per rollout instead of per step), and the whole rollout
is scaled by the updated std. The statistics are buffers of the policy (model.pt carries them); only
training updates them. Reported returns, the evaluation and the LSTM's `prev_reward` input see raw rewards.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnppo.core.obs_filter import MeanStdFilter, buffer

CLIP = 10.0
EPSILON = 1e-8


class RewardScaler:
    """Running discounted returns per env [N] and the running mean/variance of all of them."""

    def __init__(self, policy: torch.nn.Module, num_envs: int, gamma: float):
        self.policy = policy
        self.gamma = gamma
        self.returns = np.zeros(num_envs)  # each env's discounted return so far in its open episode
        self.stats = MeanStdFilter(
            buffer(policy, "ret_mean").detach().cpu().numpy(),
            buffer(policy, "ret_var").detach().cpu().numpy(),
            float(buffer(policy, "ret_count")),
        )

    @staticmethod
    def enabled(policy: torch.nn.Module) -> bool:
        return getattr(policy, "ret_var", None) is not None

    def scale(self, rewards: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
        """One rollout's raw rewards [T, N] (and dones [T, N]) -> scaled rewards [T, N]; updates the
        running returns and statistics, and writes the statistics to the policy's buffers."""
        raw = rewards.detach().cpu().numpy().astype(np.float64)
        ended = dones.detach().cpu().numpy()
        returns = np.empty_like(raw)  # [T, N]
        running = self.returns
        for t in range(raw.shape[0]):
            running = running * self.gamma + raw[t]
            returns[t] = running
            running = np.where(ended[t], 0.0, running)
        self.returns = running
        self.stats.update(returns.reshape(-1, 1))
        std = float(np.sqrt(self.stats.var[0] + EPSILON))
        with torch.no_grad():
            buffer(self.policy, "ret_mean").copy_(torch.from_numpy(self.stats.mean))
            buffer(self.policy, "ret_var").copy_(torch.from_numpy(self.stats.var))
            buffer(self.policy, "ret_count").fill_(self.stats.count)
        return torch.clamp(rewards / std, -CLIP, CLIP)
