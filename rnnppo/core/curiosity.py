"""Intrinsic Curiosity Module (Pathak et al. 2017; RLlib's `Curiosity` exploration).

It sees observations and actions, never the recurrent state, so `max_seq_len` does not touch it.
Per transition (s_t, a_t, s_{t+1}) it predicts phi(s_{t+1}) from phi(s_t) and a_t (forward model)
and a_t from phi(s_t), phi(s_{t+1}) (inverse model). The intrinsic reward eta * 1/2 ||phi_hat - phi||^2,
computed with the module as it was before this rollout's update, is added to the extrinsic reward
before GAE. s_{t+1} of a step that ended an episode is that episode's final observation, so no
transition spans two episodes.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnppo.core.config import ConfigError, TrainConfig
from rnnppo.core.optim import Adam
from rnnppo.core.rollout import Rollout
from rnnppo.core.spaces import ActionHead

MAX_FEATURE_PARAMS = 50_000_000  # the feature net's first layer must fit comfortably in memory


def _relu_mlp(inputs: int, widths: tuple[int, ...], outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    layers.append(nn.Linear(inputs, outputs))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class Curiosity(nn.Module):
    """Feature, inverse and forward nets with their own Adam optimizer."""

    def __init__(self, obs_dim: int, head: ActionHead, config: TrainConfig):
        super().__init__()
        first_width = (config.curiosity_feature_hiddens or (config.curiosity_feature_dim,))[0]
        if obs_dim * first_width > MAX_FEATURE_PARAMS:
            raise ConfigError(
                f"curiosity=true is invalid here: observations of size {obs_dim} × feature layer {first_width} "
                f"= {obs_dim * first_width:,} weights exceed the budget of {MAX_FEATURE_PARAMS:,}; add a --wrapper "
                "that shrinks the observation, or lower curiosity_feature_dim / curiosity_feature_hiddens"
            )
        self.head = head
        self.beta = config.curiosity_beta
        self.eta = config.curiosity_eta
        dim = config.curiosity_feature_dim
        self.feature = _relu_mlp(obs_dim, config.curiosity_feature_hiddens, dim)
        # the inverse model predicts the action itself for Box (a regression on [B, A]: not the distribution's
        # inputs, which hold a log-std too with free_log_std=false or use_sde), the logits otherwise
        predicted = head.action_dim if head.kind == "box" else head.dist_dim
        self.inverse = _relu_mlp(2 * dim, config.curiosity_inverse_hiddens, predicted)
        self.forward_model = _relu_mlp(dim + head.prev_action_dim, config.curiosity_forward_hiddens, dim)
        self.optimizer = Adam(self.parameters(), lr=config.curiosity_lr)
        self.updates = config.curiosity_updates
        self.minibatch_size = config.minibatch_size

    def _step(self, inverse_loss: torch.Tensor, forward_loss: torch.Tensor) -> None:
        loss = (1 - self.beta) * inverse_loss + self.beta * forward_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def losses(self, obs: torch.Tensor, next_obs: torch.Tensor, actions: torch.Tensor):
        """Rows [B, ·] -> (per-row forward error [B], inverse loss, forward loss)."""
        phi, phi_next = self.feature(obs), self.feature(next_obs)  # [B, F] each
        predicted_next = self.forward_model(torch.cat([phi, self.head.encode_prev(actions)], dim=-1))
        forward_error = 0.5 * (predicted_next - phi_next).pow(2).sum(-1)  # [B]
        predicted_action = self.inverse(torch.cat([phi, phi_next], dim=-1))
        if self.head.kind == "box":
            inverse_loss = 0.5 * (predicted_action - actions.float()).pow(2).sum(-1).mean()
        else:
            inverse_loss = -self.head.log_prob(predicted_action, None, actions).mean()
        return forward_error, inverse_loss, forward_error.mean()

    def intrinsic_rewards_and_update(self, rollout: Rollout) -> tuple[torch.Tensor, dict[str, float]]:
        """[T, N] intrinsic rewards from the pre-update module, then one optimizer step on the rollout."""
        if rollout.next_obs is None:
            raise RuntimeError("curiosity needs the rollout's next observations (keep_next_obs=True)")
        steps, envs = rollout.rewards.shape
        obs = rollout.obs.reshape(steps * envs, -1)
        next_obs = rollout.next_obs.reshape(steps * envs, -1)
        actions = rollout.actions.reshape(steps * envs, -1)
        forward_error, inverse_loss, forward_loss = self.losses(obs, next_obs, actions)
        intrinsic = (self.eta * forward_error.detach()).reshape(steps, envs)
        self._step(inverse_loss, forward_loss)
        size = min(self.minibatch_size, steps * envs)
        for _ in range(self.updates - 1):  # further steps on random minibatches of the same rollout
            rows = torch.randperm(steps * envs, device=obs.device)[:size]
            _, more_inverse, more_forward = self.losses(obs[rows], next_obs[rows], actions[rows])
            self._step(more_inverse, more_forward)
        return intrinsic, {
            "intrinsic_reward_mean": float(intrinsic.mean()),
            "icm_inverse_loss": float(inverse_loss.detach()),
            "icm_forward_loss": float(forward_loss.detach()),
        }
