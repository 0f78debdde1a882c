"""Training one run: rollout -> GAE -> chunk into sequences -> PPO epochs over shuffled whole sequences.

`train(config)` is the one entry point; it needs nothing outside `rnnppo.core`. With `out_dir` it
writes the run folder: config.json, metrics.csv (one row per iteration), summary.json, model.pt.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnppo.core import runio
from rnnppo.core.config import LSTM_SAW_KEYS, ConfigError, TrainConfig
from rnnppo.core.envs import describe_spaces, ended_successes, make_vector_env
from rnnppo.core.model import RecurrentPolicy, RolloutStep
from rnnppo.core.optim import Adam, GradClip
from rnnppo.core.ppo import gae, normalize_advantages, ppo_loss
from rnnppo.core.rollout import Collector, Rollout
from rnnppo.core.sequences import Sequences, chunk, plan_minibatches, sequence_stats
from rnnppo.core.spaces import ActionHead, flat_obs_size
from rnnppo.errors import TrainingError

IterationCallback = Callable[[dict[str, Any]], None]


@dataclass
class RunResult:
    config: TrainConfig
    metrics: list[dict[str, Any]]
    summary: dict[str, Any]
    policy: RecurrentPolicy
    out_dir: Path | None


def resolve_device(name: str) -> torch.device:
    """The torch device for `device=NAME`. On a GPU, cuDNN's RNN kernels are kept to full float32
    (no TF32): with TF32 the cuDNN training forward drifts ~1e-4 from the rollout's one-step cell, so
    PPO's first-epoch ratio would not be 1 (the GPU tests pin 2e-5)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name} is invalid: no CUDA GPU is available here; use device=cpu or auto")
    device = torch.device(name)
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_policy(config: TrainConfig, obs_space, action_space) -> tuple[RecurrentPolicy, ActionHead, int]:
    head = ActionHead.for_space(action_space)
    obs_dim = flat_obs_size(obs_space) * config.frame_stack
    return RecurrentPolicy(obs_dim, head, config), head, obs_dim


# --- the update ------------------------------------------------------------------------------------


@dataclass
class TrainBatch:
    """One iteration's training data, padded to `[S, L, ...]` once."""

    seqs: Sequences
    obs: torch.Tensor
    prev_actions: torch.Tensor
    prev_rewards: torch.Tensor
    actions: torch.Tensor
    old_logp: torch.Tensor
    advantages: torch.Tensor
    value_targets: torch.Tensor
    state_in: torch.Tensor  # [S, state_size] stored at each sequence's first step
    continues: torch.Tensor  # [S] bool: sequence s picks up where sequence s-1 was cut by max_seq_len


def make_batch(rollout: Rollout, advantages: torch.Tensor, targets: torch.Tensor, max_seq_len: int) -> TrainBatch:
    steps, envs = rollout.rewards.shape
    seqs = chunk(rollout.episode_start.cpu(), max_seq_len)
    device = rollout.obs.device
    if device.type != "cpu":
        seqs = Sequences(*(t.to(device) for t in (seqs.seq_lens, seqs.index, seqs.mask, seqs.env, seqs.start_t)))
    rows = steps * envs

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(rows, *x.shape[2:])

    starts = rollout.episode_start[seqs.start_t, seqs.env]
    continues = (seqs.start_t > 0) & ~starts
    return TrainBatch(
        seqs=seqs,
        obs=seqs.pad(flat(rollout.obs)),
        prev_actions=seqs.pad(flat(rollout.prev_actions)),
        prev_rewards=seqs.pad(flat(rollout.prev_rewards)),
        actions=seqs.pad(flat(rollout.actions)),
        old_logp=seqs.pad(flat(rollout.logp)),
        advantages=seqs.pad(flat(advantages)),
        value_targets=seqs.pad(flat(targets)),
        state_in=flat(rollout.states)[seqs.start_rows],
        continues=continues,
    )


