"""Paired comparisons of configurations that ran on the same seeds: the exact sign-flip test, its
interval, equivalence within a margin, Holm's correction, ranks, probability of improvement, and how many
seeds a stated smallest effect needs.

Every configuration of a sweep trains on the same seed numbers, so seed i of one configuration is
compared with seed i of another: shared luck (the env's random stream, the initial weights' seed)
cancels in the difference. The rules, and why:

* **Test**: an exact sign-flip (paired permutation) test of the mean per-seed difference over the seeds
  both configurations finished (two-sided, α = 0.05). Under "no difference" each difference is as likely
  to have either sign, so the test's false-claim rate is at most α for any score: bounded, discrete,
  bimodal success/fail, with 3 seeds or 30 (benchmarks/calibration.py measures it). The price is a floor:
  with n seeds no two-sided p goes below 2 / 2^n (0.25 at 3 seeds, 0.0625 at 5, 0.031 at 6), so a claim
  at α = 0.05 needs 6 or more seeds, more under Holm. A t-test would claim more at 3-5 seeds, but not at
  its stated error rate for such scores (it calls (0.1, 0.1, 0.1) a certain difference: p = 0).
  Up to EXACT_LIMIT pairs every sign vector is enumerated; beyond, RANDOM_FLIPS random ones, with
  p = (k + 1) / (B + 1). p is never 0.
* **Interval**: the set of shifts the same test does not reject (the inverted sign-flip test), so it
  covers the true mean difference at 95% whenever the test holds its α, and agrees with the test: it
  excludes 0 exactly when p < α. Below 6 seeds no shift can be rejected, so it is unbounded, and is then
  reported clipped to what the score can take (a success rate's difference lies in [-1, 1]) or as
  "unbounded".
* **Tie**: every difference exactly zero (the configurations trained bit-identically, e.g. a swept
  setting that does nothing). A tie shares the rank.
* **Equivalence** ("not worse"): two one-sided sign-flip tests that the mean difference is above -D and
  below +D, D the stated smallest effect worth detecting (--min-effect). Without it, "not shown worse".
* **Too few**: below MIN_PAIRS pairs no test is made ("? (2 seeds)"), except that identical scores
  are still a tie.
* Comparisons of several configurations against the best are Holm-corrected (step-down
  Bonferroni: controls the chance of any false "worse" at α without assuming independence).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from rnnppo.core.signflip import EXACT_LIMIT, RANDOM_FLIPS, sign_flip_p, signs_for

ALPHA = 0.05
POWER = 0.8
MIN_PAIRS = 3
"""Fewest pairs (seeds both configurations finished) a test is made on."""
RELATIVE_TOLERANCE = 1e-9
"""Differences within this share of the scores' size count as equal: a shift of 0.25 added in floating
point comes back as 0.25 ± 1e-16, which is no spread."""
MAX_SEEDS_NEEDED = 1000
"""Planned seed counts above this are reported as 'more than 1000'."""

TIE, SIGN_FLIP, TOO_FEW = "tie", "exact sign-flip test", "too few seeds"
MONTE_CARLO = "sign-flip test (20,000 random flips)"


@dataclass(frozen=True)
class PairedTest:
    """Configuration a against b, seed by seed: the mean of a - b, its interval and the test's p."""

    n: int
    """Pairs: the seeds both finished."""
    kind: str
    """TIE, SIGN_FLIP (or MONTE_CARLO beyond EXACT_LIMIT pairs) or TOO_FEW."""
    mean_diff: float
    """Mean of a - b over the pairs (the effect size); NaN without pairs."""
    low: float
    """95% interval of the mean difference: the shifts the sign-flip test does not reject, clipped to
    `bound` (-inf / +inf when unbounded and no bound is known); NaN below MIN_PAIRS pairs."""
    high: float
    sd: float
    """Sample standard deviation of the differences (NaN below 2 pairs)."""
    p: float
    """Two-sided p of the sign-flip test (1 for a tie, NaN: too few); never 0."""
    prob_improvement: float
    """P(a > b): the chance that a seed of a scores above a seed of b (ties count half; rliable's
    probability of improvement, over all seed pairs); NaN without values."""
    bound: float = math.inf
    """The largest |difference| the score allows (1 for a success rate); inf when unknown."""

    @property
    def decided(self) -> bool:
        """Whether the test says anything (a tie, or MIN_PAIRS or more pairs)."""
        return self.kind != TOO_FEW

    @property
    def p_floor(self) -> float:
        """The smallest two-sided p this many pairs allow: 2 / 2^n."""
        return min(1.0, 2.0 * 0.5**self.n) if self.n else math.nan

    def interval_text(self) -> str:
        """The effect's interval as a reader should see it: never a silent zero-width or open interval."""
        if self.kind == TIE:
            return f"identical on {_seeds(self.n)}"
        if self.kind == TOO_FEW:
            return f"n/a ({_seeds(self.n)}; a test needs {MIN_PAIRS})"
        if self.p_floor > ALPHA:
            floor = f"{_seeds(self.n)}: no exact p below {self.p_floor:.2g}"
            if math.isfinite(self.bound):
                return f"[{self.low:+.3g}, {self.high:+.3g}] (the whole range: {floor})"
            return f"unbounded ({floor})"
        low = "-inf" if math.isinf(self.low) else f"{self.low:+.3g}"
        high = "+inf" if math.isinf(self.high) else f"{self.high:+.3g}"
        return f"[{low}, {high}]"


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def pairs(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values of a and b (Series indexed by seed) on the seeds both have with a finite value."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").astype(float).dropna()
    return both["a"].to_numpy(), both["b"].to_numpy()


