"""Aggregate statistics with honest uncertainty for comparing runs (Agarwal et al., NeurIPS 2021).

The reports answer "how do ``max_seq_len`` and ``lstm_cell_size`` affect final results?" from a
handful of seeds per configuration, so every point estimate comes with a bootstrap interval and a
flag saying whether that interval means anything.

Choices, and why:

* The headline statistic is the interquartile mean (IQM): robust to one diverged seed, yet less
  noisy than the median. It is ``scipy.stats.trim_mean(values, 0.25)``, which cuts
  ``floor(0.25 * n)`` values from *each* end and averages the rest, so for n = 1, 2, 3 nothing is
  cut (IQM = mean), n = 5 averages the middle 3, n = 6 and 7 the middle 4 and 5, n = 8 the middle 4.
  There is no fractional weighting of boundary values.
* A configuration's interval (``summarise``, ``iqm_ci``) is the Tukey-McLaughlin / Yuen interval of
  the trimmed mean: the IQM plus or minus Student's t (h - 1 degrees of freedom, h the values kept) times
  the winsorised standard error, clipped to what the score can take (``bounds``). A percentile bootstrap
  (rliable's) covers only about 73% at 3 seeds and 90% at 5 (it resamples 3 numbers); this interval
  is Student's t interval of the mean below 4 seeds and reaches its coverage for normal scores at
  3, 5 and 10 seeds (benchmarks/calibration.py). At 3 seeds it is wide (t = 4.3 standard errors), and
  says so by its width.
* ``bootstrap_ci`` / ``stratified_bootstrap_ci`` remain percentile bootstrap intervals (curves' bands,
  pooled strata), as rliable uses.
* Below 3 values a bootstrap interval only reshuffles two numbers, so it is reported as NaN with
  ``meaningful=False`` rather than as a falsely tight range; so are values that are all equal
  ("3 seeds, all 1: no spread to estimate"), and for the IQM values whose middle ones tie (winsorising
  leaves no spread): a zero-width interval would claim certainty.
* NaN values (crashed or unfinished runs) are dropped and counted in ``n_dropped``; empty input
  gives NaN, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

import numpy as np
import pandas as pd
from scipy import integrate, stats

Statistic = Literal["iqm", "mean", "median"]
ArrayLike = Sequence[float] | np.ndarray | pd.Series

MIN_SEEDS = 3
"""Fewest values for which a bootstrap interval is reported as meaningful."""

_MAX_BOOTSTRAP_CELLS = 5_000_000
"""Bound on resamples x values held in memory at once by ``scipy.stats.bootstrap``."""


@dataclass(frozen=True)
class Interval:
    """A confidence interval, and whether it can be trusted."""

    low: float
    high: float
    meaningful: bool
    reason: str = ""
    """Why the interval is not meaningful; empty when it is."""
    n: int = 0
    """Values used after dropping NaNs (for a difference: both samples, or pairs when paired)."""
    n_dropped: int = 0
    """NaN values (or incomplete pairs) left out."""

    def overlaps(self, other: Interval) -> bool | None:
        """Whether the two intervals share a point; None when either is not meaningful."""
        if not (self.meaningful and other.meaningful):
            return None
        return bool(self.low <= other.high and other.low <= self.high)


class Difference(NamedTuple):
    """Point estimate of statistic(a) - statistic(b) and its bootstrap interval."""

    estimate: float
    interval: Interval


def _not_meaningful(reason: str, n: int, n_dropped: int) -> Interval:
    return Interval(float("nan"), float("nan"), False, reason, n, n_dropped)


def _clean(values: ArrayLike) -> tuple[np.ndarray, int]:
    """Values as a flat float array without NaNs, and how many NaNs were dropped."""
    array = np.asarray(values, dtype=float).ravel()
    keep = ~np.isnan(array)
    return array[keep], int(array.size - keep.sum())


def _iqm_along(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(values, 0.25, axis=axis)


def trim_mean_along(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The IQM along one axis of an array (the same cut as iqm(): floor(n / 4) values from each end)."""
    return _iqm_along(values, axis=axis)