@torch.no_grad()
def refresh_state_in(policy: RecurrentPolicy, batch: TrainBatch) -> torch.Tensor:
    """Recompute every continued sequence's start state with the current network (state_in=refresh).

    A piece's first sequence keeps its stored state (zeros at an episode start, or the state carried
    from the previous rollout); sequence k of a piece starts from running sequence k-1 forward from
    its own refreshed start. Sequences are processed in waves by their index within the piece.
    """
    state_in = batch.state_in.clone()
    cont = batch.continues.long()
    # index within its piece: length of the run of continuations ending at s
    run_id = torch.cumsum(1 - cont, 0) - 1  # 0-based: one id per run, so ids stay < len(cont)
    positions = torch.arange(len(cont), device=cont.device)
    first_of_run = torch.zeros_like(run_id)
    first_of_run.scatter_reduce_(0, run_id, positions, reduce="amin", include_self=False)
    wave = positions - first_of_run[run_id]
    for k in range(1, int(wave.max()) + 1 if len(wave) else 1):
        current = (wave == k).nonzero().squeeze(1)
        previous = current - 1
        _, _, state_out = policy(
            batch.obs[previous], batch.prev_actions[previous], batch.prev_rewards[previous], state_in[previous]
        )
        state_in[current] = state_out
    return state_in


def update(
    policy: RecurrentPolicy,
    optimizer: Adam,
    batch: TrainBatch,
    config: TrainConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    head = policy.action_head
    stat_names = {
        "policy_loss": "policy",
        "value_loss": "value",
        "entropy": "entropy",
        "approx_kl": "approx_kl",
        "clip_frac": "clip_frac",
    }
    rows: list[torch.Tensor] = []  # one [5] row of loss terms per minibatch, read once at the end
    clip = GradClip(policy.parameters(), config.grad_clip) if config.grad_clip is not None else None
    # Without an entropy bonus the entropy is only reported: no backward through it (its gradient would be x0).
    entropy_has_gradient = config.entropy_coeff != 0.0
    seq_lens = batch.seqs.seq_lens.cpu()
    stopped_early = False
    epochs_done = 0
    for _ in range(config.num_epochs):
        state_in = refresh_state_in(policy, batch) if config.state_in == "refresh" else batch.state_in
        plan = plan_minibatches(seq_lens, config.minibatch_size, generator)
        # Every per-sequence tensor gathered once per epoch in the shuffled order; each minibatch is then a
        # view `[first:stop, :length]` of it (the same values as indexing by its members, fewer ops).
        order = plan.order.to(batch.obs.device)
        shuffled = [
            x[order]
            for x in (
                batch.obs,
                batch.prev_actions,
                batch.prev_rewards,
                batch.actions,
                batch.old_logp,
                batch.advantages,
                batch.value_targets,
                batch.seqs.mask,
            )
        ]
        shuffled_state_in = state_in[order]
        for first, stop, length in plan.bounds:
            obs, prev_actions, prev_rewards, actions, old_logp, advantages, value_targets, mask = (
                x[first:stop, :length] for x in shuffled
            )  # each [M, length, ...]
            dist_inputs, values = policy.train_outputs(obs, prev_actions, prev_rewards, shuffled_state_in[first:stop])
            new_logp = head.log_prob(dist_inputs, policy.log_std, actions)
            with torch.set_grad_enabled(entropy_has_gradient):
                entropy = head.entropy(dist_inputs, policy.log_std)
            terms = ppo_loss(
                new_logp,
                old_logp,
                advantages,
                values,
                value_targets,
                entropy,
                mask,
                config.clip_param,
                config.vf_clip_param,
                config.vf_loss_coeff,
                config.entropy_coeff,
            )
            if not torch.isfinite(terms.total):
                raise TrainingError("the PPO loss became NaN/inf (try a lower lr, or grad_clip)")
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            if clip is not None:
                clip()
            optimizer.step()
            rows.append(torch.stack([getattr(terms, attr).detach() for attr in stat_names.values()]))
            if config.kl_target is not None and float(terms.approx_kl) > 1.5 * config.kl_target:
                stopped_early = True
                break
        epochs_done += 1
        if stopped_early:
            break
    means = torch.stack(rows).double().mean(0).tolist() if rows else [math.nan] * len(stat_names)
    out = dict(zip(stat_names, means, strict=True))
    out["epochs_done"] = float(epochs_done)
    out["kl_early_stop"] = float(stopped_early)
    return out


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    var = float(target.var())
    return math.nan if var == 0 else 1.0 - float((target - predicted).var()) / var


# --- evaluation ------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(
    policy: RecurrentPolicy,
    config: TrainConfig,
    episodes: int,
    seed: int,
    deterministic: bool = True,
    max_steps: int = 100_000,
) -> dict[str, Any]:
    """Play `episodes` episodes (each env's first one, so short episodes are not favoured) with the
    state chained step to step and reset at each env's episode start. Returns returns and stats."""
    returns: list[float] = []
    successes: list[float] = []
    device = next(policy.parameters()).device
    rounds = 0
    while len(returns) < episodes:
        n = min(episodes - len(returns), 64)
        env = make_vector_env(config, n, seed + 7919 * rounds)
        try:
            collector = Collector(env, policy, policy.action_head, config.frame_stack, device, update_filter=False)
            step = RolloutStep(policy)
            total = np.zeros(n)
            finished = np.zeros(n, dtype=bool)
            for _ in range(max_steps):
                obs_t = torch.as_tensor(collector.obs, device=device)
                dist_inputs, _, state_out = step(obs_t, collector.prev_action, collector.prev_reward, collector.state)
                action, _ = policy.action_head.sample(dist_inputs, policy.log_std, deterministic=deterministic)
                raw_obs, reward, terminated, truncated, infos = env.step(
                    policy.action_head.to_env(action.cpu().numpy())
                )
                done = np.logical_or(terminated, truncated)
                counted = np.where(finished, 0.0, reward)  # an env's episodes after its first do not count
                if not np.isfinite(counted).all():
                    raise TrainingError(
                        "the environment returned a NaN or infinite reward during evaluation; "
                        "check its step() (rewards must be finite numbers)"
                    )
                total += counted
                success = dict(ended_successes(infos, done))
                for i in np.flatnonzero(done & ~finished):
                    returns.append(float(total[i]))
                    if i in success:
                        successes.append(success[i])
                finished |= done
                if finished.all():
                    break
                collector.obs = collector.stacker.push(collector.flat_obs(raw_obs), done)
                keep = torch.as_tensor(~done, device=device).float().unsqueeze(1)
                collector.state = state_out * keep
                collector.prev_action = policy.action_head.encode_prev(action) * keep
                collector.prev_reward = (
                    torch.as_tensor(np.asarray(reward, dtype=np.float32), device=device) * keep[:, 0]
                )
            else:
                for i in np.flatnonzero(~finished):
                    returns.append(float(total[i]))
        finally:
            env.close()
        rounds += 1
    arr = np.asarray(returns[:episodes])
    return {
        "eval_returns": arr.tolist(),
        "eval_return_mean": float(arr.mean()) if arr.size else math.nan,
        "eval_return_std": float(arr.std()) if arr.size else math.nan,
        "eval_success_mean": float(np.mean(successes)) if successes else None,
        "eval_deterministic": deterministic,
    }