def sign_flip_interval(
    diffs: np.ndarray, confidence: float = 1 - ALPHA, bound: float = math.inf
) -> tuple[float, float]:
    """The shifts d0 for which the two-sided sign-flip test of diffs - d0 has p > 1 - confidence, as
    [low, high], clipped to [-bound, bound]. Unbounded (±inf, or ±bound) when even an infinite shift keeps
    p above alpha (fewer than 6 values at 95%)."""
    diffs = np.asarray(diffs, dtype=float)
    alpha = 1 - confidence
    mean = float(diffs.mean())
    spread = float(np.ptp(diffs)) or max(abs(mean), 1.0)
    far = abs(mean) + 1e6 * spread
    if sign_flip_p(diffs - far) > alpha:  # an infinite shift is not rejected: the floor is above alpha
        return -bound, bound
    if diffs.size <= SCAN_LIMIT:
        low, high = _scanned(diffs, alpha)
    else:
        low, high = _edge(diffs, mean, mean - far, alpha), _edge(diffs, mean, mean + far, alpha)
    return max(-bound, low), min(bound, high)


SCAN_LIMIT = 10
"""Up to this many values the interval is the exact hull of the shifts the test keeps (every breakpoint
checked: p only changes where a shifted sum can tie, at means of subsets of the values); beyond, bisection."""


def _scanned(diffs: np.ndarray, alpha: float) -> tuple[float, float]:
    """[lowest, highest] shift the exact two-sided sign-flip test keeps. p(shift) is not monotone in the
    shift for discrete scores, so a bisection can stop inside a gap; this checks every breakpoint (the
    means of subsets of `diffs`) and the midpoints between them."""
    signs = signs_for(diffs.size)  # [2^n, n]
    chosen = signs < 0  # [2^n, n] every subset
    counts = chosen.sum(axis=1)
    breaks = np.unique((chosen @ diffs)[counts > 0] / counts[counts > 0])
    points = np.concatenate([breaks, (breaks[1:] + breaks[:-1]) / 2])  # [P]
    flipped = (signs @ diffs)[:, None] - signs.sum(axis=1)[:, None] * points[None, :]  # [2^n, P]
    observed = diffs.sum() - diffs.size * points  # [P]
    slack = 1e-9 * max(float(np.abs(diffs).sum()), 1e-300)
    p = (np.abs(flipped) >= np.abs(observed)[None, :] - slack).mean(axis=0)  # [P]
    kept = points[p > alpha]
    return float(kept.min()), float(kept.max())


def _edge(diffs: np.ndarray, inside: float, outside: float, alpha: float) -> float:
    """Bisection between a shift the test keeps (`inside`) and one it rejects (`outside`)."""
    for _ in range(40):  # 2^-40 of the starting bracket: far below any printed digit
        middle = (inside + outside) / 2
        if sign_flip_p(diffs - middle) > alpha:
            inside = middle
        else:
            outside = middle
    return inside


EXACT_SPLITS = 50_000
"""Up to this many splits the two-sample test enumerates them all (C(16, 8) = 12,870)."""


