"""How far back a trained policy remembers: counterfactual influence of the observation k steps back.

Method. Play episodes with the policy, sampling actions as in training, and record every step's
inputs and the recurrent state before it. Pick a start step s (and, with it, the target t = s + k for
every lag k) and a replacement observation drawn at random from elsewhere in the collected data (not
zeros, which are off-distribution). Re-run the policy from the recorded state before step s over
steps s..s+K twice, in one batch: once with the recorded inputs (factual), once with the observation
at s replaced wherever it appears in the inputs (counterfactual: with frame_stack=k it sits in the
stacked inputs of steps s..s+k-1). The recorded previous actions and rewards are kept: only the
observation is counterfactual. The influence at lag k is the change of the action distribution at
t = s + k: total variation for Discrete; for MultiDiscrete the largest total variation over the
sub-actions (a lower bound on the joint distribution's); for Box the 2-Wasserstein distance between
the two diagonal Gaussians, sqrt(sum_d (mu_d - mu'_d)^2 + (sigma_d - sigma'_d)^2) over the action dims,
each dim in units of its action range (a dimension with an infinite bound counts in raw units). With
free_log_std the std is one learned vector, the same in both, so only the means count; with a per-step
std (free_log_std=false, use_sde) both do. The change of the value is reported beside it. Targets
whose lag reaches before the episode's first step are not counted.

With observation_filter=mean_std the recorded observations are already filtered by the frozen
statistics the run saved; the filter is a fixed per-feature map then, so drawing a filtered
observation is the same as drawing a raw one and filtering it.

One start's re-run measures every lag at once (t = s + k for k = 0..K), so the cost is
pairs x (K + 1) steps of the network, not pairs x K^2 / 2.

The replacement frame is drawn from the recorded steps other than the start step itself (the factual
frame would change nothing and pull the influence down).

How far back. By default the lags run up to the longest episode played, at most LAG_CAP steps (or
--max-lag): not a few times max_seq_len, because the carried state can remember far past it. The
intervals are a 95% bootstrap over episodes (every draw of a resampled episode comes along), not over
draws: draws from one episode are alike, and resampling them one by one would give too narrow intervals.
A lag needs MIN_SAMPLES draws from MIN_EPISODES episodes to get an interval.

The memory horizon is the largest lag whose influence's lower bound is at least the threshold
max(0.01, 5% of the lag-0 influence); its interval runs from there to the largest lag whose upper bound
reaches the threshold (beyond it, every lag is confidently below it). When the horizon is the largest lag
that got an interval, nothing beyond it was seen: the horizon is censored there and printed as ">= K",
with the reason (the lag cap, the longest episode, or too few draws past K).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from rnnppo.core.config import ConfigError, TrainConfig
from rnnppo.core.envs.make import make_vector_env
from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.rollout import Collector, Rollout
from rnnppo.core.spaces import ActionHead

TARGETS = ("all", "rewarded")
MIN_FLOOR = 0.01  # the horizon's effect threshold is at least this (floats through an LSTM never give exact zeros)
LAG0_SHARE = 0.05  # ... and at least this share of the lag-0 influence
MIN_SAMPLES = 10  # a lag with fewer (target, replacement) pairs gets no interval and no say in the horizon
MIN_EPISODES = 5  # ... and so does a lag whose pairs come from fewer episodes (the bootstrap resamples episodes)
LAG_CAP = 200  # the default look-back: up to the longest episode played, at most this many steps


class MeasureError(ConfigError):
    """A memory measurement that cannot be made as asked (bad input: the CLI exits 2); the message says
    what to change."""


@dataclass
class Trajectories:
    """Recorded play, time-major `[T, N, ...]` as the rollout stores it."""

    obs: torch.Tensor  # [T, N, O] policy inputs (frame-stacked, filtered)
    prev_actions: torch.Tensor  # [T, N, A]
    prev_rewards: torch.Tensor  # [T, N]
    states: torch.Tensor  # [T, N, state_size] state before each step
    values: torch.Tensor  # [T, N] the value the rollout computed (the factual re-run must reproduce it)
    rewards: torch.Tensor  # [T, N]
    episode_start: torch.Tensor  # [T, N] bool
    episodes: int  # episodes that ended in the data

    @property
    def position(self) -> np.ndarray:
        """[T, N] each step's index within its episode (the data starts at a reset, so every step has one)."""
        starts = self.episode_start.numpy()
        steps = np.arange(starts.shape[0])[:, None]
        last_start = np.maximum.accumulate(np.where(starts, steps, -1), axis=0)
        return steps - last_start

    @property
    def episode(self) -> np.ndarray:
        """[T, N] an id per episode, unique over the whole data (the bootstrap's resampling unit)."""
        starts = self.episode_start.numpy()
        per_env = np.cumsum(starts, axis=0) - 1  # [T, N] the episode's index within its env
        return per_env * starts.shape[1] + np.arange(starts.shape[1])[None, :]

    @property
    def longest_episode(self) -> int:
        """Steps of the longest episode in the data (an episode the data cuts counts with its recorded steps)."""
        return int(self.position.max()) + 1 if self.obs.shape[0] else 0


