"""Cross-task statistics for a sweep run on several tasks (Agarwal et al., NeurIPS 2021, "rliable").

Scores of different tasks have different units (a success rate, a CartPole return), so each run's score
is first *normalised* per task: 0 is the task's measured uniformly-random policy, 1 its stated
reference (the maximum success or return, documented per task in the suite). On the normalised scores,
as pure functions over a tidy frame with one row per (task, config, seed):

* **Aggregate IQM** over every task x seed run of a configuration, with a *stratified* bootstrap
  interval: seeds are resampled within each task, so every resample keeps each task's run count
  (stats.stratified_bootstrap_ci; rliable's StratifiedBootstrap).
* **Performance profile**: the fraction of runs whose normalised score is above each threshold τ
  (each task weighted equally: the mean over tasks of the per-task fraction), with a stratified
  bootstrap band.
* **Probability of improvement** P(X > Y) (rliable's definition): per task m,
  P(X_m > Y_m) = 1/(N K) Σ_i Σ_j S(x_mi, y_mj) with S = 1 for x > y, 1/2 for a tie, 0 otherwise (the
  Mann-Whitney U statistic over all run pairs), averaged over tasks. Its interval is rliable's stratified
  independent bootstrap: within each task the runs of X and the runs of Y are resampled, each on its own.
  (Resampling seeds jointly for X and Y would count each same-seed pair more often than the statistic
  does, Σ w_i² > N, and with 3-5 seeds bias the interval upwards; the pairing is used by the test below.)
* **Words**: X is called better than Y only when both the interval of P(X > Y) excludes 1/2 and a
  paired test over seeds separates them: the exact sign-flip test (results/paired.py) on each seed's mean
  over tasks of the normalised difference X - Y, Holm-corrected over the comparisons made. Otherwise
  the pair is "not separable", and the line says which of the two did not separate them.

Intervals below MIN_SEEDS seeds in any task are not meaningful (NaN, with the reason), as elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnppo.results import paired, stats

MIN_SEEDS = stats.MIN_SEEDS
N_RESAMPLES = 2000
CONFIDENCE = 0.95
THRESHOLDS = tuple(np.round(np.linspace(0.0, 1.0, 21), 2).tolist())
"""Normalised thresholds τ of the performance profile (0, 0.05, ..., 1)."""
AGGREGATE_COLUMNS = ["config", "tasks", "runs", "iqm", "ci_low", "ci_high", "ci_meaningful", "ci_reason", "mean"]
PROFILE_COLUMNS = ["config", "threshold", "fraction", "low", "high", "meaningful"]
IMPROVEMENT_COLUMNS = [
    "x",
    "y",
    "probability",
    "low",
    "high",
    "meaningful",
    "reason",
    "tasks",
    "seeds",
    "mean_diff",
    "p",
    "p_holm",
    "test",
    "separable",
    "words",
]


@dataclass(frozen=True)
class TaskScale:
    """What 0 and 1 mean on one task's normalised scale."""

    random: float
    """The measured uniformly-random policy's mean score (normalised 0)."""
    reference: float
    """The task's stated reference score (normalised 1), e.g. the maximum success or return."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.random) and math.isfinite(self.reference)):
            raise ValueError(f"a task scale needs finite scores (random {self.random}, reference {self.reference})")
        if self.reference <= self.random:
            raise ValueError(
                f"the reference score {self.reference:g} is not above the random policy's {self.random:g}: "
                "nothing to normalise against"
            )


def normalise(scores: np.ndarray | pd.Series | float, scale: TaskScale) -> np.ndarray:
    """(score - random) / (reference - random): 0 at the random policy, 1 at the reference."""
    return (np.asarray(scores, dtype=float) - scale.random) / (scale.reference - scale.random)


def normalised_runs(runs: pd.DataFrame, scales: dict[str, TaskScale], score: str) -> pd.DataFrame:
    """`runs` (columns task, config, seed and `score`) with a `normalised` column; a task without a scale
    (its random policy was not measured) gets NaN there and is left out of every aggregate."""
    normalised = pd.Series(np.nan, index=runs.index, dtype=float)
    for task, rows in runs.groupby("task", sort=False).groups.items():
        scale = scales.get(str(task))
        if scale is not None:
            normalised[rows] = normalise(runs.loc[rows, score], scale)
    return runs.assign(normalised=normalised)


def shared_tasks(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of the tasks on which every configuration has a normalised score, and the other tasks: an
    aggregate compares configurations on the same tasks (while a sweep runs, some have not finished)."""
    scored = frame.dropna(subset=["normalised"])
    configs = set(scored["config"])
    partial = [str(task) for task, group in scored.groupby("task", sort=False) if set(group["config"]) != configs]
    return scored[~scored["task"].isin(partial)], partial


