"""gSDE's exploration noise in the rollout (`use_sde=true`): one random matrix per env, redrawn every k steps.

Generalised state-dependent exploration (Raffin et al. 2021, sb3's `use_sde`): the action is
mean + features @ W_env, with the actor's features [H] and W_env [H, D] drawn entry-wise from
N(0, exp(sde_log_std)^2) at the start of each rollout and every `sde_sample_freq` steps. Between redraws
the same state gives the same noise, so exploration is smooth in time (a cart can build momentum), where
independent per-step noise averages out. Given the features the action is Gaussian with the per-step
std `RecurrentPolicy.sde_dist_inputs` computes, so PPO's log-probabilities and the update are the usual
ones; only sampling differs, here.
"""

from __future__ import annotations

import torch

from rnnppo.core.spaces import normal_log_prob


class SdeNoise:
    """The exploration matrices of N envs [N, H, D] and the rollout-step counter that redraws them."""

    def __init__(self, sde_log_std: torch.Tensor, num_envs: int, sample_freq: int):
        self.sde_log_std = sde_log_std  # [H, D], the policy's parameter (read at each redraw)
        self.num_envs = num_envs
        self.sample_freq = sample_freq
        self.matrices = torch.zeros(num_envs, *sde_log_std.shape)

    def start_rollout(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        std = torch.exp(self.sde_log_std.detach())  # [H, D]
        self.matrices = torch.randn(self.num_envs, *std.shape, device=std.device) * std

    def sample(self, step: int, dist_inputs: torch.Tensor, features: torch.Tensor):
        """Rollout step `step` (0-based in this rollout): dist_inputs [N, 2D] = [mean, log-std], features [N, H]
        -> (actions [N, D], log_prob [N])."""
        if step > 0 and self.sample_freq > 0 and step % self.sample_freq == 0:
            self.redraw()
        mean, log_std = dist_inputs.chunk(2, dim=-1)
        noise = torch.bmm(features.unsqueeze(1), self.matrices).squeeze(1)  # [N, D]
        actions = mean + noise
        return actions, normal_log_prob(mean, log_std, actions)