@dataclass
class MemoryResult:
    """Influence by lag (index = lag), the threshold and the horizon."""

    metric: str
    at: str
    lags: list[int]
    influence: list[float]
    influence_lo: list[float]
    influence_hi: list[float]
    value_change: list[float]
    value_change_lo: list[float]
    value_change_hi: list[float]
    pairs: list[int]
    threshold: float
    horizon: int
    horizon_interval: tuple[int, int]
    episodes: int
    steps: int
    lag_cap: int = 0  # the largest lag asked for: --max-lag, or the longest episode at most LAG_CAP
    longest_episode: int = 0  # steps of the longest episode played
    horizon_at_cap: bool = False  # the horizon is the largest lag with an interval: the true one may be longer
    horizon_limit: str = ""  # why nothing past the horizon was seen ("" when it was)
    by_feature: list[list[float]] | None = field(default=None)  # [lag][feature] mean influence
    # by_feature's column names: f0, f1, ... per flat feature; a Dict/image observation's part names, per part
    feature_names: list[str] | None = field(default=None)

    @property
    def horizon_text(self) -> str:
        """'7', or '>= 10' when the horizon is censored at the largest lag measured."""
        return f">= {self.horizon}" if self.horizon_at_cap else str(self.horizon)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["horizon_interval"] = list(self.horizon_interval)
        out["horizon_text"] = self.horizon_text
        return out


# --- recording -------------------------------------------------------------------------------------


@torch.no_grad()
def record(
    policy: RecurrentPolicy, config: TrainConfig, episodes: int, seed: int, max_steps: int = 50_000
) -> Trajectories:
    """Play until `episodes` episodes have ended (or `max_steps` env steps), sampling actions as in
    training with the run's frozen observation filter. Runs under its own torch RNG (seeded), so a
    caller's random stream is left as it was."""
    num_envs = max(1, min(episodes, 16))
    chunk = 64
    env = make_vector_env(config, num_envs, seed)
    device = next(policy.parameters()).device
    parts: list[Rollout] = []
    ended = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            collector = Collector(env, policy, policy.action_head, config.frame_stack, device, update_filter=False)
            while ended < episodes and len(parts) * chunk * num_envs < max_steps:
                rollout = collector.collect(chunk)
                parts.append(rollout)
                ended += len(rollout.episode_lengths)
        finally:
            env.close()

    def cat(name: str) -> torch.Tensor:
        return torch.cat([getattr(part, name).cpu() for part in parts])

    return Trajectories(
        obs=cat("obs"),
        prev_actions=cat("prev_actions"),
        prev_rewards=cat("prev_rewards"),
        states=cat("states"),
        values=cat("values"),
        rewards=cat("rewards"),
        episode_start=cat("episode_start"),
        episodes=ended,
    )


# --- the counterfactual re-runs ----------------------------------------------------------------------


@dataclass
class Windows:
    """Start steps and their windows of K + 1 steps, gathered from the trajectories."""

    start_t: np.ndarray  # [P]
    env: np.ndarray  # [P]
    valid: torch.Tensor  # [P, L] step s + j lies in s's episode and in the data
    obs: torch.Tensor  # [P, L, O]
    prev_actions: torch.Tensor  # [P, L, A]
    prev_rewards: torch.Tensor  # [P, L]
    state_in: torch.Tensor  # [P, state_size] recorded state before step s


