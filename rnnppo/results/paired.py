"""Paired comparisons of configurations that ran on the same seeds: the test, Holm's correction, ties,
ranks, and how many seeds a difference of the observed size would need.

Every configuration of a sweep trains on the same seed numbers, so seed i of one configuration is
compared with seed i of another: shared luck (the env's random stream, the initial weights' seed)
cancels in the difference. The rules, and why:

* **Test**: a paired t-test on the per-seed differences over the seeds both configurations finished
  (two-sided, α = 0.05). With 3-10 seeds it has more power than a rank or sign test (an exact sign
  test cannot reach p < 0.05 with fewer than 6 seeds), and its interval is the effect size's.
* **Tie**: every difference exactly zero (the configurations trained bit-identically, e.g. a swept
  setting that does nothing). A tie shares the rank; nothing else does.
* **Consistent difference**: every difference equal and non-zero (deterministic scores, e.g. a
  success rate that is 1.0 on every seed against 0.5). The t statistic is unbounded there (zero
  spread), so the t-test's p is its limit 0: significant with 3 or more pairs. The exact sign test's
  p (which ignores the size: 0.25 for 3 seeds, 0.0625 for 5) is reported beside it.
* **Too few**: below MIN_PAIRS pairs no test is made ("? (2 seeds)"), except that identical scores
  are still a tie.
* Comparisons of several configurations against the best are Holm-corrected (step-down
  Bonferroni: controls the chance of any false "worse" at α without assuming independence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
POWER = 0.8
MIN_PAIRS = 3
"""Fewest pairs (seeds both configurations finished) a test is made on."""
RELATIVE_TOLERANCE = 1e-9
"""Differences within this share of the scores' size count as equal: a shift of 0.25 added in floating
point comes back as 0.25 ± 1e-16, which is no spread, not a t-test's catastrophic cancellation."""
MAX_SEEDS_NEEDED = 1000
"""Power estimates above this many seeds are reported as 'more than 1000'."""

TIE, CONSISTENT, T_TEST, TOO_FEW = "tie", "consistent difference", "paired t-test", "too few seeds"


@dataclass(frozen=True)
class PairedTest:
    """Configuration a against b, seed by seed: the mean of a - b, its t interval and the test's p."""

    n: int
    """Pairs: the seeds both finished."""
    kind: str
    """TIE, CONSISTENT, T_TEST or TOO_FEW (see the module docstring)."""
    mean_diff: float
    """Mean of a - b over the pairs (the effect size); NaN without pairs."""
    low: float
    """95% t interval of the mean difference (equal to it for a tie or a consistent difference); NaN
    with fewer than MIN_PAIRS pairs."""
    high: float
    sd: float
    """Sample standard deviation of the differences (NaN below 2 pairs)."""
    p: float
    """Two-sided p of the paired t-test (1 for a tie, 0 for a consistent difference, NaN: too few)."""
    sign_p: float
    """Exact two-sided sign-test p over the non-zero differences (NaN without any)."""

    @property
    def decided(self) -> bool:
        """Whether the test says anything (a tie, or MIN_PAIRS or more pairs)."""
        return self.kind != TOO_FEW

    def interval_text(self) -> str:
        """The effect's interval as a reader should see it: never a silent zero-width interval."""
        if self.kind == TIE:
            return f"identical on {_seeds(self.n)}"
        if self.kind == TOO_FEW:
            return f"n/a ({_seeds(self.n)}; a test needs {MIN_PAIRS})"
        if self.kind == CONSISTENT:
            return f"no spread: {self.mean_diff:+.3g} on all {self.n} seeds"
        return f"[{self.low:+.3g}, {self.high:+.3g}]"


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def pairs(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values of a and b (Series indexed by seed) on the seeds both have with a finite value."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").astype(float).dropna()
    return both["a"].to_numpy(), both["b"].to_numpy()


def sign_test_p(diffs: np.ndarray) -> float:
    """Exact two-sided sign test over the non-zero differences; NaN when all are zero."""
    nonzero = diffs[diffs != 0]
    if nonzero.size == 0:
        return math.nan
    positive = int((nonzero > 0).sum())
    return float(stats.binomtest(positive, nonzero.size, 0.5).pvalue)


