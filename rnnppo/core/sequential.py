"""The sequential rule of a raced sweep (`--seeds MIN..MAX`): after each seed, which configurations stop.

Every configuration runs on the same seeds 0, 1, 2, ...; a look is made when all open configurations
have finished n seeds (n = MIN, MIN+1, ..., MAX). At each look the *leader* is the open configuration
with the highest mean over those n seeds, and each other open configuration j gets a **repeated
confidence interval** (Jennison & Turnbull) of its paired mean difference to the leader (per-seed
differences over the n shared seeds, a t interval with a group-sequential critical value):

* `min_effect` D is given and the interval lies inside (-D, +D): j **stops, equivalent** within ±D;
* else, the interval lies wholly below 0: j **stops, worse** than the leader ("worse than X by d, CI ...");
* otherwise j stays open and gets the next seed. At MAX seeds the open ones end "not separated".

**Error control.** The critical values make the intervals hold *simultaneously*: with probability at
least 1 - α every interval of every pair at every look covers that pair's true mean difference, so
the chance of any false claim (a "worse" that is not, an "equivalent" that is not) over the whole race
is at most α. Two parts:

* over configurations, a Bonferroni split of α over all K(K-1)/2 pairs (the leader is picked by the
  data, so any pair may be the one compared);
* over the looks n = MIN..MAX of one pair, a Wang-Tsiatis boundary c_n = C (MAX / n)^SHAPE on the
  look's t statistic, compared as the normal quantile of its t p-value (SHAPE 0: Pocock, the same
  nominal level at every look; 0.5: O'Brien-Fleming, very strict early, near the fixed design's at
  the end). C is the value that the t statistics of per-seed differences with mean 0 cross at some
  look with probability α / pairs, found by simulating PATHS races with a fixed seed (the same C every
  time), for normal differences and for the difference of two uniform scores, whichever needs the
  larger C: small-sample t statistics of light-tailed (bounded) differences run large, and normal
  calibration alone gave bounded-score A/A races 5.2% false claims. So the intervals hold, up to the
  simulation's precision, for normal per-seed differences whatever their spread, and at least as well
  for triangular ones.

**What it cannot do.** At small n the t quantile is large: with MIN = 3 only a difference many times
its seed-to-seed spread stops at the first look (`smallest_stop` says how many). Differences with no
spread (every seed the same difference, common with success/fail scores) give no t interval; they
count only once the exact sign-flip test could reach the look's level (2^(1-n) <= level), so two
configurations raced on 3..10 seeds at α = 0.05 stop on a deterministic difference at seed 8 at the
earliest. The intervals are calibrated on normal and triangular per-seed differences; for other
bounded and for success/fail scores their error rate is measured in benchmarks/racing.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnnppo.core.signflip import sign_flip_p

ALPHA = 0.05
SHAPE = 0.25
"""Wang-Tsiatis shape of the boundary over looks: between Pocock (0) and O'Brien-Fleming (0.5)."""
PATHS = 200_000
"""Simulated races that fix the boundary's constant (its level is within ~5% of α / pairs)."""
TOLERANCE = 1e-9
"""Per-seed differences within this share of the scores' size count as equal (floating-point noise)."""

OPEN, LEADER, WORSE, EQUIVALENT, UNSEPARATED = "open", "leader", "worse", "equivalent", "not separated"
BETTER = "better"
"""Shown above a leader chosen elsewhere (`versus_leader`); a grid race's leader is the best, so never there."""
STOPPED = (WORSE, EQUIVALENT)