def windows(traj: Trajectories, start_t: np.ndarray, env: np.ndarray, length: int) -> Windows:
    """The recorded inputs of steps s .. s + length - 1 of env n for each start (s, n), and the state before
    step s; steps past the data's end or the episode's are padding (valid False: the re-run is causal, so
    they never change a valid step)."""
    steps = traj.obs.shape[0]
    position = traj.position
    offsets = np.arange(length)
    t = start_t[:, None] + offsets[None, :]  # [P, L]
    inside = t < steps
    t_clipped = np.minimum(t, steps - 1)
    envs = np.broadcast_to(env[:, None], t.shape)
    same_episode = position[t_clipped, envs] == position[start_t, env][:, None] + offsets[None, :]
    ti, ei = torch.from_numpy(t_clipped), torch.from_numpy(np.ascontiguousarray(envs))
    return Windows(
        start_t=start_t,
        env=env,
        valid=torch.from_numpy(inside & same_episode),
        obs=traj.obs[ti, ei],
        prev_actions=traj.prev_actions[ti, ei],
        prev_rewards=traj.prev_rewards[ti, ei],
        state_in=traj.states[torch.from_numpy(start_t), torch.from_numpy(env)],
    )


def replace_observation(
    obs: torch.Tensor, replacement: torch.Tensor, frame_stack: int, features: slice | int | None = None
) -> torch.Tensor:
    """obs [P, L, O] (window from start s) with the frame of step s replaced by replacement [P, F] wherever it
    appears: step s + j holds frames s+j-k+1 .. s+j, so frame s sits in slot k-1-j for j < k. `features`
    limits the replacement to some of the frame's features (--by-feature)."""
    out = obs.clone()
    frame = obs.shape[-1] // frame_stack
    columns = slice(None) if features is None else features
    for j in range(min(frame_stack, obs.shape[1])):
        slot = frame_stack - 1 - j
        block = out[:, j, slot * frame : (slot + 1) * frame]  # [P, F], a view into out
        block[:, columns] = replacement[:, columns]
    return out


def feature_groups(policy: RecurrentPolicy, frame: int) -> list[tuple[str, slice | int]]:
    """--by-feature's units: each flat feature (f0, f1, ...), or, for an observation with image parts (the conv
    encoder), each part as a whole (its name: 'image', 'direction'), since one pixel alone says little."""
    if not policy.actor.structured or policy.parts is None:
        return [(f"f{index}", index) for index in range(frame)]
    return [(part.name, slice(part.start, part.start + part.size)) for part in policy.parts]


def distribution_change(head: ActionHead, factual: torch.Tensor, counter: torch.Tensor) -> torch.Tensor:
    """dist_inputs [..., D] x 2 -> [...] the distance between the two action distributions (module docstring)."""
    if head.kind == "box":
        assert head.high is not None and head.low is not None  # for_space sets the bounds of Box actions
        span = torch.as_tensor(head.high - head.low, dtype=factual.dtype)  # [A]
        span = torch.where(torch.isfinite(span) & (span > 0), span, torch.ones_like(span))
        if head.free_log_std:  # dist_inputs [..., A] = the mean; one learned std for every input, so the
            # two Gaussians differ in their means only
            mean_shift, std_shift = factual - counter, torch.zeros_like(factual)
        else:  # dist_inputs [..., 2A] = [mean, log-std] per step (free_log_std=false, use_sde)
            mean_p, log_std_p = factual.chunk(2, dim=-1)
            mean_q, log_std_q = counter.chunk(2, dim=-1)
            mean_shift, std_shift = mean_p - mean_q, log_std_p.exp() - log_std_q.exp()
        # W2 of diagonal Gaussians: W2^2 = sum over the action dims of the mean's and the std's squared shift
        return ((mean_shift / span).square() + (std_shift / span).square()).sum(-1).sqrt()
    changes = []
    for p, q in zip(head._split_logits(factual), head._split_logits(counter), strict=True):
        changes.append(0.5 * (torch.softmax(p, -1) - torch.softmax(q, -1)).abs().sum(-1))
    return torch.stack(changes, -1).amax(-1)


def metric_name(head: ActionHead) -> str:
    return {
        "discrete": "total variation of the action distribution",
        "multi_discrete": "largest total variation over the sub-actions",
        "box": "2-Wasserstein distance of the action Gaussians / action range",
    }[head.kind]


