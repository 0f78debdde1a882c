"""Training one run: rollout -> GAE -> chunk into sequences -> PPO epochs over shuffled whole sequences.

`train(config)` is the one entry point; it needs nothing outside `rnnppo.core`. With `out_dir` it
writes the run folder: config.json, metrics.csv (one row per iteration), summary.json, model.pt.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from rnnppo.core.analysis.memory import measure_run
from rnnppo.core.config import ConfigError, TrainConfig
from rnnppo.core.envs.make import describe_spaces, make_env_halves
from rnnppo.core.footprint import check_fits
from rnnppo.core.model import RecurrentPolicy, build_policy
from rnnppo.core.optim import Adam, GradClip
from rnnppo.core.ppo import gae, normalize_advantages, ppo_loss
from rnnppo.core.reward_scaling import RewardScaler
from rnnppo.core.rollout import Rollout, collector_for
from rnnppo.core.runs import checkpoint
from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.evaluation import evaluate
from rnnppo.core.runs.loggers import Resumed, RunLogger
from rnnppo.core.runs.tally import RunTally
from rnnppo.core.sequences import Sequences, chunk, plan_minibatches, sequence_stats
from rnnppo.errors import TrainingError

IterationCallback = Callable[[dict[str, Any]], None]
MEMORY_PAIRS = 1024  # (start, replacement) draws of the end-of-training memory measurement


@dataclass
class RunResult:
    config: TrainConfig
    metrics: list[dict[str, Any]]  # every iteration's row when kept (see train's keep_metrics), else empty
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


# The update's reported loss terms: metrics row name -> LossTerms attribute.
_LOSS_STATS = {
    "policy_loss": "policy",
    "value_loss": "value",
    "entropy": "entropy",
    "approx_kl": "approx_kl",
    "clip_frac": "clip_frac",
}


def _in_order(batch: TrainBatch, order: torch.Tensor) -> list[torch.Tensor]:
    """The batch's per-sequence tensors `[S, L, ...]` gathered in `order`: obs, prev actions, prev rewards,
    actions, old log-probs, advantages, value targets, mask."""
    return [
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


def update(
    policy: RecurrentPolicy,
    optimizer: Adam,
    batch: TrainBatch,
    config: TrainConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """PPO's epochs over shuffled whole sequences (stopped early past 1.5 x kl_target); returns the mean
    of each loss term over the minibatches, the epochs done and whether KL stopped them."""
    head = policy.action_head
    stat_names = _LOSS_STATS
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
        shuffled = _in_order(batch, order)
        shuffled_state_in = state_in[order]
        for first, stop, length in plan.bounds:
            obs, prev_actions, prev_rewards, actions, old_logp, advantages, value_targets, mask = (
                x[first:stop, :length] for x in shuffled
            )  # each [M, length, ...]
            dist_inputs, values = policy.train_outputs(
                obs, prev_actions, prev_rewards, shuffled_state_in[first:stop], valid=mask
            )
            new_logp, entropy = head.log_prob_and_entropy(dist_inputs, policy.log_std, actions, entropy_has_gradient)
            terms = ppo_loss(
                new_logp,
                old_logp,
                advantages,
                values,
                value_targets,
                entropy,
                mask,
                clip_param=config.clip_param,
                vf_clip_param=config.vf_clip_param,
                vf_loss_coeff=config.vf_loss_coeff,
                entropy_coeff=config.entropy_coeff,
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
    if target.numel() < 2:  # one step has no variance to explain (and torch would warn)
        return math.nan
    var = float(target.var())
    return math.nan if var == 0 else 1.0 - float((target - predicted).var()) / var


# --- the loop --------------------------------------------------------------------------------------


@dataclass
class RunStart:
    """Everything a run's loop needs, built (or restored from checkpoint.pt) before its first iteration."""

    policy: RecurrentPolicy
    obs_dim: int
    optimizer: Adam
    icm: Any  # Curiosity or None
    generator: torch.Generator
    num_iterations: int
    meta: dict[str, Any]
    counters: checkpoint.Counters
    saved: dict[str, Any] | None
    kept_rows: list[dict[str, Any]]
    envs: Any
    scaler: RewardScaler | None
    collector: Any
    schedule: checkpoint.Schedule | None
    out_dir: Path | None


