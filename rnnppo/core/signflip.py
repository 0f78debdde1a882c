"""The exact sign-flip (paired permutation) test of a mean of per-seed differences against 0: under "no
difference" each difference is as likely to have either sign, so its false-claim rate is at most its level
for any score, bounded or bimodal. Shared by the report's comparisons (rnnppo/results/paired.py) and the
race's looks (rnnppo/core/sequential.py)."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

EXACT_LIMIT = 14
"""Up to this many pairs the sign-flip test enumerates all 2^n sign vectors (16,384 at 14)."""
RANDOM_FLIPS = 20_000
"""Random sign vectors beyond EXACT_LIMIT pairs (p's own Monte Carlo error is then below 0.002 at 0.05)."""


@lru_cache(maxsize=32)
def signs_for(n: int) -> np.ndarray:
    """[2^n, n] every sign vector for n <= EXACT_LIMIT; [RANDOM_FLIPS, n] random ones (fixed seed) beyond."""
    if n <= EXACT_LIMIT:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    rng = np.random.default_rng(20_211_207)
    return rng.choice((1.0, -1.0), size=(RANDOM_FLIPS, n))


def sign_flip_p(diffs: np.ndarray, alternative: str = "two-sided") -> float:
    """Sign-flip p of the mean of `diffs` against 0: "two-sided", "greater" (mean > 0) or "less".

    Exact (every sign vector) up to EXACT_LIMIT values, the identity included so p >= 1 / 2^n; beyond,
    (k + 1) / (B + 1) over B random sign vectors. Never 0; NaN without values."""
    diffs = np.asarray(diffs, dtype=float)
    n = diffs.size
    if n == 0:
        return math.nan
    signs = signs_for(n)
    flipped = signs @ diffs  # [B] sums under each sign vector
    observed = float(diffs.sum())
    slack = 1e-9 * max(float(np.abs(diffs).sum()), 1e-300)  # equal sums must count as "as extreme"
    if alternative == "two-sided":
        hits = np.abs(flipped) >= abs(observed) - slack
    elif alternative == "greater":
        hits = flipped >= observed - slack
    elif alternative == "less":
        hits = flipped <= observed + slack
    else:
        raise ValueError(f"alternative must be two-sided, greater or less; got {alternative!r}")
    count = int(hits.sum())
    if n <= EXACT_LIMIT:
        return count / signs.shape[0]
    return (count + 1) / (signs.shape[0] + 1)