# --- the loop --------------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    out_dir: Path | None = None,
    on_iteration: IterationCallback | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> RunResult:
    """Train one run. `on_iteration(metrics)` is called after every iteration (it may raise to stop)."""
    device = resolve_device(config.device)
    torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    obs_space, action_space = describe_spaces(config)
    policy, head, obs_dim = build_policy(config, obs_space, action_space)
    policy.to(device)
    optimizer = Adam(policy.parameters(), lr=config.lr, eps=1e-5)
    icm = None
    if config.curiosity:
        from rnnppo.core.curiosity import Curiosity

        icm = Curiosity(obs_dim, head, config).to(device)

    env = make_vector_env(config, config.num_envs, config.seed)
    collector = Collector(env, policy, head, config.frame_stack, device, keep_next_obs=icm is not None)
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_iter = config.num_envs * config.rollout_len
    num_iterations = max(1, math.ceil(config.total_steps / steps_per_iter))

    meta = {"config": config.to_dict(), "seed": config.seed, **runio.provenance(str(device)), **(extra_meta or {})}
    if out_dir is not None:
        out_dir = Path(out_dir)
        runio.write_json(out_dir / "config.json", meta)

    metrics: list[dict[str, Any]] = []
    recent_returns: deque[float] = deque(maxlen=100)
    env_steps = 0
    start = time.perf_counter()
    try:
        for iteration in range(1, num_iterations + 1):
            if config.anneal_lr:
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * (1.0 - (iteration - 1) / num_iterations)
            t0 = time.perf_counter()
            env_before, policy_before = collector.time_env, collector.time_policy
            rollout = collector.collect(config.rollout_len)
            t1 = time.perf_counter()
            if not bool(torch.isfinite(rollout.rewards).all()):
                raise TrainingError(
                    f"the environment returned a NaN or infinite reward in iteration {iteration}; "
                    "check its step() (rewards must be finite numbers)"
                )
            rewards = rollout.rewards
            icm_stats: dict[str, float] = {}
            if icm is not None:
                intrinsic, icm_stats = icm.intrinsic_rewards_and_update(rollout)
                rewards = rewards + intrinsic
            advantages, targets = gae(
                rewards, rollout.values, rollout.dones, rollout.bootstrap, config.gamma, config.lambda_
            )
            batch = make_batch(rollout, normalize_advantages(advantages), targets, config.max_seq_len)
            seq_stats = sequence_stats(batch.seqs, rollout.dones.cpu(), config.max_seq_len)
            t2 = time.perf_counter()
            update_stats = update(policy, optimizer, batch, config, generator)
            t3 = time.perf_counter()
            env_steps += rollout.num_steps
            recent_returns.extend(rollout.episode_returns)
            row: dict[str, Any] = {
                "iteration": iteration,
                "env_steps": env_steps,
                "wall_time": t3 - start,
                "steps_per_s": rollout.num_steps / (t3 - t0),
                "episodes": len(rollout.episode_returns),
                "episode_return_mean": _mean(rollout.episode_returns),
                "episode_len_mean": _mean(rollout.episode_lengths),
                "return_mean_100": _mean(recent_returns),
                "success_mean": _mean(rollout.episode_successes),
                **update_stats,
                "explained_var": explained_variance(rollout.values.flatten(), targets.flatten()),
                "lr": optimizer.param_groups[0]["lr"],
                **seq_stats,
                **icm_stats,
                "time_rollout": t1 - t0,
                "time_rollout_env": collector.time_env - env_before,
                "time_rollout_policy": collector.time_policy - policy_before,
                "time_chunking": t2 - t1,
                "time_update": t3 - t2,
            }
            metrics.append(row)
            if out_dir is not None:
                runio.write_csv(out_dir / "metrics.csv", metrics)
            if on_iteration is not None:
                on_iteration(row)
    finally:
        env.close()

    train_time = time.perf_counter() - start
    evaluation = (
        evaluate(policy, config, config.eval_episodes, config.seed + 1_000_003, config.eval_deterministic)
        if config.eval_episodes > 0
        else {}
    )
    summary = _summarise(config, metrics, evaluation, train_time, env_steps)
    if out_dir is not None:
        runio.save_checkpoint(out_dir / "model.pt", policy, config.to_dict(), obs_dim)
        runio.write_json(out_dir / "summary.json", summary)
    return RunResult(config, metrics, summary, policy, out_dir)


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else math.nan


def _summarise(
    config: TrainConfig, metrics: list[dict[str, Any]], evaluation: dict[str, Any], train_time: float, env_steps: int
) -> dict[str, Any]:
    curve = [(m["env_steps"], m["return_mean_100"]) for m in metrics if not math.isnan(m["return_mean_100"])]
    auc = math.nan
    if len(curve) == 1:
        auc = curve[0][1]
    elif len(curve) > 1:
        xs, ys = zip(*curve, strict=True)
        auc = float(np.trapezoid(ys, xs) / (xs[-1] - xs[0]))
    last = metrics[-1] if metrics else {}
    final_train_return = last.get("return_mean_100", math.nan)
    return {
        "env": config.env,
        "seed": config.seed,
        "env_steps": env_steps,
        "iterations": len(metrics),
        "train_time_s": train_time,
        "steps_per_s": env_steps / train_time if train_time > 0 else math.nan,
        "final_train_return": final_train_return,
        "auc": auc,
        **evaluation,
        "final_return": evaluation.get("eval_return_mean", final_train_return),
        "lstm_saw": {key: _mean(m[key] for m in metrics) for key in LSTM_SAW_KEYS},
    }
