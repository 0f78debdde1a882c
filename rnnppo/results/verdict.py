"""What a study's numbers allow one to claim: each configuration against the highest-scoring one (paired
by seed), against a uniformly random policy, which one is cheaper, and the one-line verdict that says so.

Claims are made only by these rules (docs/concepts/claims.md); results/paired.py has the tests:

* best: named only when the exact sign-flip test (Holm over the comparisons against it) separates it
  from every other configuration. Otherwise the verdict says "highest IQM: X; not separable from: Y, Z"
  (the best set: everything no test separates from the top). Equal IQMs and identical per-seed scores
  share a rank.
* worse / better: the sign-flip test, Holm-adjusted p < α.
* not worse: only where an equivalence test (two one-sided sign-flip tests) puts the per-seed difference
  within ±D, D = --min-effect; anything else no test separates is "not shown worse".
* nothing learned: only when every configuration is shown within D of the random policy (a one-sided
  upper 95% bound on its mean minus the baseline's, the baseline's own standard error included). When
  nothing is shown above random but that is not shown either: "not shown to beat random (n seeds)".
  Showing it for *every* configuration gets harder, never easier, the more are swept.
* cheaper: only between configurations shown equivalent in score whose per-seed scores differ (identical
  scores mean the same computation: any cost difference is the machine's load), and only from a
  one-sided sign-flip test over the per-seed CPU times that the saving exceeds MIN_COST_GAIN.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from rnnppo.results import paired

MIN_COST_GAIN = 0.10
"""A cost saving is claimed only when shown to exceed this share of the best's CPU time per step."""
SUCCESS_MIN_EFFECT = 0.1
"""Default --min-effect for a success-rate score (0-1): ten percentage points."""
RETURN_MIN_EFFECT_SHARE = 0.1
"""Default --min-effect for a return: this share of the gap between the highest IQM and the random
policy's mean return (of the highest |IQM| without a baseline)."""

BEST, TOP, TIE, WORSE, BETTER, EQUIVALENT, OPEN, UNTESTED = (
    "best",
    "highest IQM",
    "tie with the highest",
    "worse",
    "better by mean",
    "not worse (within ±D)",
    "not shown worse",
    "not compared",
)
NOT_WORSE = (BEST, TOP, TIE, EQUIVALENT)
"""Statuses that a test shows are not worse than the highest configuration."""
BEST_SET = (TOP, TIE, EQUIVALENT, OPEN, BETTER)
"""Statuses no test separates from the highest configuration."""
VERSUS_COLUMNS = [
    "rank",
    "vs_best",
    "diff",
    "diff_low",
    "diff_high",
    "diff_text",
    "pairs",
    "test",
    "p",
    "p_holm",
    "p_equivalence",
    "prob_improvement",
    "seeds_needed",
]


def seed_scores(seeds: pd.DataFrame, key: str, column: str) -> pd.Series:
    """One configuration's per-seed values of `column`, indexed by seed."""
    return seeds.loc[seeds["config"] == key].set_index("seed")[column].astype(float)


def default_min_effect(
    table: pd.DataFrame, kind: str = "return", baseline: dict[str, Any] | None = None
) -> float | None:
    """The smallest difference worth detecting when none is given: SUCCESS_MIN_EFFECT for a success rate,
    else RETURN_MIN_EFFECT_SHARE of |highest IQM - random mean return| (of |highest IQM| without a
    baseline); None when nothing has finished."""
    if kind == "success rate":
        return SUCCESS_MIN_EFFECT
    iqms = table["iqm"].dropna() if "iqm" in table else pd.Series(dtype=float)
    if iqms.empty:
        return None
    top = float(iqms.max())
    level = baseline_mean(baseline)
    gap = abs(top - level) if math.isfinite(level) else abs(top)
    return RETURN_MIN_EFFECT_SHARE * gap if gap > 0 else None