def start_run(config: TrainConfig, out_dir: Path | None, extra_meta: dict[str, Any] | None, resume: bool) -> RunStart:
    """Seed, build the policy, optimizer and curiosity module, write config.json (or read back a resumed run's
    checkpoint and kept rows), make the envs and the collector. The order of the random draws is the
    trajectory's: nothing here may move."""
    device = resolve_device(config.device)
    torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    obs_space, action_space = describe_spaces(config)
    check_fits(config, obs_space, action_space)  # before any network or buffer is allocated
    policy, head, obs_dim = build_policy(config, obs_space, action_space)
    policy.to(device)
    optimizer = Adam(policy.parameters(), lr=config.lr, eps=1e-5)
    icm = None
    if config.curiosity:
        from rnnppo.core.curiosity import Curiosity

        icm = Curiosity(obs_dim, head, config).to(device)

    generator = torch.Generator().manual_seed(config.seed)
    steps_per_iter = config.num_envs * config.rollout_len
    num_iterations = max(1, math.ceil(config.total_steps / steps_per_iter))

    meta = {"config": config.to_dict(), "seed": config.seed, **run_files.provenance(str(device)), **(extra_meta or {})}
    counters, saved = checkpoint.Counters(), None
    kept_rows: list[dict[str, Any]] = []
    if out_dir is not None:
        out_dir = Path(out_dir)
        if resume:
            saved, kept_rows = _resume_files(out_dir, meta, extra_meta or {})
        else:
            run_files.write_json(out_dir / "config.json", meta, private=run_files.names_a_server(meta["command"]))
    if saved is not None:
        counters = checkpoint.restore(saved, policy, optimizer, icm)
    if resume and out_dir is not None:
        counters.resumes.append(counters.iteration)

    envs = make_env_halves(config, config.num_envs, checkpoint.env_seed(config.seed, counters.iteration))
    scaler = RewardScaler(policy, config.num_envs, config.gamma) if RewardScaler.enabled(policy) else None
    options: dict[str, Any] = dict(
        frame_stack=config.frame_stack, device=device, keep_next_obs=icm is not None, resumed=saved is not None
    )
    collector = collector_for(envs, policy, head, **options)
    if saved is not None:
        checkpoint.restore_rng(saved["rng"], generator)  # last: nothing before the loop draws from them
    schedule = checkpoint.Schedule(config.checkpoint_every, num_iterations) if out_dir is not None else None
    return RunStart(
        policy,
        obs_dim,
        optimizer,
        icm,
        generator,
        num_iterations,
        meta,
        counters,
        saved,
        kept_rows,
        envs,
        scaler,
        collector,
        schedule,
        out_dir,
    )


def one_iteration(
    run: RunStart, config: TrainConfig, iteration: int, env_steps: int, recent_returns: deque[float], start: float
) -> dict[str, Any]:
    """One iteration, phase by phase (collect -> advantages -> chunk -> update -> record); returns its metrics row
    (`env_steps` in it counts this iteration's steps; `recent_returns` takes its episodes)."""
    if config.anneal_lr:
        for group in run.optimizer.param_groups:
            group["lr"] = config.lr * (1.0 - (iteration - 1) / run.num_iterations)
    t0, cpu0 = time.perf_counter(), time.process_time()
    env_before, policy_before = run.collector.time_env, run.collector.time_policy
    # COLLECT: one rollout of rollout_len steps per env, the recurrent state chained per env
    rollout = run.collector.collect(config.rollout_len)
    t1 = time.perf_counter()
    # ADVANTAGES: training rewards (scaled, plus curiosity's), then GAE
    advantages, targets, reward_stats = advantages_phase(rollout, config, iteration, run.scaler, run.icm)
    # CHUNK: the rollout cut into max_seq_len sequences (RLlib's semantics)
    batch = make_batch(rollout, normalize_advantages(advantages), targets, config.max_seq_len)
    seq_stats = sequence_stats(batch.seqs, rollout.dones.cpu(), config.max_seq_len)
    t2 = time.perf_counter()
    # UPDATE: PPO epochs over shuffled whole sequences
    update_stats = update(run.policy, run.optimizer, batch, config, run.generator)
    t3 = time.perf_counter()
    # RECORD: one metrics row
    env_steps += rollout.num_steps
    recent_returns.extend(rollout.episode_returns)
    timing = {
        "wall_time": t3 - start,
        "steps_per_s": rollout.num_steps / (t3 - t0),
        "cpu_s_per_step": (time.process_time() - cpu0) / rollout.num_steps,
    }
    row = record_row(
        iteration,
        env_steps,
        rollout,
        targets,
        recent_returns,
        timing,
        update_stats,
        {"lr": run.optimizer.param_groups[0]["lr"], **seq_stats, **reward_stats},
        {
            "time_rollout": t1 - t0,
            "time_rollout_env": run.collector.time_env - env_before,
            "time_rollout_policy": run.collector.time_policy - policy_before,
            "time_chunking": t2 - t1,
            "time_update": t3 - t2,
        },
    )
    return row