_STATISTICS: dict[str, Callable[..., np.ndarray]] = {
    "iqm": _iqm_along,
    "mean": np.mean,
    "median": np.median,
}


def _statistic_fn(statistic: str) -> Callable[..., np.ndarray]:
    try:
        return _STATISTICS[statistic]
    except KeyError:
        raise ValueError(f"statistic must be one of {sorted(_STATISTICS)}, got {statistic!r}") from None


def _check_bootstrap_args(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1; got {n_resamples}")


def _percentile_bootstrap(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., float | np.ndarray],
    *,
    paired: bool,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples, axis=-1)``.

    Unpaired samples are resampled independently of each other (this is what makes the
    stratified bootstrap stratified); paired samples share the resampled indices.
    """
    if all(np.all(sample == sample[0]) for sample in samples):
        # Every resample equals the data, so the interval is exactly the point estimate; say so
        # directly instead of trusting percentiles of a constant to come back bit-identical.
        point = float(statistic(*samples, axis=-1))
        return point, point
    total = sum(sample.size for sample in samples)
    result = stats.bootstrap(
        samples,
        statistic,
        n_resamples=n_resamples,
        batch=max(1, _MAX_BOOTSTRAP_CELLS // total),
        vectorized=True,
        paired=paired,
        axis=-1,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def iqm(values: ArrayLike) -> float:
    """Interquartile mean: mean after cutting floor(n / 4) values from each end; NaNs ignored."""
    clean, _ = _clean(values)
    if clean.size == 0:
        return float("nan")
    return float(_iqm_along(clean))


def bootstrap_ci(
    values: ArrayLike,
    statistic: Statistic = "iqm",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over runs; not meaningful below 3 values."""
    array = np.asarray(values, dtype=float).ravel()
    frame = pd.DataFrame({"value": array, "stratum": np.zeros(array.size)})
    return stratified_bootstrap_ci(frame, "value", "stratum", statistic, confidence, n_resamples, seed)


def stratified_bootstrap_ci(
    frame: pd.DataFrame,
    value_col: str,
    stratum_col: str,
    statistic: Statistic = "iqm",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Bootstrap interval of ``statistic`` over all runs, resampling runs within each stratum.

    Each stratum (e.g. env) keeps its run count in every resample, so the interval reflects
    seed-to-seed noise, not the luck of how many runs each env got. The statistic is taken over
    the pooled runs, so strata with more runs weigh more. Every stratum needs at least 3 runs for
    the interval to be meaningful; a stratum whose values are all NaN is left out.
    """
    _check_bootstrap_args(confidence, n_resamples)
    stat = _statistic_fn(statistic)
    missing = [col for col in (value_col, stratum_col) if col not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} not in frame; it has {list(frame.columns)}")
    values = frame[value_col].astype(float)
    n_dropped = int(values.isna().sum())
    kept = values.dropna()
    strata = frame.loc[kept.index, stratum_col]
    samples = tuple(group.to_numpy() for _, group in kept.groupby(strata, dropna=False, sort=True))
    n = int(kept.size)
    if n < MIN_SEEDS:
        return _not_meaningful(f"fewer than {MIN_SEEDS} seeds", n, n_dropped)
    small = [key for key, group in kept.groupby(strata, dropna=False) if group.size < MIN_SEEDS]
    if small:
        return _not_meaningful(f"fewer than {MIN_SEEDS} seeds in stratum {small[0]}", n, n_dropped)
    if kept.nunique() == 1:
        # Every resample would equal the data: a zero-width interval says "certain", not "unmeasured".
        return _not_meaningful(f"{n} seeds, all {kept.iloc[0]:.3g}: no spread to estimate", n, n_dropped)

    def pooled(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        return stat(np.concatenate(resampled, axis=axis), axis=axis)

    low, high = _percentile_bootstrap(
        samples, pooled, paired=False, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    return Interval(low, high, True, "", n, n_dropped)


def _aligned_pairs(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    """Values of ``a`` and ``b`` for the seeds both have, and how many values were left out."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").astype(float)
        left_out = (a.size - both.shape[0]) + (b.size - both.shape[0])
        first, second = both["a"].to_numpy(), both["b"].to_numpy()
    else:
        first, second = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
        if first.size != second.size:
            raise ValueError(
                f"paired=True needs one value per seed in both samples, got {first.size} and "
                f"{second.size}; pass pandas Series indexed by seed to align them, or use paired=False"
            )
        left_out = 0
    complete = ~(np.isnan(first) | np.isnan(second))
    left_out += 2 * int((~complete).sum())
    return first[complete], second[complete], left_out