def against_best(
    seeds: pd.DataFrame,
    order: list[str],
    score: str,
    min_effect: float | None = None,
    bound: float = math.inf,
) -> pd.DataFrame:
    """Per configuration (in `order`, highest IQM first): its shared rank, its sign-flip test against the
    highest, the equivalence test within ±min_effect, P(this > highest) and the seeds a difference of
    min_effect needs. `seeds`: one row per (config, seed); `bound`: the largest |difference| the score
    allows. The p-values are Holm-corrected together (ties and too-few-seeds comparisons left out)."""
    if not order:
        return pd.DataFrame(columns=["config", *VERSUS_COLUMNS])
    scores = {key: seed_scores(seeds, key, score) for key in order}
    iqms = {key: float(np.nan_to_num(_iqm(scores[key]), nan=-np.inf)) for key in order}
    ranks = paired.shared_ranks(order, scores, iqms)
    top = order[0]
    tests = [paired.paired_test(scores[key], scores[top], bound=bound) for key in order]
    family = [
        test.p if index and test.kind not in (paired.TIE, paired.TOO_FEW) else math.nan
        for index, test in enumerate(tests)
    ]
    # The highest configuration is chosen by the data, so its comparisons are a selection from every pair:
    # Holm over all m(m - 1) / 2 pairs keeps the chance of any false "worse" at α (plain Holm over the m - 1
    # comparisons with the top reached 7.5% in A/A with 4 configurations, benchmarks/calibration.py).
    comparisons = max(1, len(order) * (len(order) - 1) // 2)
    adjusted = paired.holm(family, comparisons)
    margin = math.nan if min_effect is None else float(min_effect)
    rows = []
    for index, (key, rank, test, p_holm) in enumerate(zip(order, ranks, tests, adjusted, strict=True)):
        shown, p_equivalence = paired.equivalent(scores[key], scores[top], margin) if index else (True, math.nan)
        rows.append(
            {
                "config": key,
                "rank": rank,
                "vs_best": _status(index, test, p_holm, shown),
                "diff": math.nan if index == 0 else test.mean_diff,
                "diff_low": math.nan if index == 0 else test.low,
                "diff_high": math.nan if index == 0 else test.high,
                "diff_text": "" if index == 0 else test.interval_text(),
                "pairs": int(scores[key].notna().sum()) if index == 0 else test.n,
                "test": "" if index == 0 else test.kind,
                "p": math.nan if index == 0 else test.p,
                "p_holm": p_holm,
                "p_equivalence": p_equivalence,
                "prob_improvement": math.nan if index == 0 else test.prob_improvement,
                "seeds_needed": None if index == 0 else paired.seeds_needed(margin, test.sd, comparisons=comparisons),
            }
        )
    frame = pd.DataFrame(rows)
    if len(frame) > 1 and (frame["vs_best"].iloc[1:] == WORSE).all():
        frame.loc[0, "vs_best"] = BEST
    return frame


def _iqm(values: pd.Series) -> float:
    clean = values.dropna().to_numpy(dtype=float)
    return float(scipy_stats.trim_mean(clean, 0.25)) if clean.size else math.nan


def _status(index: int, test: paired.PairedTest, p_holm: float, equivalent: bool) -> str:
    if index == 0:
        return TOP
    if test.kind == paired.TIE:
        return TIE
    if not test.decided:
        return UNTESTED
    if math.isfinite(p_holm) and p_holm < paired.ALPHA:
        return WORSE if test.mean_diff < 0 else BETTER
    return EQUIVALENT if equivalent else OPEN


# --- the random-policy baseline ---------------------------------------------------------------------


def baseline_mean(baseline: dict[str, Any] | None) -> float:
    """The random policy's mean episode return, or NaN when the study has no usable baseline."""
    if not isinstance(baseline, dict):
        return math.nan
    value = baseline.get("mean_return")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.nan


def _baseline_error(baseline: dict[str, Any] | None) -> tuple[float, int]:
    """(standard error of the random policy's mean return, its episodes); (0, 0) when not recorded."""
    if not isinstance(baseline, dict):
        return 0.0, 0
    sem, episodes = baseline.get("sem_return"), baseline.get("episodes")
    if isinstance(sem, int | float) and math.isfinite(sem) and isinstance(episodes, int) and episodes > 1:
        return float(sem), episodes
    return 0.0, 0


def _versus_random(values: np.ndarray, level: float, sem: float, episodes: int) -> tuple[float, float, float]:
    """(mean - level, its standard error with the baseline's, Welch degrees of freedom) for one configuration."""
    n = values.size
    own = float(values.var(ddof=1)) / n if n > 1 else math.nan
    error = math.sqrt(own + sem**2)
    pieces = own**2 / (n - 1) + (sem**4 / (episodes - 1) if episodes > 1 and sem > 0 else 0.0)
    df = (own + sem**2) ** 2 / pieces if pieces > 0 else float(n - 1)
    return float(values.mean()) - level, error, df


def against_baseline(
    seeds: pd.DataFrame, order: list[str], score: str, baseline: dict | None, min_effect: float | None = None
) -> pd.DataFrame:
    """Per configuration: its mean's distance above the random policy's mean return; whether it is
    significantly above (one-sided Welch t-test with the baseline's standard error, Holm over the
    configurations); and whether it is shown within ±min_effect of it (`near_random`: its one-sided upper
    95% bound below min_effect). None where not testable (fewer than 3 seeds, no baseline, no spread)."""
    level = baseline_mean(baseline)
    sem, episodes = _baseline_error(baseline)
    rows = []
    for key in order:
        mine = seed_scores(seeds, key, score).dropna().to_numpy(dtype=float)
        if not math.isfinite(level) or mine.size < paired.MIN_PAIRS:
            rows.append(
                {
                    "config": key,
                    "above_random": mine.mean() - level if mine.size else math.nan,
                    "p": math.nan,
                    "upper": math.nan,
                }
            )
            continue
        gap, error, df = _versus_random(mine, level, sem, episodes)
        if not error > 0:
            rows.append({"config": key, "above_random": gap, "p": math.nan, "upper": math.nan})
            continue
        p = float(scipy_stats.t.sf(gap / error, df))
        upper = gap + float(scipy_stats.t.ppf(1 - paired.ALPHA, df)) * error
        rows.append({"config": key, "above_random": gap, "p": p, "upper": upper})
    frame = pd.DataFrame(rows, columns=["config", "above_random", "p", "upper"])
    adjusted = paired.holm(list(frame["p"]))
    frame["beats_random"] = [None if not math.isfinite(p) else bool(p < paired.ALPHA) for p in adjusted]
    margin = math.nan if min_effect is None else float(min_effect)
    frame["near_random"] = [
        None if not math.isfinite(upper) or not math.isfinite(margin) else bool(upper < margin)
        for upper in frame["upper"]
    ]
    frame["random_upper"] = frame["upper"]
    return frame.drop(columns=["p", "upper"])


# --- cost ---------------------------------------------------------------------------------------------


def cost_columns(seeds: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per configuration: mean process CPU seconds per env step over its seeds, their sample standard
    deviation and count (NaN, 0 for runs written before CPU time was recorded)."""
    column = seeds["cpu_s_per_step"] if "cpu_s_per_step" in seeds else pd.Series(math.nan, index=seeds.index)
    grouped = seeds.assign(cpu=column.astype(float)).groupby("config", sort=False)["cpu"]
    frame = pd.DataFrame({"cpu_s_per_step": grouped.mean(), "cpu_sd": grouped.std(), "cpu_n": grouped.count()})
    return frame.reindex(order).rename_axis("config").reset_index()


def cheaper_p(candidate: pd.Series, reference: pd.Series) -> float:
    """One-sided sign-flip p that `candidate` (per-seed CPU s/step, indexed by seed) costs less than
    (1 - MIN_COST_GAIN) x `reference` on the seeds both measured: the test of the mean log ratio. NaN
    below MIN_PAIRS pairs. The floor 1 / 2^n means 5 or more seeds before any cost claim at α = 0.05."""
    mine, theirs = paired.pairs(candidate, reference)
    keep = (mine > 0) & (theirs > 0)
    if keep.sum() < paired.MIN_PAIRS:
        return math.nan
    saving = np.log(theirs[keep] / mine[keep]) - math.log(1 / (1 - MIN_COST_GAIN))
    return paired.sign_flip_p(saving, "greater")


def cheapest_not_worse(
    table: pd.DataFrame, same_as_best: Collection[str] = (), seeds: pd.DataFrame | None = None
) -> pd.Series | None:
    """The cheapest configuration shown not worse than the highest (equivalent within ±D) that is shown
    cheaper than it (`cheaper_p` < α over the per-seed CPU times in `seeds`); None otherwise. Never one
    whose per-seed scores equal the highest's (a tie: the same computation, so a cost difference is the
    load) nor one in `same_as_best` (differs only in settings without effect, core/analysis/inert.py)."""
    if table.empty or "vs_best" not in table or seeds is None or "cpu_s_per_step" not in seeds:
        return None
    best = table.iloc[0]
    candidates = table[(table["vs_best"] == EQUIVALENT) & ~table["config"].isin(list(same_as_best))]
    candidates = candidates.dropna(subset=["cpu_s_per_step"]).sort_values("cpu_s_per_step", kind="stable")
    reference = seed_scores(seeds, str(best["config"]), "cpu_s_per_step")
    for _, row in candidates.iterrows():
        p = cheaper_p(seed_scores(seeds, str(row["config"]), "cpu_s_per_step"), reference)
        if math.isfinite(p) and p < paired.ALPHA:
            return row.copy()
    return None


# --- the verdict ------------------------------------------------------------------------------------


def name(key: str) -> str:
    """A configuration as the verdict names it: in full, in parentheses when it has several parts."""
    return f"({key})" if ", " in key else key


def _listed(keys: list[str], limit: int = 4) -> str:
    if len(keys) > limit:
        return f"{len(keys)} configurations"
    names = [name(key) for key in keys]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.2g}"


def _difference(row: pd.Series) -> str:
    """How far a worse configuration is below the highest, with the test that decided it."""
    low, high = -row["diff_high"], -row["diff_low"]  # the gap highest - this, seed by seed
    return (
        f"by {abs(row['diff']):.3g} (95% interval of the per-seed gap [{low:.3g}, {high:.3g}]; {row['test']} "
        f"over {row['pairs']} seeds, Holm-adjusted {_p(row['p_holm'])}; P(higher) = {1 - row['prob_improvement']:.2f})"
    )


def verdict(
    table: pd.DataFrame,
    counts: dict[str, int] | None = None,
    baseline: dict[str, Any] | None = None,
    cheapest: pd.Series | None = None,
    min_effect: float | None = None,
) -> str:
    """One paragraph a reviewer can check: best or the best set, ties, worse, not worse, random, cheaper."""
    pending = ", ".join(f"{n} {state}" for state, n in (counts or {}).items() if state != "complete" and n)
    if table.empty or table["iqm"].isna().all():
        return "no finished configuration yet" + (f" ({pending})" if pending else "")
    top = table.iloc[0]
    seeds = int(top["n"])
    shown_random = _nothing_learned(table, baseline, min_effect)
    if shown_random:
        return shown_random
    parts = [_random_clause(table, baseline, seeds)]
    if len(table) == 1:
        parts.append(f"{name(top['config'])} is the only finished configuration (IQM {top['iqm']:.3g}, {seeds} seeds)")
        return "; ".join(part for part in parts if part)
    if seeds < paired.MIN_PAIRS:
        shared = table[table["rank"] == 1]
        who = f"{name(top['config'])} scores" if len(shared) == 1 else f"{_listed(list(shared['config']))} share"
        parts.append(f"{who} the highest IQM ({top['iqm']:.3g}), but {_too_few(seeds)}")
        return "; ".join(part for part in parts if part)
    parts += _comparison_clauses(table, min_effect)
    parts.append(_cost(table, cheapest))
    return "; ".join(part for part in parts if part)


def _comparison_clauses(table: pd.DataFrame, min_effect: float | None) -> list[str]:
    top, others = table.iloc[0], table.iloc[1:]
    seeds = int(top["n"])
    worse = others[others["vs_best"] == WORSE]
    if top["vs_best"] == BEST:
        head = f"{name(top['config'])} is best (IQM {top['iqm']:.3g}, {seeds} seeds)"
        if len(others) == 1:
            return [f"{head}: better than {name(worse.iloc[0]['config'])} {_difference(worse.iloc[0])}"]
        return [
            f"{head}: better than each of the {len(others)} others (exact sign-flip test on per-seed differences, "
            f"Holm over all {_pairs(len(table))} pairs, α = 0.05)"
        ]
    parts = []
    shared = table[table["rank"] == 1]
    head = f"highest IQM: {name(top['config'])} ({top['iqm']:.3g}, {seeds} seeds)"
    if len(shared) > 1:
        head = f"highest IQM, shared: {_listed(list(shared['config']))} ({top['iqm']:.3g}, {seeds} seeds)"
    together = others[others["vs_best"].isin(BEST_SET) & (others["vs_best"] != TIE)]  # ties: "identical" below
    if len(together):
        head += f"; not separable from: {_listed(list(together['config']))}"
    parts.append(head)
    tied = others[others["vs_best"] == TIE]
    if len(tied):
        parts.append(f"{_listed(list(tied['config']))} identical to it on all {seeds} seeds")
    equivalent = others[others["vs_best"] == EQUIVALENT]
    if len(equivalent):
        parts.append(
            f"not worse (shown within ±{min_effect:.3g} of it: two one-sided sign-flip tests, each at α = 0.05, "
            "possible from 5 seeds): "
            f"{_listed(list(equivalent['config']))}"
        )
    better = others[others["vs_best"] == BETTER]
    if len(better):
        parts.append(
            f"{_listed(list(better['config']))} score{'s' if len(better) == 1 else ''} higher by the paired mean "
            "though lower by IQM (one unusual seed decides the IQM ranking there)"
        )
    if len(worse):
        parts.append(
            f"worse: {_listed(list(worse['config']))} (exact sign-flip test on per-seed differences, "
            f"Holm over all {_pairs(len(table))} pairs, α = 0.05)"
        )
    untested = others[others["vs_best"] == UNTESTED]
    if len(untested):
        parts.append(f"not compared (fewer than {paired.MIN_PAIRS} seeds shared): {_listed(list(untested['config']))}")
    open_ = others[others["vs_best"] == OPEN]
    if len(open_):
        parts.append(_planned(open_, seeds, _pairs(len(table)), min_effect))
    return parts


def _planned(open_: pd.DataFrame, seeds: int, comparisons: int, min_effect: float | None) -> str:
    """What more seeds would buy: the floor of the exact test, and the seeds a difference of min_effect needs."""
    floor = paired.floor_seeds(paired.ALPHA, comparisons)
    text = f"not shown worse: {_listed(list(open_['config']))}"
    # Paired over the seeds both ran: a configuration with fewer seeds (a raced one stopped early) shares fewer.
    shared = sorted({min(seeds, int(n)) for n in open_["n"]})
    seeds = shared[-1]
    ran = f"{shared[0]}" if len(shared) == 1 else f"{shared[0]} to {seeds}"
    if seeds < floor:
        text += (
            f" (with {ran} seeds no exact test goes below p = {2 * 0.5**seeds:.3g}: a claim among "
            f"{_configurations(comparisons)} configurations needs {floor} or more)"
        )
    needed = [int(n) for n in open_["seeds_needed"] if n is not None and not pd.isna(n)]
    if needed and min_effect is not None:
        low, high = min(needed), max(needed)
        span = paired.seeds_needed_text(low) + ("" if low == high else "–" + paired.seeds_needed_text(high))
        text += (
            f"; a difference of {min_effect:.3g} (--min-effect) needs about {span} seeds at the observed spread "
            f"(80% power, α = 0.05 Holm), {ran} ran"
        )
    return text


def _configurations(pairs: int) -> int:
    """The number of configurations with this many pairs."""
    return round((1 + math.sqrt(1 + 8 * pairs)) / 2)


def _pairs(configurations: int) -> int:
    """Pairs of configurations: the Holm family of the comparisons with the (data-chosen) highest one."""
    return max(1, configurations * (configurations - 1) // 2)


def _too_few(seeds: int) -> str:
    return (
        f"with {seeds} seed(s) per configuration no comparison can be made; "
        f"sweep with --seeds {paired.MIN_PAIRS} or more"
    )


def _random_text(baseline: dict[str, Any] | None) -> str:
    level = baseline_mean(baseline)
    sem, _ = _baseline_error(baseline)
    spread = f" ± {sem:.2g}" if sem else ""
    episodes = (baseline or {}).get("episodes", "?")
    return f"a uniformly random policy (mean return {level:.3g}{spread} over {episodes} episodes)"


def _nothing_learned(table: pd.DataFrame, baseline: dict[str, Any] | None, min_effect: float | None) -> str:
    """The verdict when every configuration is shown within min_effect of the random policy; else empty."""
    if "near_random" not in table or min_effect is None or not math.isfinite(baseline_mean(baseline)):
        return ""
    near = table["near_random"]
    if not (len(near) and near.map(lambda value: value is True).all()):
        return ""
    return (
        f"nothing learned: every configuration is shown to score less than {min_effect:.3g} (--min-effect) above "
        f"{_random_text(baseline)} (one-sided 95% upper bounds with the baseline's own standard error, "
        f"{int(table.iloc[0]['n'])} seeds); the highest IQM is {table.iloc[0]['iqm']:.3g}, so no configuration is "
        "named best; train longer (--steps) or check the env and its reward"
    )


def _random_clause(table: pd.DataFrame, baseline: dict[str, Any] | None, seeds: int) -> str:
    """'not shown to beat random (n seeds)' when no configuration is significantly above it; else empty."""
    if "beats_random" not in table or not math.isfinite(baseline_mean(baseline)):
        return ""
    beats = table["beats_random"]
    if beats.map(lambda value: value is True).any() or beats.map(lambda value: value is None).all():
        return ""
    return (
        f"not shown to beat random ({seeds} seeds): no configuration scores significantly above "
        f"{_random_text(baseline)} (one-sided Welch t-test, Holm over configurations)"
    )


def _cost(table: pd.DataFrame, cheapest: pd.Series | None) -> str:
    best = table.iloc[0]
    if cheapest is not None:
        saving = 1 - cheapest["cpu_s_per_step"] / best["cpu_s_per_step"]
        return (
            f"the cheapest shown not worse is {name(cheapest['config'])}: {1e6 * cheapest['cpu_s_per_step']:,.0f} vs "
            f"{1e6 * best['cpu_s_per_step']:,.0f} CPU µs per env step ({100 * saving:.0f}% less; one-sided "
            f"sign-flip test over per-seed CPU times that the saving exceeds {100 * MIN_COST_GAIN:.0f}%)"
        )
    return ""