def train(
    config: TrainConfig,
    out_dir: Path | None = None,
    on_iteration: IterationCallback | None = None,
    extra_meta: dict[str, Any] | None = None,
    keep_metrics: bool | None = None,
    resume: bool = False,
    loggers: Sequence[RunLogger] = (),
) -> RunResult:
    """Train one run. `on_iteration(metrics)` is called after every iteration (it may raise to stop).

    Each iteration costs the same at iteration 10k as at 1: its row is appended to metrics.csv and
    added to a running tally for summary.json. RunResult.metrics keeps every row only with
    `keep_metrics` (default: when there is no run folder, so the rows are not lost).

    With `resume`, `out_dir` holds a run this config started: it goes on from its checkpoint.pt (or from
    the start when it has none yet); `on_iteration` is first called again with the rows it keeps, so a
    callback sees the whole run. `loggers` get each new iteration's row (not the kept ones)."""
    keep_metrics = out_dir is None if keep_metrics is None else keep_metrics
    run = start_run(config, out_dir, extra_meta, resume)
    counters, schedule, out_dir = run.counters, run.schedule, run.out_dir
    tally = RunTally()
    for kept in run.kept_rows:  # a resumed run's rows up to its checkpoint
        tally.add(kept)
        if on_iteration is not None:
            on_iteration(kept)
    metrics: list[dict[str, Any]] = list(run.kept_rows) if keep_metrics else []
    metrics_file = run_files.MetricsFile(out_dir / "metrics.csv") if out_dir is not None else None
    resumed = Resumed(counters.iteration, counters.env_steps) if run.saved is not None else None
    for logger in loggers:
        logger.start(run.meta, resumed_from=resumed)

    recent_returns: deque[float] = deque(counters.recent_returns, maxlen=100)
    env_steps = counters.env_steps
    start = time.perf_counter() - counters.train_time_s
    save_checkpoint = partial(_save_checkpoint, run, metrics_file, start, recent_returns)
    try:
        for iteration in range(counters.iteration + 1, run.num_iterations + 1):
            row = one_iteration(run, config, iteration, env_steps, recent_returns, start)
            env_steps = row["env_steps"]
            tally.add(row)
            if keep_metrics:
                metrics.append(row)
            if metrics_file is not None:
                metrics_file.append(row)
            checkpointed = schedule is not None and schedule.due(iteration)
            if checkpointed:
                save_checkpoint(iteration, env_steps)
            for logger in loggers:
                logger.log(row)
            if on_iteration is not None:
                try:
                    on_iteration(row)
                except KeyboardInterrupt:
                    # A stop asked for between iterations (Ctrl-C, SIGTERM): this iteration is whole, so it is
                    # kept in a checkpoint and --resume goes on with the next one (none runs twice).
                    if schedule is not None and schedule.enabled and not checkpointed:
                        save_checkpoint(iteration, env_steps)
                    raise
    except BaseException:
        for logger in loggers:
            logger.finish(None)
        raise
    finally:
        for env in run.envs:
            env.close()
        if metrics_file is not None:
            metrics_file.close()

    train_time = time.perf_counter() - start
    summary = after_training(
        config, run.policy, run.obs_dim, tally, train_time, env_steps, counters.resumes, out_dir, loggers
    )
    return RunResult(config, metrics, summary, run.policy, out_dir)


