"""Collecting rollouts: one env step at a time, the recurrent state chained per env.

Buffers are pre-allocated time-major tensors `[T, N, ...]` (T = rollout_len, N = num_envs): index
`[t, n]` is env n's step t of this rollout. `states[t, n]` is the state *before* step t (the state
the policy was given), so a sequence starting at step t reads its `state_in` there.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from rnnppo.core.envs.make import ended_successes, final_observations
from rnnppo.core.envs.workers import WorkerVectorEnv
from rnnppo.core.model import RecurrentPolicy, RolloutStep
from rnnppo.core.obs_filter import MeanStdFilter
from rnnppo.core.sde import SdeNoise
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


class EpisodeTotals:
    """Each env's running episode return and length, across rollouts. The episodes that ended in a
    rollout are summed from its reward and done buffers `[T, N]` once, when it is collected, not
    added up step by step."""

    def __init__(self, num_envs: int):
        self.carried_return = np.zeros(num_envs)  # of each env's open episode, before this rollout
        self.carried_length = np.zeros(num_envs, dtype=np.int64)

    def add_rollout(self, rewards: np.ndarray, dones: np.ndarray, returns: list, lengths: list) -> None:
        """Append the return and length of every episode that ended in this rollout, in step order and
        then env order, and carry the open episodes' totals into the next rollout."""
        steps, n = rewards.shape
        running = np.zeros((steps + 1, n))  # running[t, i]: env i's reward summed over steps < t
        np.cumsum(rewards, axis=0, dtype=np.float64, out=running[1:])
        end_steps, end_envs = np.nonzero(dones)  # row-major: step order, then env order
        last_end = np.full(n, -1)
        if end_steps.size:
            # An episode began after its env's previous end in this rollout, or else before the rollout
            # (step 0 here, plus what was carried in).
            by_env = np.lexsort((end_steps, end_envs))
            steps_by_env, envs_by_env = end_steps[by_env], end_envs[by_env]
            follows = np.zeros(by_env.size, dtype=bool)
            follows[1:] = envs_by_env[1:] == envs_by_env[:-1]
            began_by_env = np.where(follows, np.concatenate([[0], steps_by_env[:-1] + 1]), 0)
            began, carried = np.empty_like(end_steps), np.empty_like(follows)
            began[by_env], carried[by_env] = began_by_env, ~follows
            episode_returns = running[end_steps + 1, end_envs] - running[began, end_envs]
            episode_returns += np.where(carried, self.carried_return[end_envs], 0.0)
            episode_lengths = end_steps + 1 - began + np.where(carried, self.carried_length[end_envs], 0)
            returns.extend(episode_returns.tolist())
            lengths.extend(episode_lengths.tolist())
            np.maximum.at(last_end, end_envs, end_steps)
        ended, open_began = last_end >= 0, last_end + 1
        open_return = running[steps] - running[open_began, np.arange(n)]
        self.carried_return = np.where(ended, 0.0, self.carried_return) + open_return
        self.carried_length = np.where(ended, 0, self.carried_length) + steps - open_began


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