@dataclass(frozen=True)
class RaceDesign:
    """How a race is planned: seeds from `min_seeds` to `max_seeds`, `configs` configurations."""

    min_seeds: int
    max_seeds: int
    configs: int
    alpha: float = ALPHA
    min_effect: float | None = None
    """D in score units: an interval inside (-D, +D) stops a configuration as equivalent; None: never."""
    shape: float = SHAPE

    @property
    def pairs(self) -> int:
        return max(1, self.configs * (self.configs - 1) // 2)

    @property
    def looks(self) -> range:
        return range(self.min_seeds, self.max_seeds + 1)

    def level(self, n: int) -> float:
        """The nominal two-sided level of one pair's interval at the look with n seeds."""
        return _level(self, n)

    def critical_t(self, n: int) -> float:
        """The t critical value (n - 1 degrees of freedom) of the look with n seeds."""
        return _critical_t(self, n)

    def smallest_stop(self, n: int) -> float:
        """The smallest |mean difference| / sd of the differences that can stop a configuration at n seeds."""
        return self.critical_t(n) / math.sqrt(n)


@functools.lru_cache(maxsize=4096)
def _level(design: RaceDesign, n: int) -> float:
    constant = _boundary_constant(design.min_seeds, design.max_seeds, design.alpha / design.pairs, design.shape)
    z = constant * (design.max_seeds / n) ** design.shape
    from scipy import stats  # here, not at the top: a sweep worker imports this module and seldom races

    return float(2 * stats.norm.sf(z))


@functools.lru_cache(maxsize=4096)
def _critical_t(design: RaceDesign, n: int) -> float:
    from scipy import stats

    return float(stats.t.isf(_level(design, n) / 2, n - 1))


@functools.lru_cache(maxsize=64)
def _boundary_constant(min_seeds: int, max_seeds: int, alpha: float, shape: float) -> float:
    """C such that the t statistics of a race on per-seed differences with mean 0 cross the boundary
    at some look n in MIN..MAX with probability at most `alpha` (simulated, fixed seed), for normal
    differences and for differences of two uniform scores (triangular: the light-tailed end of
    continuous bounded scores, where small-sample t statistics run large): the larger of the two C.
    A look's t statistic is compared as the normal quantile of its t p-value ("z-equivalent") with
    C (MAX/n)^shape."""
    rng = np.random.default_rng(20261207)
    normal = rng.standard_normal((PATHS, max_seeds))  # [paths, seeds]
    triangular = rng.uniform(size=(PATHS, max_seeds)) - rng.uniform(size=(PATHS, max_seeds))  # [paths, seeds]
    return max(_crossing_quantile(diffs, min_seeds, alpha, shape) for diffs in (normal, triangular))


def _crossing_quantile(diffs: np.ndarray, min_seeds: int, alpha: float, shape: float) -> float:
    """The 1 - alpha quantile over paths of max over looks of z-equivalent * (n/MAX)^shape; diffs [paths, seeds]."""
    from scipy import stats  # here, not at the top: a sweep worker imports this module and seldom races

    paths, max_seeds = diffs.shape
    sums, squares = np.cumsum(diffs, axis=1), np.cumsum(diffs**2, axis=1)  # [paths, seeds]
    worst = np.zeros(paths)  # [paths]
    for n in range(max(2, min_seeds), max_seeds + 1):
        mean = sums[:, n - 1] / n
        variance = np.maximum(squares[:, n - 1] - n * mean**2, 1e-300) / (n - 1)
        t = np.abs(mean) / np.sqrt(variance / n)
        z = stats.norm.isf(np.maximum(stats.t.sf(t, n - 1), 1e-300))
        worst = np.maximum(worst, z * (n / max_seeds) ** shape)
    return float(np.quantile(worst, 1 - alpha))


@dataclass(frozen=True)
class Interval:
    """One configuration minus the leader over n shared seeds, with the look's corrected interval."""

    n: int
    diff: float
    low: float
    high: float
    exact_p: float = math.nan
    """The exact sign-flip test's two-sided p over the same differences (rnnppo.core.signflip), uncorrected:
    said beside a stop that rests on the t interval alone."""

    def text(self) -> str:
        if self.low == self.high:
            return f"{self.diff:+.3g} on all {self.n} seeds"
        if math.isinf(self.low):
            return (
                f"{self.diff:+.3g} on all {self.n} seeds; no interval: no spread, and too few seeds for the exact test"
            )
        return f"{self.diff:+.3g}, CI [{self.low:+.3g}, {self.high:+.3g}]"


def interval(diffs: Sequence[float], design: RaceDesign, scale: float = 1.0) -> Interval:
    """The corrected interval of the mean of per-seed differences at the look with len(diffs) seeds.

    With no spread among the differences (all equal), the interval is that value only once an exact
    sign-flip test could reach the look's level; before that it is unbounded."""
    values = np.asarray(diffs, dtype=float)  # [n]
    n = int(values.size)
    mean = float(values.mean())
    level = design.level(n)
    exact = sign_flip_p(values)
    if np.ptp(values) <= TOLERANCE * max(scale, 1e-300):
        if 2.0 ** (1 - n) <= level:
            return Interval(n, mean, mean, mean, exact)
        return Interval(n, mean, -math.inf, math.inf, exact)
    half = design.critical_t(n) * float(values.std(ddof=1)) / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half, exact)