def _save_checkpoint(
    run: RunStart,
    metrics_file: run_files.MetricsFile | None,
    start: float,
    recent_returns: deque[float],
    iteration: int,
    env_steps: int,
) -> None:
    """checkpoint.pt after `iteration`: written after its metrics row, synced, so metrics.csv always reaches
    the checkpoint's iteration. `start`: the run's perf_counter origin (a resumed run's time already in it)."""
    metrics_file.sync()  # type: ignore[union-attr]
    done = checkpoint.Counters(
        iteration, env_steps, time.perf_counter() - start, list(recent_returns), run.counters.resumes
    )
    checkpoint.save(
        run.out_dir,  # type: ignore[arg-type]
        config=run.meta["config"],
        policy=run.policy,
        optimizer=run.optimizer,
        curiosity=run.icm,
        generator=run.generator,
        counters=done,
    )
    run.schedule.saved()  # type: ignore[union-attr]


T = TypeVar("T")


def advantages_phase(
    rollout: Rollout,
    config: TrainConfig,
    iteration: int,
    scaler: RewardScaler | None,
    icm: Any,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """The rollout's training rewards (scaled by the running return std, plus curiosity's intrinsic reward)
    and GAE over them: (advantages [T, N], value targets [T, N], the reward statistics for the row)."""
    if not bool(torch.isfinite(rollout.rewards).all()):
        raise TrainingError(
            f"the environment returned a NaN or infinite reward in iteration {iteration}; "
            "check its step() (rewards must be finite numbers)"
        )
    rewards = rollout.rewards
    stats: dict[str, float] = {}
    if scaler is not None:  # training rewards only: the rollout's episode returns stay raw
        rewards = scaler.scale(rewards, rollout.dones)
        stats["return_std"] = float(np.sqrt(scaler.stats.var[0]))
    if icm is not None:
        intrinsic, icm_stats = icm.intrinsic_rewards_and_update(rollout)
        rewards = rewards + intrinsic
        stats = {**icm_stats, **stats}
    advantages, targets = gae(rewards, rollout.values, rollout.dones, rollout.bootstrap, config.gamma, config.lambda_)
    return advantages, targets, stats


def record_row(
    iteration: int,
    env_steps: int,
    rollout: Rollout,
    targets: torch.Tensor,
    recent_returns: deque[float],
    timing: dict[str, float],
    update_stats: dict[str, Any],
    later_stats: dict[str, Any],
    phase_times: dict[str, float],
) -> dict[str, Any]:
    """One iteration's metrics row (metrics.csv, the loggers, summary.json's tally), in a fixed column order."""
    return {
        "iteration": iteration,
        "env_steps": env_steps,
        **timing,
        "episodes": len(rollout.episode_returns),
        "episode_return_mean": _mean(rollout.episode_returns),
        "episode_len_mean": _mean(rollout.episode_lengths),
        "return_mean_100": _mean(recent_returns),
        "success_mean": _mean(rollout.episode_successes),
        **update_stats,
        "explained_var": explained_variance(rollout.values.flatten(), targets.flatten()),
        **later_stats,  # lr, what the LSTM saw, curiosity's and reward scaling's statistics
        **phase_times,
    }


def after_training(
    config: TrainConfig,
    policy: RecurrentPolicy,
    obs_dim: int,
    tally: RunTally,
    train_time: float,
    env_steps: int,
    resumes: list[int],
    out_dir: Path | None,
    loggers: Sequence[RunLogger],
) -> dict[str, Any]:
    """model.pt first (no later step can lose the trained model), then the evaluation, the memory measurement,
    summary.json and the loggers' finish, each failure one entry of summary["after_training_errors"]."""
    if out_dir is not None:
        run_files.save_checkpoint(out_dir / "model.pt", policy, config.to_dict(), obs_dim)
    after = AfterTraining()
    nothing: dict[str, Any] = {}  # what a step that failed adds to the summary
    evaluation = nothing
    if config.eval_episodes > 0:
        seed = config.seed + 1_000_003
        evaluation = after.run(
            "evaluation",
            partial(evaluate, policy, config, config.eval_episodes, seed, config.eval_deterministic),
            nothing,
        )
    summary = _summarise(config, tally, evaluation, train_time, env_steps)
    if config.eval_episodes > 0 and not evaluation:  # no score rather than the training return in its place
        summary["final_return"] = math.nan
    summary["cpu_s_per_step"] = tally.cpu_s_per_step
    summary["resumed_from_iterations"] = resumes  # empty: trained in one go
    if config.memory_horizon:
        summary.update(after.run("memory measurement", partial(memory_summary, policy, config), nothing))
    summary["after_training_errors"] = after.errors  # empty: every step after training worked
    if out_dir is not None:
        run_files.write_json(out_dir / "summary.json", summary)
        checkpoint.remove(out_dir)  # model.pt and summary.json supersede it
    failed_before = len(after.errors)
    for logger in loggers:
        after.run(f"logger {type(logger).__name__}", partial(logger.finish, summary), None)
    if out_dir is not None and len(after.errors) > failed_before:  # a logger's failure is recorded too
        run_files.write_json(out_dir / "summary.json", summary)
    return summary


class AfterTraining:
    """The steps after the training loop (evaluation, memory measurement, the loggers' finish), each run so
    that its failure becomes one line in `errors` (summary.json's `after_training_errors`) and the rest go
    on: model.pt is written before them and summary.json after, so none of them can lose the trained run.
    Only Exceptions are caught: Ctrl-C still stops the process."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def run(self, step: str, action: Callable[[], T], fallback: T) -> T:
        try:
            return action()
        except Exception as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else "no message"
            self.errors.append(f"{step} failed: {type(err).__name__}: {message}")
            return fallback


def memory_summary(policy: RecurrentPolicy, config: TrainConfig) -> dict[str, Any]:
    """How far back the trained policy remembers (core/analysis/memory.py), as summary.json's `memory_*` keys."""
    began = time.perf_counter()
    # Fewer draws for a short run, so the measurement stays a small share of any run's time (a test's
    # 256-step run included); a 100k-step run gets the full MEMORY_PAIRS.
    pairs = min(MEMORY_PAIRS, max(64, config.total_steps // 64))
    # At most a tenth of the run's env steps are played (long episodes end the recording before
    # memory_episodes are done), and playing costs far less per step than training.
    max_steps = max(1024, config.total_steps // 10)
    result = measure_run(
        policy, config, config.memory_episodes, pairs=pairs, seed=config.seed + 2_000_003, max_steps=max_steps
    )
    return {
        "memory_horizon": result.horizon,
        "memory_horizon_interval": list(result.horizon_interval),
        "memory_horizon_at_cap": result.horizon_at_cap,  # censored: the horizon is ">=" it (memory["horizon_limit"])
        "memory_influence": result.influence,  # index = lag; what sweeps store and reports draw
        "memory": {
            "metric": result.metric,
            "threshold": result.threshold,
            "horizon_text": result.horizon_text,
            "horizon_limit": result.horizon_limit,
            "lag_cap": result.lag_cap,
            "longest_episode": result.longest_episode,
            "influence": result.influence,
            "influence_lo": result.influence_lo,
            "influence_hi": result.influence_hi,
            "value_change": result.value_change,
            "pairs": result.pairs,
            "episodes": result.episodes,
            "time_s": time.perf_counter() - began,
        },
    }


def _resume_files(
    out_dir: Path, meta: dict[str, Any], extra_meta: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A killed run's checkpoint (None: it had none yet, so it starts again) and its metrics rows up to it;
    metrics.csv is cut back to them; config.json keeps the first start's provenance and takes this one's
    study and trial (a sweep's retry has a new trial number)."""
    if (out_dir / "summary.json").exists():
        raise run_files.RunFileError(f"{out_dir} is a finished run (it has summary.json): nothing to resume")
    checkpoint.remove_stale_temps(out_dir)
    saved = checkpoint.load(out_dir, meta["config"])
    iteration = int(saved["counters"]["iteration"]) if saved is not None else 0
    metrics = run_files.truncate_metrics(out_dir / "metrics.csv", iteration)
    first = run_files.read_json(out_dir / "config.json") if (out_dir / "config.json").exists() else {}
    merged = {**meta, **first, **extra_meta}
    run_files.write_json(out_dir / "config.json", merged, private=run_files.names_a_server(merged.get("command", [])))
    return saved, metrics


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else math.nan


def _summarise(
    config: TrainConfig, tally: RunTally, evaluation: dict[str, Any], train_time: float, env_steps: int
) -> dict[str, Any]:
    final_train_return = tally.last_row.get("return_mean_100", math.nan)
    return {
        "env": config.env,
        "seed": config.seed,
        "env_steps": env_steps,
        "iterations": tally.iterations,
        "train_time_s": train_time,
        "steps_per_s": env_steps / train_time if train_time > 0 else math.nan,
        "final_train_return": final_train_return,
        "auc": tally.auc,
        **evaluation,
        "final_return": evaluation.get("eval_return_mean", final_train_return),
        "lstm_saw": tally.lstm_saw(),
    }