def paired_test(a: pd.Series, b: pd.Series, confidence: float = 1 - ALPHA) -> PairedTest:
    """a against b, paired by seed (the Series' index); see the module docstring for the rules."""
    first, second = pairs(a, b)
    diffs = first - second  # [n]
    n = int(diffs.size)
    nan = math.nan
    if n == 0:
        return PairedTest(0, TOO_FEW, nan, nan, nan, nan, nan, nan)
    tolerance = RELATIVE_TOLERANCE * float(max(np.abs(first).max(), np.abs(second).max(), 1e-300))
    diffs = np.where(np.abs(diffs) <= tolerance, 0.0, diffs)
    mean = float(diffs.mean())
    sd = float(diffs.std(ddof=1)) if n >= 2 else nan
    sign_p = sign_test_p(diffs)
    if np.all(diffs == 0):
        return PairedTest(n, TIE, 0.0, 0.0, 0.0, 0.0 if n >= 2 else nan, 1.0, sign_p)
    if n < MIN_PAIRS:
        return PairedTest(n, TOO_FEW, mean, nan, nan, sd, nan, sign_p)
    if np.ptp(diffs) <= tolerance:
        return PairedTest(n, CONSISTENT, mean, mean, mean, 0.0, 0.0, sign_p)
    result = stats.ttest_1samp(diffs, 0.0)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return PairedTest(n, T_TEST, mean, mean - half, mean + half, sd, float(result.pvalue), sign_p)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (same order); NaN entries stay NaN and do not count in the family.

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i), capped at 1, and kept
    at least as large as the one before it; a hypothesis is rejected when its adjusted p < α."""
    values = np.asarray(p_values, dtype=float)
    out = np.full(values.shape, math.nan)
    finite = np.flatnonzero(~np.isnan(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        out[index] = running
    return out.tolist()


def power(n: int, effect: float, alpha: float = ALPHA) -> float:
    """Power of a two-sided paired t-test with n pairs for a standardised effect (mean / sd of the
    differences), from the noncentral t distribution."""
    if n < 2:
        return 0.0
    df = n - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    shift = abs(effect) * math.sqrt(n)
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def seeds_needed(mean_diff: float, sd: float, alpha: float = ALPHA, target: float = POWER) -> int | None:
    """Seeds a paired t-test needs to detect a difference of this size with `target` power; None when
    there is no difference to detect (zero or unknown), MAX_SEEDS_NEEDED + 1 for 'more than that'.

    The observed difference of a few seeds is a noisy (and, for the configuration picked as best,
    optimistic) estimate of the true one, so this is a guide to how many seeds to run next, not a
    promise."""
    if not math.isfinite(mean_diff) or mean_diff == 0 or not math.isfinite(sd):
        return None
    if sd == 0:
        return MIN_PAIRS
    effect = abs(mean_diff / sd)
    # The z-test's n is a lower bound for the t-test's (the t distribution has heavier tails): start there.
    z_n = ((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target)) / effect) ** 2
    if z_n > MAX_SEEDS_NEEDED:
        return MAX_SEEDS_NEEDED + 1
    for n in range(max(MIN_PAIRS, math.floor(z_n)), MAX_SEEDS_NEEDED + 1):
        if power(n, effect, alpha) >= target:
            return n
    return MAX_SEEDS_NEEDED + 1


def seeds_needed_text(needed: int | None) -> str:
    if needed is None:
        return "–"
    return f">{MAX_SEEDS_NEEDED}" if needed > MAX_SEEDS_NEEDED else str(needed)


def shared_ranks(order: list[str], scores: dict[str, pd.Series]) -> list[int]:
    """Competition ranks (1, 1, 3, ...) for configurations in `order` (best first): a configuration
    shares the rank of the one before it only when their per-seed scores are identical (a TIE)."""
    ranks: list[int] = []
    for position, key in enumerate(order):
        if position and paired_test(scores[key], scores[order[position - 1]]).kind == TIE:
            ranks.append(ranks[-1])
        else:
            ranks.append(position + 1)
    return ranks
