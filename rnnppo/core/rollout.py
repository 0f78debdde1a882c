"""Collecting rollouts: one env step at a time, the recurrent state chained per env.

Buffers are pre-allocated time-major tensors `[T, N, ...]` (T = rollout_len, N = num_envs): index
`[t, n]` is env n's step t of this rollout. `states[t, n]` is the state *before* step t (the state
the policy was given), so a sequence starting at step t reads its `state_in` there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from rnnppo.core.envs import final_observations
from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.spaces import ActionHead, flatten_batch, flatten_single


class FrameStacker:
    """Keeps the last k flat observations per env (zeros before the episode's first one)."""

    def __init__(self, num_envs: int, obs_dim: int, k: int):
        self.k = k
        self.frames = np.zeros((num_envs, k, obs_dim), dtype=np.float32)

    def push(self, flat_obs: np.ndarray, new_episode: np.ndarray) -> np.ndarray:
        """Add this step's observations; envs starting an episode forget their old frames."""
        if self.k == 1:
            return flat_obs
        self.frames[new_episode] = 0.0
        self.frames[:, :-1] = self.frames[:, 1:]
        self.frames[:, -1] = flat_obs
        return self.frames.reshape(self.frames.shape[0], -1).copy()

    def peek(self, env: int, flat_obs: np.ndarray) -> np.ndarray:
        """What env's stacked observation would be if `flat_obs` came next (for a final observation)."""
        if self.k == 1:
            return flat_obs
        return np.concatenate([self.frames[env, 1:].reshape(-1), flat_obs])


@dataclass
class Rollout:
    """One iteration's data, `[T, N, ...]` time-major."""

    obs: torch.Tensor  # [T, N, O] (frame-stacked when frame_stack > 1)
    prev_actions: torch.Tensor  # [T, N, A] encoded previous action, zeros at episode starts
    prev_rewards: torch.Tensor  # [T, N] previous extrinsic reward, zero at episode starts
    states: torch.Tensor  # [T, N, state_size] state before each step
    actions: torch.Tensor  # [T, N, action_dim]
    logp: torch.Tensor  # [T, N] behaviour log-prob
    values: torch.Tensor  # [T, N] behaviour value
    rewards: torch.Tensor  # [T, N] extrinsic reward
    terminated: torch.Tensor  # [T, N] bool
    truncated: torch.Tensor  # [T, N] bool
    episode_start: torch.Tensor  # [T, N] bool: step t is an episode's first step
    bootstrap: torch.Tensor  # [T, N] value after an episode/rollout cut (see ppo.next_values)
    next_obs: torch.Tensor | None  # [T, N, O] true next observation (final obs at episode ends); curiosity only
    final_state: torch.Tensor  # [N, state_size] carried into the next rollout
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_successes: list[float] = field(default_factory=list)

    @property
    def dones(self) -> torch.Tensor:
        return self.terminated | self.truncated

    @property
    def num_steps(self) -> int:
        return int(self.rewards.numel())


class Collector:
    """Steps a vector env with a policy, carrying obs, state and prev action/reward across rollouts."""

    def __init__(
        self,
        env: VectorEnv,
        policy: RecurrentPolicy,
        head: ActionHead,
        frame_stack: int,
        device: torch.device,
        keep_next_obs: bool = False,
    ):
        self.env, self.policy, self.head, self.device = env, policy, head, device
        self.num_envs = env.num_envs
        self.obs_space = env.single_observation_space
        self.keep_next_obs = keep_next_obs
        raw_obs, _ = env.reset()
        flat = flatten_batch(self.obs_space, raw_obs, self.num_envs)
        self.stacker = FrameStacker(self.num_envs, flat.shape[1], frame_stack)
        self.obs = self.stacker.push(flat, np.ones(self.num_envs, dtype=bool))
        self.obs_dim = self.obs.shape[1]
        self.state = policy.initial_state(self.num_envs, device)
        self.prev_action = torch.zeros(self.num_envs, head.prev_action_dim, device=device)
        self.prev_reward = torch.zeros(self.num_envs, device=device)
        self.episode_start = torch.ones(self.num_envs, dtype=torch.bool, device=device)
        self.running_return = np.zeros(self.num_envs)
        self.running_length = np.zeros(self.num_envs, dtype=np.int64)
        # Seconds spent in the policy's forward + sampling and in env.step, summed over collect() calls
        # (the speed benchmark's breakdown; the trainer logs the per-iteration difference).
        self.time_policy = 0.0
        self.time_env = 0.0

    def _alloc(self, steps: int) -> Rollout:
        n, dev = self.num_envs, self.device
        zeros = lambda *shape, dtype=torch.float32: torch.zeros(*shape, dtype=dtype, device=dev)  # noqa: E731
        return Rollout(
            obs=zeros(steps, n, self.obs_dim),
            prev_actions=zeros(steps, n, self.head.prev_action_dim),
            prev_rewards=zeros(steps, n),
            states=zeros(steps, n, self.policy.state_size),
            actions=zeros(steps, n, self.head.action_dim, dtype=self.head.action_dtype),
            logp=zeros(steps, n),
            values=zeros(steps, n),
            rewards=zeros(steps, n),
            terminated=zeros(steps, n, dtype=torch.bool),
            truncated=zeros(steps, n, dtype=torch.bool),
            episode_start=zeros(steps, n, dtype=torch.bool),
            bootstrap=zeros(steps, n),
            next_obs=zeros(steps, n, self.obs_dim) if self.keep_next_obs else None,
            final_state=zeros(n, self.policy.state_size),
        )

    def collect(self, steps: int) -> Rollout:
        policy, head, dev = self.policy, self.head, self.device
        buf = self._alloc(steps)
        log_std = policy.log_std
        for t in range(steps):
            obs_t = torch.as_tensor(self.obs, device=dev)
            buf.obs[t] = obs_t
            buf.prev_actions[t] = self.prev_action
            buf.prev_rewards[t] = self.prev_reward
            buf.states[t] = self.state
            buf.episode_start[t] = self.episode_start
            began = time.perf_counter()
            with torch.inference_mode():
                dist_inputs, value, state_out = policy.step(obs_t, self.prev_action, self.prev_reward, self.state)
                action, logp = head.sample(dist_inputs, log_std)
            action_np = action.cpu().numpy()
            stepped = time.perf_counter()
            raw_obs, reward, terminated, truncated, infos = self.env.step(head.to_env(action_np))
            self.time_env += time.perf_counter() - stepped
            self.time_policy += stepped - began
            reward = np.asarray(reward, dtype=np.float32)
            done = np.logical_or(terminated, truncated)

            buf.actions[t] = action
            buf.logp[t] = logp
            buf.values[t] = value
            reward_t = torch.as_tensor(reward, device=dev)
            buf.rewards[t] = reward_t
            buf.terminated[t] = torch.as_tensor(terminated, device=dev)
            buf.truncated[t] = torch.as_tensor(truncated, device=dev)

            # Final observations (SAME_STEP autoreset), stacked before push() forgets the old frames.
            finals = {
                i: self.stacker.peek(i, flatten_single(self.obs_space, final))
                for i, final in (final_observations(infos, done) if done.any() else [])
            }
            flat = flatten_batch(self.obs_space, raw_obs, self.num_envs)
            next_obs = self.stacker.push(flat, done)
            if buf.next_obs is not None:
                true_next = next_obs.copy()
                for env_i, final in finals.items():
                    true_next[env_i] = final
                buf.next_obs[t] = torch.as_tensor(true_next, device=dev)
            prev_action = head.encode_prev(action)
            # Terminated wins over truncated (both can be set on one step): no future value to bootstrap.
            truncated_only = np.logical_and(truncated, np.logical_not(terminated))
            if truncated_only.any():
                buf.bootstrap[t] = self._truncation_values(finals, truncated_only, state_out, prev_action, reward_t)

            self._track_episodes(reward, done, infos, buf)
            done_t = torch.as_tensor(done, device=dev)
            keep = (~done_t).float().unsqueeze(1)
            self.state = state_out * keep
            self.prev_action = prev_action * keep
            self.prev_reward = reward_t * keep[:, 0]
            self.episode_start = done_t
            self.obs = next_obs

        # A rollout cut mid-episode bootstraps from V(next obs) with the carried state.
        with torch.inference_mode():
            _, last_value, _ = policy.step(
                torch.as_tensor(self.obs, device=dev), self.prev_action, self.prev_reward, self.state
            )
        last_done = buf.terminated[-1] | buf.truncated[-1]
        buf.bootstrap[-1] = torch.where(last_done, buf.bootstrap[-1], last_value)
        buf.final_state = self.state.clone()
        return buf

    def _truncation_values(
        self,
        finals: dict[int, np.ndarray],
        truncated: np.ndarray,
        state_out: torch.Tensor,
        prev_action: torch.Tensor,
        reward_t: torch.Tensor,
    ) -> torch.Tensor:
        """V(final observation) for envs truncated this step, from the state after their last step."""
        values = torch.zeros(self.num_envs, device=self.device)
        rows = [i for i in finals if truncated[i]]
        if not rows:
            return values
        index = torch.tensor(rows, device=self.device)
        final_obs = torch.as_tensor(np.stack([finals[i] for i in rows]), device=self.device)
        with torch.inference_mode():
            _, final_values, _ = self.policy.step(final_obs, prev_action[index], reward_t[index], state_out[index])
        values[index] = final_values
        return values

    def _track_episodes(self, reward: np.ndarray, done: np.ndarray, infos: dict, buf: Rollout) -> None:
        self.running_return += reward
        self.running_length += 1
        if not done.any():
            return
        success = infos.get("success")
        success_mask = infos.get("_success")
        for i in np.flatnonzero(done):
            buf.episode_returns.append(float(self.running_return[i]))
            buf.episode_lengths.append(int(self.running_length[i]))
            if success is not None and (success_mask is None or success_mask[i]):
                buf.episode_successes.append(float(success[i]))
        self.running_return[done] = 0.0
        self.running_length[done] = 0