@dataclass(frozen=True)
class Decision:
    """Where one configuration stands after a look."""

    status: str
    """LEADER, OPEN, WORSE, EQUIVALENT, or UNSEPARATED (open when MAX seeds were reached)."""
    seeds: int
    leader: str | None = None
    versus: Interval | None = None

    @property
    def stopped(self) -> bool:
        return self.status in STOPPED

    def _exact_note(self) -> str:
        """Where the exact sign-flip test over the same seeds could not claim what the t interval did (a success
        rate with tied seeds, or too few seeds for its floor): said, so the claim's basis is on the line."""
        p = self.versus.exact_p if self.versus is not None else math.nan
        if math.isnan(p) or p < ALPHA:
            return ""
        return f" (a claim of the t interval: the exact sign-flip test over these {self.seeds} seeds gives p = {p:.2g})"

    def reason(self, design: RaceDesign) -> str:
        """Why it stopped (or did not), as the live table and the final report say it."""
        versus = self.versus.text() if self.versus is not None else ""
        if self.status == WORSE:
            return f"stopped after {self.seeds} seeds: worse than {self.leader} by {versus}" + self._exact_note()
        if self.status == EQUIVALENT:
            within = f"±{design.min_effect:g}"
            return f"stopped after {self.seeds} seeds: equivalent to {self.leader} within {within} ({versus})"
        if self.status == LEADER:
            return f"leader after {self.seeds} seeds"
        if self.status == UNSEPARATED:
            return f"{self.seeds} seeds (MAX): not separated from {self.leader} ({versus})"
        if self.status == BETTER:
            return f"{self.seeds} seeds: better than {self.leader} by {versus}" + self._exact_note()
        return f"open after {self.seeds} seeds" + (f" ({versus} vs {self.leader})" if versus else "")


def look(
    scores: Mapping[str, Sequence[float]],
    open_configs: Sequence[str],
    design: RaceDesign,
) -> dict[str, Decision]:
    """The decisions of one look for the open configurations (all with n = the same number of scores,
    per seed in seed order; configurations stopped earlier are not given). The leader is the highest
    mean (the first given among equals)."""
    n = len(scores[open_configs[0]])
    if any(len(scores[key]) != n for key in open_configs):
        raise ValueError("every open configuration must have the same number of seeds at a look")
    matrix = np.array([scores[key] for key in open_configs], dtype=float)  # [open, n]
    leader_index = int(np.argmax(matrix.mean(axis=1)))
    leader = open_configs[leader_index]
    scale = float(np.abs(matrix).max()) if matrix.size else 1.0
    final = n >= design.max_seeds
    decisions = {leader: Decision(LEADER, n)}
    for index, key in enumerate(open_configs):
        if index == leader_index:
            continue
        versus = interval(matrix[index] - matrix[leader_index], design, scale)
        decisions[key] = Decision(_status(versus, design, final), n, leader, versus)
    return decisions


def versus_leader(scores: Sequence[float], leader_scores: Sequence[float], leader: str, design: RaceDesign) -> Decision:
    """The look at n = len(scores) seeds of one configuration against a leader chosen elsewhere (a sampled
    trial against the best finished trial, rnnppo.sweeps.race_trial): the corrected interval of their
    per-seed differences over their first n seeds (the leader must have run at least n). Shown above the
    leader is BETTER (it does not stop); the rest as in `look`."""
    n = len(scores)
    if len(leader_scores) < n:
        raise ValueError(f"the leader ran {len(leader_scores)} seeds, fewer than the look's {n}")
    mine, theirs = np.asarray(scores, dtype=float), np.asarray(leader_scores[:n], dtype=float)  # [n], [n]
    scale = float(max(np.abs(mine).max(), np.abs(theirs).max()))
    versus = interval(mine - theirs, design, scale)
    status = _status(versus, design, n >= design.max_seeds)
    return Decision(BETTER if status in (OPEN, UNSEPARATED) and versus.low > 0 else status, n, leader, versus)


def _status(versus: Interval, design: RaceDesign, final: bool) -> str:
    """Equivalence first: a difference shown smaller than D is what a user who gave D wants to hear about,
    even when it is also shown below 0."""
    effect = design.min_effect
    if effect is not None and -effect < versus.low and versus.high < effect:
        return EQUIVALENT
    if versus.high < 0:
        return WORSE
    return UNSEPARATED if final else OPEN


@dataclass(frozen=True)
class RaceResult:
    """A whole race over a score table: each configuration's last decision and the looks made."""

    decisions: dict[str, Decision]
    looks: int

    @property
    def seeds_used(self) -> int:
        return sum(decision.seeds for decision in self.decisions.values())


def open_after(decisions: Mapping[str, Decision]) -> list[str]:
    """The configurations that get another seed: all not stopped, unless only the leader is left."""
    left = [key for key, decision in decisions.items() if not decision.stopped]
    return left if len(left) > 1 else []


def race(table: Mapping[str, Sequence[float]], design: RaceDesign) -> RaceResult:
    """Run the race on complete per-seed scores (each configuration's first MAX seeds), as a sweep would:
    a look at MIN seeds, then one per seed for the open configurations."""
    keys = list(table)
    decisions: dict[str, Decision] = {}
    open_configs = keys
    looks = 0
    for n in design.looks:
        current = look({key: list(table[key][:n]) for key in open_configs}, open_configs, design)
        decisions.update(current)
        looks += 1
        open_configs = open_after({key: decisions[key] for key in open_configs})
        if not open_configs:
            break
    return RaceResult({key: decisions[key] for key in keys}, looks)