def two_sample_p(a: np.ndarray | pd.Series, b: np.ndarray | pd.Series, seed: int = 0) -> float:
    """Two-sided p of "the runs of a and of b come from one distribution", by the difference of their means
    over the splits of the pooled runs into groups of len(a) and len(b): every split up to EXACT_SPLITS, else
    RANDOM_FLIPS random ones (p = (k + 1) / (B + 1)). For groups that are not paired seed by seed (e.g. all
    the runs of the values below a threshold against those above it). Runs that share seeds are positively
    correlated, which makes this test conservative. NaN below 2 runs a side."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan
    pooled = np.concatenate([x, y])
    observed = abs(x.mean() - y.mean())
    if observed <= RELATIVE_TOLERANCE * max(float(np.abs(pooled).max()), 1e-300):
        return 1.0
    total = pooled.sum()
    if math.comb(len(pooled), len(x)) <= EXACT_SPLITS:
        chosen = np.array(list(itertools.combinations(range(len(pooled)), len(x))))
        extra = 0
    else:
        chosen = np.random.default_rng(seed).random((RANDOM_FLIPS, len(pooled))).argsort(axis=1)[:, : len(x)]
        extra = 1
    first = pooled[chosen].sum(axis=1)
    differences = np.abs(first / len(x) - (total - first) / len(y))
    return float(((differences >= observed * (1 - 1e-9)).sum() + extra) / (len(differences) + extra))


def prob_improvement(a: np.ndarray, b: np.ndarray) -> float:
    """P(X > Y) for X a seed of a and Y a seed of b, over every pair of seeds (ties count half): the
    probability of improvement of Agarwal et al. (rliable), a Mann-Whitney U / (n_a n_b)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return math.nan
    greater = (a[:, None] > b[None, :]).mean()
    equal = (a[:, None] == b[None, :]).mean()
    return float(greater + 0.5 * equal)


def paired_test(a: pd.Series, b: pd.Series, confidence: float = 1 - ALPHA, bound: float = math.inf) -> PairedTest:
    """a against b, paired by seed (the Series' index); see the module docstring for the rules. `bound`:
    the largest |a - b| the score allows (the interval is clipped to it)."""
    first, second = pairs(a, b)
    diffs = first - second  # [n]
    n = int(diffs.size)
    nan = math.nan
    if n == 0:
        return PairedTest(0, TOO_FEW, nan, nan, nan, nan, nan, nan, bound)
    tolerance = RELATIVE_TOLERANCE * float(max(np.abs(first).max(), np.abs(second).max(), 1e-300))
    diffs = np.where(np.abs(diffs) <= tolerance, 0.0, diffs)
    mean = float(diffs.mean())
    sd = float(diffs.std(ddof=1)) if n >= 2 else nan
    improvement = prob_improvement(first, second)
    if np.all(diffs == 0):
        return PairedTest(n, TIE, 0.0, 0.0, 0.0, 0.0 if n >= 2 else nan, 1.0, improvement, bound)
    if n < MIN_PAIRS:
        return PairedTest(n, TOO_FEW, mean, nan, nan, sd, nan, improvement, bound)
    low, high = sign_flip_interval(diffs, confidence, bound)
    kind = SIGN_FLIP if n <= EXACT_LIMIT else MONTE_CARLO
    return PairedTest(n, kind, mean, low, high, sd, sign_flip_p(diffs), improvement, bound)


def equivalent(a: pd.Series, b: pd.Series, margin: float, alpha: float = ALPHA) -> tuple[bool, float]:
    """Whether a - b is shown to lie within ±margin (two one-sided sign-flip tests, each at alpha), and
    the larger of their two p values. Never shown below MIN_PAIRS pairs, nor with 4 or fewer (the one-sided
    floor 1 / 2^n stays above 0.05); identical scores are equivalent within any margin."""
    first, second = pairs(a, b)
    diffs = first - second
    if diffs.size and np.all(diffs == 0):
        return True, 0.0
    if diffs.size < MIN_PAIRS or not math.isfinite(margin) or margin <= 0:
        return False, math.nan
    p = max(sign_flip_p(diffs + margin, "greater"), sign_flip_p(diffs - margin, "less"))
    return bool(p < alpha), p