def difference_ci(
    a: ArrayLike,
    b: ArrayLike,
    statistic: Statistic = "iqm",
    paired: bool = False,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Difference:
    """Estimate and bootstrap interval of statistic(a) - statistic(b).

    ``paired=True`` means ``a[i]`` and ``b[i]`` ran with the same seed, so seed indices are
    resampled jointly and shared seed luck cancels; the interval is then usually much narrower.
    Pandas Series are paired on their (unique, seed) index; anything else by position. Pairs with
    a NaN on either side are dropped. Unpaired samples are resampled independently.
    """
    _check_bootstrap_args(confidence, n_resamples)
    stat = _statistic_fn(statistic)
    if paired:
        first, second, n_dropped = _aligned_pairs(a, b)
        n = int(first.size)
        too_few = n < MIN_SEEDS
    else:
        (first, dropped_a), (second, dropped_b) = _clean(a), _clean(b)
        n_dropped = dropped_a + dropped_b
        n = int(first.size + second.size)
        too_few = min(first.size, second.size) < MIN_SEEDS
    if first.size == 0 or second.size == 0:
        return Difference(float("nan"), _not_meaningful(f"fewer than {MIN_SEEDS} seeds", n, n_dropped))
    estimate = float(stat(first) - stat(second))
    if too_few:
        return Difference(estimate, _not_meaningful(f"fewer than {MIN_SEEDS} seeds", n, n_dropped))

    def difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return stat(x, axis=axis) - stat(y, axis=axis)

    low, high = _percentile_bootstrap(
        (first, second), difference, paired=paired, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    return Difference(estimate, Interval(low, high, True, "", n, n_dropped))


def auc(steps: ArrayLike, values: ArrayLike) -> float:
    """Normalised area under a learning curve: trapezoid over env steps / step span.

    The result is in return units (the mean of the curve over the steps it covers). Points with a
    NaN step or value are dropped; a single point gives its value; no points give NaN.
    """
    step_array = np.asarray(steps, dtype=float).ravel()
    value_array = np.asarray(values, dtype=float).ravel()
    if step_array.size != value_array.size:
        raise ValueError(f"steps and values must have the same length, got {step_array.size} and {value_array.size}")
    keep = ~(np.isnan(step_array) | np.isnan(value_array))
    order = np.argsort(step_array[keep], kind="stable")
    step_array, value_array = step_array[keep][order], value_array[keep][order]
    if value_array.size == 0:
        return float("nan")
    span = step_array[-1] - step_array[0]
    if span == 0:
        return float(value_array.mean())
    return float(integrate.trapezoid(value_array, step_array) / span)


_SUMMARY_DTYPES = {
    "n": int,
    "n_dropped": int,
    "iqm": float,
    "ci_low": float,
    "ci_high": float,
    "ci_meaningful": bool,
    "ci_reason": str,
    "mean": float,
    "std": float,
    "median": float,
}
SUMMARY_COLUMNS = [*_SUMMARY_DTYPES, "overlaps_best"]


def iqm_ci(values: ArrayLike, confidence: float = 0.95, bounds: tuple[float, float] | None = None) -> Interval:
    """Tukey-McLaughlin (Yuen) interval of the IQM: trimmed mean ± t(h - 1) × winsorised standard error,
    h = n - 2 floor(n / 4) the values kept; clipped to `bounds` (the score's possible range) when given.
    Not meaningful below 3 values, or when all are equal or the kept middle ones tie ("no spread")."""
    _check_bootstrap_args(confidence, 1)
    clean, n_dropped = _clean(values)
    n = int(clean.size)
    if n < MIN_SEEDS:
        return _not_meaningful(f"fewer than {MIN_SEEDS} seeds", n, n_dropped)
    if np.all(clean == clean[0]):
        return _not_meaningful(f"{n} seeds, all {clean[0]:.3g}: no spread to estimate", n, n_dropped)
    ordered = np.sort(clean)
    cut = n // 4
    kept = n - 2 * cut
    # Middle values that tie (0.39, 0.46, 0.46, 0.46, 0.51) winsorise to no spread: a zero-width interval would lie.
    if ordered[cut] == ordered[n - 1 - cut]:
        return _not_meaningful(
            f"{n} seeds whose middle {kept} are all {ordered[cut]:.3g}: no spread to estimate an interval from",
            n,
            n_dropped,
        )
    winsorised = np.clip(ordered, ordered[cut], ordered[n - 1 - cut])
    variance = float(winsorised.var(ddof=1))
    error = math.sqrt((n - 1) * variance / (kept * (kept - 1))) if kept > 1 else math.inf
    half = float(stats.t.ppf(0.5 + confidence / 2, kept - 1)) * error if kept > 1 else math.inf
    centre = float(_iqm_along(clean))
    low, high = centre - half, centre + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(low, high, True, "", n, n_dropped)


def _group_summary(runs: pd.Series, confidence: float, bounds: tuple[float, float] | None) -> pd.Series:
    interval = iqm_ci(runs, confidence, bounds)
    return pd.Series(
        {
            "n": interval.n,
            "n_dropped": interval.n_dropped,
            "iqm": iqm(runs),
            "ci_low": interval.low,
            "ci_high": interval.high,
            "ci_meaningful": interval.meaningful,
            "ci_reason": interval.reason,
            "mean": runs.mean(),
            "std": runs.std(),
            "median": runs.median(),
        }
    )


def summarise(
    frame: pd.DataFrame,
    by: list[str] | str,
    value_col: str,
    confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """One row per group of runs, best IQM first, with the IQM's interval (iqm_ci, clipped to `bounds`).

    Columns: the ``by`` keys, then n (runs with a value), n_dropped (NaN values), iqm, ci_low,
    ci_high, ci_meaningful, ci_reason, mean, std (sample, ddof=1), median, and overlaps_best: whether
    the group's interval overlaps the best group's, as a nullable boolean that is <NA> whenever
    either interval is not meaningful (too few seeds is not evidence of a tie).
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [col for col in [*keys, value_col] if col not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} not in frame; it has {list(frame.columns)}")
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *SUMMARY_COLUMNS])

    # One summary Series per group: a frame, a row per group (the stubs allow a Series too).
    summaries = cast(
        pd.DataFrame,
        frame.assign(**{value_col: frame[value_col].astype(float)})
        .groupby(keys, dropna=False, sort=False)[[value_col]]
        .apply(lambda runs: _group_summary(runs[value_col], confidence, bounds)),
    )
    table = (
        summaries.astype(_SUMMARY_DTYPES)
        .sort_values("iqm", ascending=False, na_position="last", kind="stable")
        .reset_index()
    )
    best = table.iloc[0]
    overlaps = (table["ci_low"] <= best["ci_high"]) & (best["ci_low"] <= table["ci_high"])
    table["overlaps_best"] = pd.array(overlaps, dtype="boolean")
    table.loc[~(table["ci_meaningful"] & best["ci_meaningful"]), "overlaps_best"] = pd.NA
    return table[[*keys, *SUMMARY_COLUMNS]]