def _matrix(frame: pd.DataFrame, config: str) -> dict[str, pd.Series]:
    """Task -> the configuration's normalised score per seed (index: seed), finite values only."""
    rows = frame[frame["config"] == config].dropna(subset=["normalised"])
    return {str(task): group.set_index("seed")["normalised"] for task, group in rows.groupby("task", sort=True)}


def _resample_counts(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of n items is drawn in each bootstrap resample: [n_resamples, n] counts summing to n."""
    draws = rng.integers(n, size=(n_resamples, n))  # [B, n] drawn indices
    counts = np.zeros((n_resamples, n))
    np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
    return counts


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def aggregate_iqm(
    frame: pd.DataFrame, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """One row per configuration, best IQM first: the IQM of its normalised scores over every task x seed
    run, the stratified bootstrap interval (seeds resampled within each task), task and run counts."""
    rows = []
    for config, group in frame.groupby("config", sort=False):
        kept = group.dropna(subset=["normalised"])
        interval = stats.stratified_bootstrap_ci(kept, "normalised", "task", "iqm", confidence, n_resamples, seed)
        rows.append(
            {
                "config": config,
                "tasks": int(kept["task"].nunique()),
                "runs": int(len(kept)),
                "iqm": stats.iqm(kept["normalised"]),
                "ci_low": interval.low,
                "ci_high": interval.high,
                "ci_meaningful": interval.meaningful,
                "ci_reason": interval.reason,
                "mean": float(kept["normalised"].mean()) if len(kept) else math.nan,
            }
        )
    table = pd.DataFrame(rows, columns=AGGREGATE_COLUMNS)
    return table.sort_values("iqm", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def performance_profile(
    frame: pd.DataFrame,
    thresholds: Sequence[float] = THRESHOLDS,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per configuration and threshold τ: the fraction of runs with a normalised score above τ (the mean
    over tasks of each task's fraction), with a stratified bootstrap band."""
    taus = np.asarray(thresholds, dtype=float)  # [T]
    rows = []
    for config in frame["config"].drop_duplicates():
        by_task = _matrix(frame, str(config))
        if not by_task:
            continue
        rng = np.random.default_rng(seed)
        point = np.zeros(taus.size)
        resampled = np.zeros((n_resamples, taus.size))
        for values in by_task.values():
            above = (values.to_numpy()[:, None] > taus[None, :]).astype(float)  # [N, T]
            point += above.mean(axis=0)
            counts = _resample_counts(len(values), n_resamples, rng)  # [B, N]
            resampled += counts @ above / len(values)  # [B, T]
        point /= len(by_task)
        resampled /= len(by_task)
        meaningful = min(len(v) for v in by_task.values()) >= MIN_SEEDS
        for index, tau in enumerate(taus):
            low, high = _percentiles(resampled[:, index], confidence) if meaningful else (math.nan, math.nan)
            rows.append([config, float(tau), float(point[index]), low, high, meaningful])
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS)