@dataclass
class _RolloutBuffers:
    """One rollout's storage while it is collected: host arrays `[T, N, ...]` filled in place, and the
    per-step tensors (state, action, log-prob, value) in lists stacked once at the end."""

    obs: np.ndarray  # [T, N, O]
    next_obs: np.ndarray | None  # [T, N, O], curiosity only
    rewards: np.ndarray  # [T, N] float32
    terminated: np.ndarray  # [T, N] bool
    truncated: np.ndarray  # [T, N] bool
    dones: np.ndarray  # [T, N] bool
    episode_start: np.ndarray  # [T, N] bool; row 0 carried in, the rest derived from dones at the end
    bootstrap: np.ndarray  # [T, N] float32, nonzero only where an episode was truncated
    states: list[torch.Tensor] = field(default_factory=list)  # T x [N, state_size]
    actions: list[torch.Tensor] = field(default_factory=list)  # T x [N, action_dim]
    logps: list[torch.Tensor] = field(default_factory=list)  # T x [N]
    values: list[torch.Tensor] = field(default_factory=list)  # T x [N]
    episode_successes: list[float] = field(default_factory=list)

    @classmethod
    def allocate(
        cls, steps: int, n: int, obs_dim: int, keep_next_obs: bool, episode_start: np.ndarray
    ) -> _RolloutBuffers:
        obs = np.empty((steps, n, obs_dim), dtype=np.float32)
        starts = np.empty((steps, n), dtype=bool)
        starts[0] = episode_start
        return cls(
            obs=obs,
            next_obs=np.empty_like(obs) if keep_next_obs else None,
            rewards=np.empty((steps, n), dtype=np.float32),
            terminated=np.empty((steps, n), dtype=bool),
            truncated=np.empty((steps, n), dtype=bool),
            dones=np.empty((steps, n), dtype=bool),
            episode_start=starts,
            bootstrap=np.zeros((steps, n), dtype=np.float32),
        )


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
        update_filter: bool = True,
        resumed: bool = False,
        split_phase: bool = False,
        shared_filter: MeanStdFilter | None = None,
    ):
        self.env, self.policy, self.head, self.device = env, policy, head, device
        self.num_envs = env.num_envs
        self.on_cpu = device.type == "cpu"
        # whether the network reads the previous action/reward (plain attributes: read on every episode end)
        self.feeds_prev_action = policy.actor.use_prev_action
        self.feeds_prev_reward = policy.actor.use_prev_reward
        self.obs_space = env.single_observation_space
        self.keep_next_obs = keep_next_obs
        # An env that starts a step and answers later (WorkerVectorEnv under OverlapCollector): _collect pauses
        # between the two, so another half's policy step can run meanwhile.
        self.split_phase = split_phase
        # observation_filter=mean_std: statistics updated while collecting (training) or frozen (evaluation)
        self.obs_filter = shared_filter or MeanStdFilter.from_policy(policy)
        self.update_filter = update_filter
        # use_sde: exploration noise correlated in time (sde.py); evaluation samples without it
        self.sde = (
            SdeNoise(policy.sde_log_std, self.num_envs, policy.config.sde_sample_freq)
            if policy.sde_log_std is not None
            else None
        )
        raw_obs, _ = env.reset()
        # A resumed run's filter already folded in the first observations of the episodes that followed
        # its checkpoint (autoreset); these replace them, so they are not counted twice.
        flat = self.flat_obs(raw_obs, update=update_filter and not resumed)
        self.stacker = FrameStacker(self.num_envs, flat.shape[1], frame_stack)
        self.obs = self.stacker.push(flat, np.ones(self.num_envs, dtype=bool))
        self.obs_dim = self.obs.shape[1]
        self.state = policy.initial_state(self.num_envs, device)
        self.prev_action = torch.zeros(self.num_envs, head.prev_action_dim, device=device)
        self.prev_reward = torch.zeros(self.num_envs, device=device)
        self.episode_start = np.ones(self.num_envs, dtype=bool)
        self.episode_totals = EpisodeTotals(self.num_envs)
        # Seconds spent in the policy's forward + sampling and in env.step, summed over collect() calls
        # (the speed benchmark's breakdown; the trainer logs the per-iteration difference).
        self.time_policy = 0.0
        self.time_env = 0.0

    def flat_obs(self, raw_obs, update: bool | None = None) -> np.ndarray:
        """A vector env's observations -> the policy's [N, frame] input (flattened, normalised if on; the
        filter's statistics updated when `update`, by default when this collector updates them)."""
        flat = flatten_batch(self.obs_space, raw_obs, self.num_envs)
        if self.obs_filter is None:
            return flat
        return self.obs_filter(flat, update=self.update_filter if update is None else update)

    def _final_obs(self, final) -> np.ndarray:
        flat = flatten_single(self.obs_space, final)
        return flat if self.obs_filter is None else self.obs_filter(flat[None], update=False)[0]

    def collect(self, steps: int) -> Rollout:
        """Step the envs `steps` times (see _collect)."""
        steps_left = self._collect(steps)
        try:
            next(steps_left)  # a whole-batch env steps in place: the generator never pauses
        except StopIteration as done:
            return done.value
        raise AssertionError("a split-phase env needs OverlapCollector")

    def _collect(self, steps: int) -> Generator[None, None, Rollout]:
        """Step the envs `steps` times. Per step only what the next step needs is computed; the
        buffers are host arrays and lists filled in place and turned into `[T, N, ...]` tensors once at
        the end (writing torch tensors row by row cost more than the policy forward itself). Previous
        actions/rewards are chained per step only when the network reads them; their stored buffers
        are derived from the actions and rewards at the end, by the same rule.

        The phases: allocate the buffers (_RolloutBuffers), the step loop, the steps where an episode
        ended (_end_episodes, called only on those), and the whole-rollout tensors (_finish). The step
        loop stays in this function because it is the hot path and because a split-phase env pauses it
        (`yield`) between sending the actions and receiving the step: a nested generator per step would
        add its cost to every step."""
        policy, head, dev, env, on_cpu = self.policy, self.head, self.device, self.env, self.on_cpu
        split = cast(WorkerVectorEnv, env) if self.split_phase else None
        feeds_prev_action, feeds_prev_reward = self.feeds_prev_action, self.feeds_prev_reward
        buf = _RolloutBuffers.allocate(steps, self.num_envs, self.obs_dim, self.keep_next_obs, self.episode_start)
        start_prev_action, start_prev_reward = self.prev_action, self.prev_reward
        log_std = policy.log_std
        step = RolloutStep(policy)  # policy.step in fewer calls, with the weights as they are now
        sde = self.sde
        if sde is not None:
            sde.start_rollout()
        state, obs = self.state, self.obs
        # One inference-mode block for the whole loop (entering it per step costs more than an env step);
        # the tensors made in it are stacked into ordinary tensors after it. The loop body is the hot path
        # of the rollout: what does not have to happen per step (episode starts, totals) happens after it.
        with torch.inference_mode():
            for t in range(steps):
                buf.obs[t] = obs
                buf.states.append(state)
                began = time.perf_counter()
                obs_t = torch.from_numpy(obs) if on_cpu else torch.as_tensor(obs, device=dev)
                dist_inputs, value, state_out = step(obs_t, self.prev_action, self.prev_reward, state)
                if sde is None:
                    action, logp = head.sample(dist_inputs, log_std)
                else:
                    action, logp = sde.sample(t, dist_inputs, cast(torch.Tensor, step.last_features))  # use_sde: set
                action_np = action.numpy() if on_cpu else action.cpu().numpy()
                stepped = time.perf_counter()
                if split is not None:  # the other half's policy step runs while these envs step
                    split.send_step(head.to_env(action_np))
                    # Pause outside inference mode: the other half's generator enters and leaves its own, and
                    # grad mode is per thread, so each resumes into the mode it paused in.
                    with torch.inference_mode(False):
                        yield
                    stepped = time.perf_counter()
                    raw_obs, reward, term, trunc, infos = split.receive_step()
                else:
                    raw_obs, reward, term, trunc, infos = env.step(head.to_env(action_np))
                self.time_env += time.perf_counter() - stepped
                self.time_policy += stepped - began
                buf.actions.append(action)
                buf.logps.append(logp)
                buf.values.append(value)
                buf.rewards[t] = reward
                buf.terminated[t] = term
                buf.truncated[t] = trunc
                done = np.logical_or(term, trunc, out=buf.dones[t])
                any_done = np.count_nonzero(done) > 0
                finals = self._final_observations(infos, done, trunc, buf.next_obs is not None) if any_done else {}
                obs = self.stacker.push(self.flat_obs(raw_obs), done)
                if buf.next_obs is not None:
                    buf.next_obs[t] = obs
                    for env_i, final in finals.items():
                        buf.next_obs[t, env_i] = final
                if not any_done:  # the common step: nothing to bootstrap or reset
                    if feeds_prev_action:
                        self.prev_action = head.encode_prev(action)
                    if feeds_prev_reward:
                        self.prev_reward = torch.as_tensor(buf.rewards[t], device=dev)
                    state = state_out
                    continue
                state = self._end_episodes(t, buf, step, action, state_out, infos, finals)

        self.state, self.obs = state, obs
        return self._finish(buf, step, start_prev_action, start_prev_reward)

    def _final_observations(
        self, infos: dict, done: np.ndarray, trunc: np.ndarray, keep_next_obs: bool
    ) -> dict[int, np.ndarray]:
        """Final observations (SAME_STEP autoreset) of the envs whose episode ended this step, stacked before
        push() forgets the old frames; only where they are read: a truncated episode's bootstrap value, and
        curiosity's next observations."""
        if not keep_next_obs and np.count_nonzero(trunc) == 0:
            return {}
        return {
            i: self.stacker.peek(i, self._final_obs(final))
            for i, final in final_observations(infos, done)
            if keep_next_obs or trunc[i]
        }

    def _end_episodes(
        self,
        t: int,
        buf: _RolloutBuffers,
        step: RolloutStep,
        action: torch.Tensor,
        state_out: torch.Tensor,
        infos: dict,
        finals: dict[int, np.ndarray],
    ) -> torch.Tensor:
        """Step t, where at least one env's episode ended: the truncated ones' bootstrap values, the
        successes, and the state and previous action/reward reset to zero for the ended envs. Returns the
        state the next step starts from `[N, state_size]`."""
        head, dev, on_cpu = self.head, self.device, self.on_cpu
        feeds_prev_action, feeds_prev_reward = self.feeds_prev_action, self.feeds_prev_reward
        done, terminated, truncated = buf.dones[t], buf.terminated[t], buf.truncated[t]
        any_trunc = np.count_nonzero(truncated) > 0
        # Terminated wins over truncated (both can be set on one step): no future value to bootstrap.
        truncated_only = truncated & ~terminated if any_trunc else np.zeros_like(terminated)
        any_truncated = any_trunc and np.count_nonzero(truncated_only) > 0
        if feeds_prev_action or any_truncated:
            prev_action = head.encode_prev(action)
        if feeds_prev_reward or any_truncated:
            reward_t = torch.as_tensor(buf.rewards[t], device=dev)
        if any_truncated:
            values_t = self._truncation_values(step, finals, truncated_only, state_out, prev_action, reward_t)
            buf.bootstrap[t] = values_t.cpu().numpy()
        buf.episode_successes += [flag for _, flag in ended_successes(infos, done)]
        keep_np = (~done).astype(np.float32)
        keep = torch.from_numpy(keep_np) if on_cpu else torch.as_tensor(keep_np, device=dev)
        keep_rows = keep.unsqueeze(1)
        if feeds_prev_action:
            self.prev_action = prev_action * keep_rows
        if feeds_prev_reward:
            self.prev_reward = reward_t * keep
        return state_out * keep_rows

    def _finish(
        self, buf: _RolloutBuffers, step: RolloutStep, start_prev_action: torch.Tensor, start_prev_reward: torch.Tensor
    ) -> Rollout:
        """The filled buffers -> the rollout's `[T, N, ...]` tensors: episode starts and totals, the stored
        previous actions/rewards, and the bootstrap value where the rollout cuts an episode."""
        dev, on_cpu = self.device, self.on_cpu
        dones = buf.dones
        self.episode_start = dones[-1].copy()
        buf.episode_start[1:] = dones[:-1]
        episode_returns: list[float] = []
        episode_lengths: list[int] = []
        self.episode_totals.add_rollout(buf.rewards, dones, episode_returns, episode_lengths)

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array) if on_cpu else torch.as_tensor(array, device=dev)

        starts = tensor(buf.episode_start)
        dones_t = tensor(dones)
        rewards_t = tensor(buf.rewards)
        actions_t = torch.stack(buf.actions)
        # prev action/reward inputs: step t-1's action/reward (the carried ones at t = 0), zero at an episode start
        encoded = self.head.encode_prev(actions_t)
        prev_actions = torch.cat([start_prev_action.unsqueeze(0), encoded[:-1]]) * (~starts).unsqueeze(-1)
        prev_rewards = torch.cat([start_prev_reward.unsqueeze(0), rewards_t[:-1]]) * ~starts
        self.prev_action = encoded[-1] * (~dones_t[-1]).unsqueeze(-1)
        self.prev_reward = rewards_t[-1] * ~dones_t[-1]

        # A rollout cut mid-episode bootstraps from V(next obs) with the carried state.
        obs_t = torch.from_numpy(self.obs) if on_cpu else torch.as_tensor(self.obs, device=dev)
        with torch.inference_mode():
            _, last_value, _ = step(obs_t, self.prev_action, self.prev_reward, self.state)
        if self.obs_filter is not None and self.update_filter:
            self.obs_filter.write_to(self.policy)
        bootstrap_t = tensor(buf.bootstrap)
        bootstrap_t[-1] = torch.where(dones_t[-1], bootstrap_t[-1], last_value)
        return Rollout(
            obs=tensor(buf.obs),
            prev_actions=prev_actions,
            prev_rewards=prev_rewards,
            states=torch.stack(buf.states),
            actions=actions_t,
            logp=torch.stack(buf.logps),
            values=torch.stack(buf.values),
            rewards=rewards_t,
            terminated=tensor(buf.terminated),
            truncated=tensor(buf.truncated),
            episode_start=starts,
            bootstrap=bootstrap_t,
            next_obs=tensor(buf.next_obs) if buf.next_obs is not None else None,
            final_state=self.state.clone(),
            episode_returns=episode_returns,
            episode_lengths=episode_lengths,
            episode_successes=buf.episode_successes,
        )

    def _truncation_values(
        self,
        step: RolloutStep,
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
            _, final_values, _ = step(final_obs, prev_action[index], reward_t[index], state_out[index])
        values[index] = final_values
        return values


class OverlapCollector:
    """vector_mode=overlap: the N envs in two halves, each with its own Collector and env worker processes.
    Each step, one half's policy step runs in this process while the other half's envs step in theirs, so
    env stepping and the policy's forward overlap; each env's steps are those of a Collector over all N,
    except that actions are sampled per half (a different draw from the same random stream) and the
    observation filter takes in each half's observations in turn. The rollouts are laid side by side: env
    i of the second half is env N/2 + i, and episodes are counted over all N, as one Collector would."""

    def __init__(self, envs: Sequence[VectorEnv], policy: RecurrentPolicy, head: ActionHead, **options):
        first = Collector(envs[0], policy, head, **options, split_phase=True)
        # one observation filter for both halves: its statistics take in every env's observations
        rest = [
            Collector(env, policy, head, **options, split_phase=True, shared_filter=first.obs_filter)
            for env in envs[1:]
        ]
        self.halves = [first, *rest]
        self.episode_totals = EpisodeTotals(sum(half.num_envs for half in self.halves))

    @property
    def time_env(self) -> float:
        return sum(half.time_env for half in self.halves)

    @property
    def time_policy(self) -> float:
        return sum(half.time_policy for half in self.halves)

    def collect(self, steps: int) -> Rollout:
        running = [half._collect(steps) for half in self.halves]
        rollouts: list[Rollout | None] = [None] * len(running)
        while any(rollout is None for rollout in rollouts):
            for i, steps_left in enumerate(running):
                if rollouts[i] is None:
                    try:
                        next(steps_left)  # collect and send this half's next step; its envs step meanwhile
                    except StopIteration as done:
                        rollouts[i] = done.value
        return self._side_by_side([r for r in rollouts if r is not None])

    def _side_by_side(self, parts: list[Rollout]) -> Rollout:
        def joined(name: str, dim: int = 1) -> torch.Tensor:
            return torch.cat([getattr(part, name) for part in parts], dim=dim)

        rewards, terminated, truncated = joined("rewards"), joined("terminated"), joined("truncated")
        returns: list[float] = []
        lengths: list[int] = []
        dones = (terminated | truncated).cpu().numpy()
        self.episode_totals.add_rollout(rewards.cpu().numpy(), dones, returns, lengths)
        next_obs = joined("next_obs") if parts[0].next_obs is not None else None
        return Rollout(
            obs=joined("obs"),
            prev_actions=joined("prev_actions"),
            prev_rewards=joined("prev_rewards"),
            states=joined("states"),
            actions=joined("actions"),
            logp=joined("logp"),
            values=joined("values"),
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            episode_start=joined("episode_start"),
            bootstrap=joined("bootstrap"),
            next_obs=next_obs,
            final_state=joined("final_state", dim=0),
            episode_returns=returns,
            episode_lengths=lengths,
            episode_successes=[flag for part in parts for flag in part.episode_successes],
        )


def collector_for(
    envs: Sequence[VectorEnv], policy: RecurrentPolicy, head: ActionHead, **options
) -> Collector | OverlapCollector:
    """The collector for make_env_halves' envs: a Collector over one vector env, an OverlapCollector over two
    halves. `options`: Collector's keyword arguments (frame_stack, device, keep_next_obs, ...)."""
    return (
        Collector(envs[0], policy, head, **options)
        if len(envs) == 1
        else OverlapCollector(envs, policy, head, **options)
    )
