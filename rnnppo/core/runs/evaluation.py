"""A trained policy played back: greedy (or sampled) evaluation episodes, and loading a run folder's config
and policy."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnppo.core.config import ConfigError, TrainConfig
from rnnppo.core.envs.make import describe_spaces, ended_successes, make_vector_env
from rnnppo.core.model import RecurrentPolicy, RolloutStep, build_policy
from rnnppo.core.rollout import Collector
from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.files import RunFileError
from rnnppo.errors import TrainingError


def load_run_policy(run_dir: Path) -> tuple[TrainConfig, RecurrentPolicy]:
    """(config, policy with trained weights) from RUN_DIR/model.pt; every failure names the file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFileError(f"{run_dir} is not a run folder (it does not exist or is not a folder)")
    checkpoint_path = run_dir / "model.pt"
    payload = run_files.load_checkpoint(checkpoint_path)
    try:
        config = TrainConfig.from_dict(payload["config"])
    except (ConfigError, TypeError) as err:
        raise RunFileError(f"{checkpoint_path} holds a config rnnppo cannot use: {err}") from None
    config = config.replace(device="cpu")
    obs_space, action_space = describe_spaces(config)
    policy, _, obs_dim = build_policy(config, obs_space, action_space)
    if obs_dim != payload.get("obs_dim"):
        raise RunFileError(
            f"{checkpoint_path} was trained on observations of size {payload.get('obs_dim')}, "
            f"but {config.env} now gives {obs_dim}"
        )
    try:
        policy.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise RunFileError(f"{checkpoint_path} does not match the model its config describes: {first}") from None
    policy.eval()
    return config, policy


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
                        successes.append(success[int(i)])
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