def _superiority(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """S(x_i, y_j): 1 where x_i > y_j, 1/2 where equal, 0 where below: [N, K]."""
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


def probability_of_improvement(
    frame: pd.DataFrame,
    x: str,
    y: str,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, stats.Interval, int]:
    """P(X > Y) averaged over the tasks both configurations have (on the seeds both finished), its
    stratified independent bootstrap interval (X's and Y's runs resampled within each task, each on its
    own), and the task count."""
    first, second = _matrix(frame, x), _matrix(frame, y)
    tasks = sorted(set(first) & set(second))
    if not tasks:
        return math.nan, stats.Interval(math.nan, math.nan, False, "no task where both finished", 0), 0
    rng = np.random.default_rng(seed)
    point = 0.0
    resampled = np.zeros(n_resamples)
    fewest = None
    for task in tasks:
        xs, ys = paired.pairs(first[task], second[task])  # [N] each, the seeds both have
        if xs.size == 0:
            return math.nan, stats.Interval(math.nan, math.nan, False, f"no seed of task {task} in both", 0), 0
        wins = _superiority(xs, ys)  # [N, N]
        point += float(wins.mean())
        x_counts = _resample_counts(xs.size, n_resamples, rng)  # [B, N]
        y_counts = _resample_counts(ys.size, n_resamples, rng)  # [B, N]
        resampled += np.einsum("bi,ij,bj->b", x_counts, wins, y_counts) / xs.size**2
        fewest = xs.size if fewest is None else min(fewest, xs.size)
    point /= len(tasks)
    resampled /= len(tasks)
    n = int(fewest or 0)
    if n < MIN_SEEDS:
        return (
            point,
            stats.Interval(math.nan, math.nan, False, f"fewer than {MIN_SEEDS} seeds in a task", n),
            len(tasks),
        )
    low, high = _percentiles(resampled, confidence)
    return point, stats.Interval(low, high, True, "", n), len(tasks)


def seed_means(frame: pd.DataFrame, config: str, tasks: Sequence[str]) -> pd.Series:
    """Per seed: the configuration's mean normalised score over `tasks`, for seeds that finished all of them."""
    rows = frame[(frame["config"] == config) & frame["task"].isin(list(tasks))].dropna(subset=["normalised"])
    table = rows.pivot_table(index="seed", columns="task", values="normalised", aggfunc="mean")
    table = table.reindex(columns=list(tasks)).dropna()
    return table.mean(axis=1)


def improvement_table(
    frame: pd.DataFrame,
    order: Sequence[str],
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """The best configuration (order[0], by aggregate IQM) against each other one: P(best > other) with
    its interval, and the exact paired sign-flip test over seeds of the task-mean normalised difference, Holm-corrected
    over the comparisons; `separable` only when both say so, in the same direction."""
    if len(order) < 2:
        return pd.DataFrame(columns=IMPROVEMENT_COLUMNS)
    best = str(order[0])
    rows: list[tuple[str, float, stats.Interval, int, paired.PairedTest]] = []
    for other in order[1:]:
        probability, interval, tasks = probability_of_improvement(
            frame, best, str(other), confidence, n_resamples, seed
        )
        shared = sorted(set(_matrix(frame, best)) & set(_matrix(frame, str(other))))
        test = paired.paired_test(seed_means(frame, best, shared), seed_means(frame, str(other), shared))
        rows.append((str(other), probability, interval, tasks, test))
    holm = paired.holm([row[4].p for row in rows])
    records = []
    for (other, probability, interval, tasks, test), p_holm in zip(rows, holm, strict=True):
        separable = _separable(interval, test, p_holm)
        records.append(
            {
                "x": best,
                "y": other,
                "probability": probability,
                "low": interval.low,
                "high": interval.high,
                "meaningful": interval.meaningful,
                "reason": interval.reason,
                "tasks": tasks,
                "seeds": test.n,
                "mean_diff": test.mean_diff,
                "p": test.p,
                "p_holm": p_holm,
                "test": test.kind,
                "separable": separable,
                "words": improvement_words(best, other, probability, interval, test, p_holm),
            }
        )
    return pd.DataFrame(records, columns=IMPROVEMENT_COLUMNS)


def _separable(interval: stats.Interval, test: paired.PairedTest, p_holm: float) -> bool:
    """Both the interval of P(X > Y) and the paired test put X on the same side of Y."""
    if not interval.meaningful or not test.decided or test.kind == paired.TIE:
        return False
    interval_side = 1 if interval.low > 0.5 else (-1 if interval.high < 0.5 else 0)
    test_side = int(np.sign(test.mean_diff)) if p_holm < paired.ALPHA else 0
    return interval_side != 0 and interval_side == test_side


def improvement_words(
    x: str, y: str, probability: float, interval: stats.Interval, test: paired.PairedTest, p_holm: float
) -> str:
    """One honest line: which is better, or "not separable" and what did not separate them."""
    shown = f"P({x} > {y}) = {probability:.2f}"
    if interval.meaningful:
        shown += f" [{interval.low:.2f}, {interval.high:.2f}]"
    else:
        return f"not separable: {shown}, no interval ({interval.reason})"
    tested = (
        f"{test.kind} over {test.n} seeds, Holm p = {p_holm:.3g}"
        if test.kind in (paired.SIGN_FLIP, paired.MONTE_CARLO)
        else test.kind
    )
    if _separable(interval, test, p_holm):
        winner, loser = (x, y) if test.mean_diff > 0 else (y, x)
        return f"{winner} better than {loser} across tasks: {shown}; {tested}"
    if test.kind == paired.TIE:
        return f"not separable: {shown}; identical scores on every seed"
    covers = interval.low <= 0.5 <= interval.high
    reason = "the interval covers 0.5" if covers else f"the paired test does not separate them ({tested})"
    if covers and not (test.decided and p_holm < paired.ALPHA):
        reason += f" and the paired test does not either ({tested})"
    return f"not separable: {shown}; {reason}"