@torch.no_grad()
def rerun(
    policy: RecurrentPolicy,
    win: Windows,
    replacement: torch.Tensor,
    frame_stack: int,
    features: slice | int | None = None,
    batch: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (action-distribution change [P, L], |value change| [P, L], factual values [P, L]): the factual and
    the counterfactual windows run as one batch from the recorded state before the start step."""
    head = policy.action_head
    device = next(policy.parameters()).device
    changes, value_changes, factual_values = [], [], []
    for lo in range(0, win.obs.shape[0], batch):
        part = slice(lo, lo + batch)
        obs = win.obs[part]
        counter = replace_observation(obs, replacement[part], frame_stack, features)
        rows = obs.shape[0]
        dist, values, _ = policy(
            torch.cat([obs, counter]).to(device),
            win.prev_actions[part].repeat(2, 1, 1).to(device),
            win.prev_rewards[part].repeat(2, 1).to(device),
            win.state_in[part].repeat(2, 1).to(device),
        )  # [2P, L, D], [2P, L]
        dist, values = dist.cpu(), values.cpu()
        changes.append(distribution_change(head, dist[:rows], dist[rows:]))
        value_changes.append((values[:rows] - values[rows:]).abs())
        factual_values.append(values[:rows])
    return torch.cat(changes), torch.cat(value_changes), torch.cat(factual_values)


def rerun_trimmed(
    policy: RecurrentPolicy,
    win: Windows,
    replacement: torch.Tensor,
    frame_stack: int,
    features: slice | int | None = None,
    chunk: int = 256,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """rerun() chunk by chunk, each chunk cut after its last valid step: a window that runs past its episode's
    end costs nothing there. Draws sorted by window length (as measure() orders them) waste little. Padding
    steps come back as zeros (they were never valid)."""
    length = win.obs.shape[1]
    valid_steps = win.valid.sum(1)  # [P]: valid steps form a prefix of each window
    outputs: tuple[list[torch.Tensor], ...] = ([], [], [])
    for lo in range(0, win.obs.shape[0], chunk):
        part = slice(lo, lo + chunk)
        last = max(1, int(valid_steps[part].max()))
        cut = Windows(
            start_t=win.start_t[part],
            env=win.env[part],
            valid=win.valid[part, :last],
            obs=win.obs[part, :last],
            prev_actions=win.prev_actions[part, :last],
            prev_rewards=win.prev_rewards[part, :last],
            state_in=win.state_in[part],
        )
        for out, result in zip(outputs, rerun(policy, cut, replacement[part], frame_stack, features), strict=True):
            out.append(torch.nn.functional.pad(result, (0, length - last)))
    changes, value_changes, factual = (torch.cat(out) for out in outputs)
    return changes, value_changes, factual


# --- statistics --------------------------------------------------------------------------------------


def bootstrap_lags(
    values: np.ndarray,
    counted: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 1000,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """values, counted [P, L] (draw x lag; counted: the lag's target is one to measure), groups [P] (the
    episode of each draw; None: every draw its own) -> mean, 2.5% and 97.5% percentile bootstrap bounds per
    lag [L]. A resample redraws whole episodes with all their draws and lags, so the curve's points keep
    their correlation and alike draws of one episode do not narrow the interval; every lag's mean of a
    resample is one matrix product. Bounds are NaN for a lag with fewer than MIN_SAMPLES draws or fewer
    than MIN_EPISODES episodes."""
    draws = values.shape[0]
    groups = np.arange(draws) if groups is None else groups
    units, unit_of_draw = np.unique(groups, return_inverse=True)  # [G], [P]
    counts = counted.sum(axis=0)  # [L]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counted, values, 0.0).sum(axis=0) / counts
    if draws == 0:
        return mean, mean.copy(), mean.copy()
    size = units.size
    # unit_weights[b, g]: how often resample b holds episode g (a per-row bincount through offset indices)
    picks = rng.integers(0, size, (resamples, size)) + (np.arange(resamples) * size)[:, None]
    unit_weights = np.bincount(picks.ravel(), minlength=resamples * size).reshape(resamples, size)
    weights = unit_weights[:, unit_of_draw].astype(np.float64)  # [B, P]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (weights @ np.where(counted, values, 0.0)) / (weights @ counted.astype(np.float64))  # [B, L]
    lo, hi = np.full_like(mean, math.nan), np.full_like(mean, math.nan)
    episodes = np.array([np.unique(unit_of_draw[counted[:, lag]]).size for lag in range(counted.shape[1])])
    enough = (counts >= MIN_SAMPLES) & (episodes >= MIN_EPISODES)
    if enough.any():
        # a resample can miss every draw of a sparse lag (0 / 0): those resamples are left out
        lo[enough], hi[enough] = np.nanpercentile(means[:, enough], [2.5, 97.5], axis=0)
    return mean, lo, hi


def other_steps(own: np.ndarray, pool_size: int, rng: np.random.Generator) -> np.ndarray:
    """own [P] flat step indices -> [P] indices drawn uniformly from the pool's other steps (never `own`)."""
    if pool_size < 2:
        raise MeasureError("only one step was recorded: nothing to swap its observation for; use more --episodes")
    picks = rng.integers(0, pool_size - 1, own.shape[0])
    return picks + (picks >= own)


def horizon_threshold(lag0_influence: float) -> float:
    """The effect a lag must show to count: max(0.01, 5% of the lag-0 influence)."""
    lag0 = lag0_influence if math.isfinite(lag0_influence) else 0.0
    return max(MIN_FLOOR, LAG0_SHARE * lag0)


def memory_horizon(lo: list[float], hi: list[float], threshold: float) -> tuple[int, tuple[int, int]]:
    """(horizon, (low, high)): the largest lag whose lower bound is >= threshold (0 when none is), and the
    largest lag whose upper bound is (beyond it, every lag is confidently below the threshold). A lag
    without an interval (too few pairs) counts for neither. Lags are list indices."""

    def largest(bounds: list[float]) -> int:
        hits = [lag for lag, bound in enumerate(bounds) if math.isfinite(bound) and bound >= threshold]
        return max(hits) if hits else 0

    horizon = largest(lo)
    return horizon, (horizon, max(horizon, largest(hi)))


def horizon_limit(lo: list[float], threshold: float, horizon: int, lag_cap: int, longest_episode: int) -> str:
    """Why the measurement saw nothing past the horizon ("" when it did: a later lag has an interval, or
    the horizon has none). The horizon is then censored: the true one may be longer."""
    measured = [lag for lag, bound in enumerate(lo) if math.isfinite(bound)]
    if not measured or measured[-1] != horizon or lo[horizon] < threshold:
        return ""
    if horizon == lag_cap and lag_cap < longest_episode - 1:
        return f"the lag cap is {lag_cap} while episodes ran to {longest_episode} steps; raise --max-lag"
    if horizon == longest_episode - 1:
        return f"the longest episode played has {longest_episode} steps recorded"
    if horizon == lag_cap:
        return f"the lag cap is {lag_cap}"
    return f"lags past {horizon} had fewer than {MIN_SAMPLES} draws from {MIN_EPISODES} episodes; play more --episodes"


# --- the measurement ----------------------------------------------------------------------------------


def default_max_lag(traj: Trajectories) -> int:
    """The longest episode seen (its last step's lag from the first), at most LAG_CAP."""
    return max(1, min(LAG_CAP, traj.longest_episode - 1))


def _draw_starts(
    position: np.ndarray, eligible: np.ndarray, length: int, pairs: int, rng: np.random.Generator, at: str
) -> np.ndarray:
    """position, eligible [T, N] -> [pairs] flat start indices t * N + n, drawn uniformly among the steps that
    reach an eligible target within length - 1 steps of their episode; the longest windows first (so
    rerun_trimmed's chunks waste little)."""
    steps = position.shape[0]
    reaches = np.zeros_like(eligible)
    for lag in range(length):
        later = np.zeros_like(eligible)
        later[: steps - lag] = eligible[lag:] & (position[lag:] == position[: steps - lag] + lag)
        reaches |= later
    candidates = np.flatnonzero(reaches)
    if candidates.size == 0:
        raise MeasureError(
            "no step to measure at: the recorded episodes have no non-zero reward; use --at all or more --episodes"
            if at == "rewarded"
            else "no steps were recorded; use more --episodes"
        )
    chosen = candidates[rng.integers(0, candidates.size, pairs)]
    return chosen[np.argsort(-_steps_left(position, chosen, length), kind="stable")]


def _feature_table(
    policy: RecurrentPolicy, win: Windows, replacement: torch.Tensor, frame_stack: int, counted: np.ndarray
) -> list[list[float]]:
    """--by-feature: [lag][feature] the mean influence when only that feature of the frame (or that part of a
    Dict/image observation: feature_groups) is replaced."""
    length = counted.shape[1]
    columns = []  # [feature][lag]
    for _, feature in feature_groups(policy, replacement.shape[1]):
        part, _, _ = rerun_trimmed(policy, win, replacement, frame_stack, features=feature)
        columns.append(
            [
                float(part[counted[:, lag], lag].double().mean()) if counted[:, lag].any() else math.nan
                for lag in range(length)
            ]
        )
    return [[column[lag] for column in columns] for lag in range(length)]


def _steps_left(position: np.ndarray, chosen: np.ndarray, length: int) -> np.ndarray:
    """position [T, N], chosen [P] flat start indices -> [P] steps from each start to its episode's last
    recorded step, start included, at most `length`."""
    steps, num_envs = position.shape
    start_t, env = np.divmod(chosen, num_envs)
    left = np.ones_like(chosen)
    for offset in range(1, length):
        t = np.minimum(start_t + offset, steps - 1)
        left += (start_t + offset < steps) & (position[t, env] == position[start_t, env] + offset)
    return left


def measure(
    policy: RecurrentPolicy,
    config: TrainConfig,
    traj: Trajectories,
    max_lag: int | None = None,
    pairs: int = 2048,
    at: str = "all",
    by_feature: bool = False,
    seed: int = 0,
) -> MemoryResult:
    """Influence by lag 0..max_lag from `pairs` (start, replacement) draws; see the module docstring."""
    if at not in TARGETS:
        raise MeasureError(f"--at {at!r} is not one of {', '.join(TARGETS)}")
    if max_lag is not None and max_lag < 1:
        raise MeasureError(f"--max-lag {max_lag} must be at least 1")
    max_lag = default_max_lag(traj) if max_lag is None else max_lag
    rng = np.random.default_rng(seed)
    steps, num_envs = traj.rewards.shape
    length = max_lag + 1
    position = traj.position

    eligible = np.ones((steps, num_envs), dtype=bool) if at == "all" else traj.rewards.numpy() != 0  # targets
    chosen = _draw_starts(position, eligible, length, pairs, rng, at)
    start_t, env = np.divmod(chosen, num_envs)
    win = windows(traj, start_t, env, length)
    frame = traj.obs.shape[-1] // config.frame_stack
    pool = traj.obs[..., -frame:].reshape(-1, frame)  # every recorded (filtered) frame; flat index t * N + n
    replacement = pool[torch.from_numpy(other_steps(chosen, pool.shape[0], rng))]  # [P, F]

    t_target = np.minimum(start_t[:, None] + np.arange(length)[None, :], steps - 1)
    counted = win.valid.numpy() & eligible[t_target, env[:, None]]  # [P, L]
    changes, value_changes, _ = rerun_trimmed(policy, win, replacement, config.frame_stack)
    changes_np, value_np = changes.double().numpy(), value_changes.double().numpy()

    episode = traj.episode[start_t, env]  # [P] the start's episode: the bootstrap's unit
    influence, lo, hi = (column.tolist() for column in bootstrap_lags(changes_np, counted, rng, groups=episode))
    value_change, value_lo, value_hi = (
        column.tolist() for column in bootstrap_lags(value_np, counted, rng, groups=episode)
    )
    threshold = horizon_threshold(influence[0])
    horizon, interval = memory_horizon(lo, hi, threshold)
    limit = horizon_limit(lo, threshold, horizon, max_lag, traj.longest_episode)

    feature_table = _feature_table(policy, win, replacement, config.frame_stack, counted) if by_feature else None

    return MemoryResult(
        metric=metric_name(policy.action_head),
        at=at,
        lags=list(range(length)),
        influence=influence,
        influence_lo=lo,
        influence_hi=hi,
        value_change=value_change,
        value_change_lo=value_lo,
        value_change_hi=value_hi,
        pairs=[int(counted[:, lag].sum()) for lag in range(length)],
        threshold=threshold,
        horizon=horizon,
        horizon_interval=interval,
        episodes=traj.episodes,
        steps=int(traj.rewards.numel()),
        lag_cap=max_lag,
        longest_episode=traj.longest_episode,
        horizon_at_cap=bool(limit),
        horizon_limit=limit,
        by_feature=feature_table,
        feature_names=[name for name, _ in feature_groups(policy, frame)] if by_feature else None,
    )


def measure_run(
    policy: RecurrentPolicy,
    config: TrainConfig,
    episodes: int = 16,
    max_lag: int | None = None,
    pairs: int = 2048,
    at: str = "all",
    by_feature: bool = False,
    seed: int = 0,
    max_steps: int = 50_000,
) -> MemoryResult:
    """Record `episodes` episodes of play (at most `max_steps` env steps), then measure (the CLI's and the
    trainer's entry point)."""
    if episodes < 1:
        raise MeasureError(f"--episodes {episodes} must be at least 1")
    if max_lag is not None and max_lag < 1:
        raise MeasureError(f"--max-lag {max_lag} must be at least 1")
    was_training = policy.training
    policy.eval()
    try:
        traj = record(policy, config, episodes, seed, max_steps)
        return measure(policy, config, traj, max_lag, pairs, at, by_feature, seed)
    finally:
        policy.train(was_training)