def holm(p_values: list[float], family: int | None = None) -> list[float]:
    """Holm-adjusted p-values (same order); NaN entries stay NaN and do not count in the family.

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i), capped at 1, and kept
    at least as large as the one before it; a hypothesis is rejected when its adjusted p < α. `family`:
    a larger family the given p-values were picked from (e.g. every pair of configurations, when only
    the pairs with the data-chosen highest one are tested): m is then that size, which is conservative."""
    values = np.asarray(p_values, dtype=float)
    out = np.full(values.shape, math.nan)
    finite = np.flatnonzero(~np.isnan(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    m = max(order.size, family or 0)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        out[index] = running
    return out.tolist()


def power(n: int, effect: float, alpha: float = ALPHA) -> float:
    """Power of a two-sided paired t-test with n pairs for a standardised effect (mean / sd of the
    differences), from the noncentral t distribution; the sign-flip test's power is close to it once
    its floor 2 / 2^n is below alpha (Lehmann & Romano, ch. 15)."""
    if n < 2:
        return 0.0
    df = n - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    shift = abs(effect) * math.sqrt(n)
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def floor_seeds(alpha: float = ALPHA, comparisons: int = 1) -> int:
    """Fewest pairs for which the exact two-sided sign-flip test can reach alpha / comparisons (Holm's
    first step): 2 / 2^n <= alpha / m; 6 for one comparison at 0.05, 7 for two, 8 for four."""
    return max(MIN_PAIRS, math.ceil(math.log2(2 * max(comparisons, 1) / alpha)))


def seeds_needed(
    min_effect: float, sd: float, alpha: float = ALPHA, target: float = POWER, comparisons: int = 1
) -> int | None:
    """Seeds needed to detect a true difference of `min_effect` (the smallest difference worth detecting,
    stated in advance, not the observed one) with `target` power, given the spread `sd` of the per-seed
    differences, at alpha / comparisons: the t-test's planned n, and never fewer than the sign-flip
    test's floor. None when min_effect or sd is unknown; MAX_SEEDS_NEEDED + 1 for 'more than that'."""
    if not (math.isfinite(min_effect) and min_effect > 0 and math.isfinite(sd)):
        return None
    floor = floor_seeds(alpha, comparisons)
    if sd == 0:
        return floor
    level = alpha / max(comparisons, 1)
    effect = min_effect / sd
    z_n = ((stats.norm.ppf(1 - level / 2) + stats.norm.ppf(target)) / effect) ** 2
    if z_n > MAX_SEEDS_NEEDED:
        return MAX_SEEDS_NEEDED + 1
    for n in range(max(floor, math.floor(z_n)), MAX_SEEDS_NEEDED + 1):
        if power(n, effect, level) >= target:
            return n
    return MAX_SEEDS_NEEDED + 1


def seeds_needed_text(needed: int | None) -> str:
    if needed is None:
        return "–"
    return f">{MAX_SEEDS_NEEDED}" if needed > MAX_SEEDS_NEEDED else str(needed)


def shared_ranks(order: list[str], scores: dict[str, pd.Series], iqms: dict[str, float] | None = None) -> list[int]:
    """Competition ranks (1, 1, 3, ...) for configurations in `order` (best first): a configuration shares
    the rank of the one before it when their per-seed scores are identical (a TIE) or their IQMs are equal."""
    ranks: list[int] = []
    for position, key in enumerate(order):
        before = order[position - 1] if position else None
        same_iqm = (
            before is not None
            and iqms is not None
            and math.isclose(iqms[key], iqms[before], rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
        )
        if before is not None and (same_iqm or paired_test(scores[key], scores[before]).kind == TIE):
            ranks.append(ranks[-1])
        else:
            ranks.append(position + 1)
    return ranks


PERMUTATIONS = 2_000
"""Random within-seed permutations for permutation_differ_p."""


def permutation_differ_p(matrix: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0) -> float:
    """p of "the configurations' scores do not differ beyond the seed spread": a permutation test that
    shuffles each seed's scores across configurations (the rows of `matrix` [configs, seeds], every seed
    complete) and compares the spread of the configuration means, sum_c (mean_c - grand mean)^2, with the
    observed one; p = (k + 1) / (B + 1). NaN below 2 configurations or MIN_PAIRS seeds."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < MIN_PAIRS or not np.isfinite(matrix).all():
        return math.nan

    def spread(values: np.ndarray) -> np.ndarray:  # [..., configs, seeds] -> [...]
        means = values.mean(axis=-1)
        return ((means - means.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)

    observed = float(spread(matrix))
    if observed <= RELATIVE_TOLERANCE * max(float(np.abs(matrix).max()), 1e-300) ** 2:
        return 1.0
    rng = np.random.default_rng(seed)
    order = rng.random((permutations, *matrix.shape)).argsort(axis=1)  # [B, configs, seeds]
    shuffled = np.take_along_axis(np.broadcast_to(matrix, order.shape), order, axis=1)
    count = int((spread(shuffled) >= observed * (1 - 1e-9)).sum())
    return (count + 1) / (permutations + 1)
