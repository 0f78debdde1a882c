"""What a study's numbers allow one to claim: each configuration against the best (paired by seed),
against a uniformly random policy, which one is cheaper, and the one-line verdict that says so.

Claims are made only by these rules (README "How claims are made"):

* better / worse: paired t-test over the seeds both finished, Holm-corrected over the comparisons
  against the best (results/paired.py); identical per-seed scores are a tie and share the rank;
  anything else no test separates is "not separable from the best".
* nothing learned: no configuration scores significantly above the study's random-policy baseline
  (the same test, the baseline's mean return taken as a constant on every seed, Holm over configs).
* cheaper: process CPU seconds per env step (other processes barely change it, unlike wall time),
  lower by more than either configuration's seed-to-seed spread and by at least MIN_COST_GAIN.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import pandas as pd

from rnnppo.results import paired

MIN_COST_GAIN = 0.10
"""A cost difference smaller than this share of the best's cost is not claimed, whatever the spread."""

BEST, TIE, WORSE, BETTER, OPEN, UNTESTED = (
    "best",
    "tie with the best",
    "worse",
    "better by mean",
    "not separable from the best",
    "not compared",
)
NOT_WORSE = (BEST, TIE, OPEN, BETTER)
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
    "sign_p",
    "seeds_needed",
]


def seed_scores(seeds: pd.DataFrame, key: str, column: str) -> pd.Series:
    """One configuration's per-seed values of `column`, indexed by seed."""
    return seeds.loc[seeds["config"] == key].set_index("seed")[column].astype(float)


def against_best(seeds: pd.DataFrame, order: list[str], score: str) -> pd.DataFrame:
    """Per configuration (in `order`, best first): its shared rank and its paired test against the best.

    `seeds`: one row per (config, seed). The p-values of the configurations a test could be made for
    are Holm-corrected together; ties and too-few-seeds comparisons are not in that family."""
    if not order:
        return pd.DataFrame(columns=["config", *VERSUS_COLUMNS])
    scores = {key: seed_scores(seeds, key, score) for key in order}
    ranks = paired.shared_ranks(order, scores)
    best = order[0]
    tests = [paired.paired_test(scores[key], scores[best]) for key in order]
    family = [
        test.p if index and test.kind in (paired.T_TEST, paired.CONSISTENT) else math.nan
        for index, test in enumerate(tests)
    ]
    adjusted = paired.holm(family)
    rows = []
    for index, (key, rank, test, p_holm) in enumerate(zip(order, ranks, tests, adjusted, strict=True)):
        rows.append(
            {
                "config": key,
                "rank": rank,
                "vs_best": _status(index, rank, test, p_holm),
                "diff": math.nan if index == 0 else test.mean_diff,
                "diff_low": math.nan if index == 0 else test.low,
                "diff_high": math.nan if index == 0 else test.high,
                "diff_text": "" if index == 0 else test.interval_text(),
                "pairs": int(scores[key].notna().sum()) if index == 0 else test.n,
                "test": "" if index == 0 else test.kind,
                "p": math.nan if index == 0 else test.p,
                "p_holm": p_holm,
                "sign_p": math.nan if index == 0 else test.sign_p,
                "seeds_needed": None if index == 0 else paired.seeds_needed(test.mean_diff, test.sd),
            }
        )
    return pd.DataFrame(rows)


def _status(index: int, rank: int, test: paired.PairedTest, p_holm: float) -> str:
    if index == 0:
        return BEST
    if rank == 1:
        return TIE
    if not test.decided:
        return UNTESTED
    if math.isfinite(p_holm) and p_holm < paired.ALPHA:
        return WORSE if test.mean_diff < 0 else BETTER
    return OPEN


# --- the random-policy baseline ---------------------------------------------------------------------


def baseline_mean(baseline: dict[str, Any] | None) -> float:
    """The random policy's mean episode return, or NaN when the study has no usable baseline."""
    if not isinstance(baseline, dict):
        return math.nan
    value = baseline.get("mean_return")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.nan


def against_baseline(seeds: pd.DataFrame, order: list[str], score: str, baseline: dict | None) -> pd.DataFrame:
    """Per configuration: whether its per-seed scores are significantly above the random policy's mean
    return (paired t-test against that constant, Holm over the configurations)."""
    level = baseline_mean(baseline)
    rows = []
    for key in order:
        mine = seed_scores(seeds, key, score).dropna()
        test = paired.paired_test(mine, pd.Series(level, index=mine.index))
        rows.append({"config": key, "above_random": test.mean_diff, "random_test": test})
    frame = pd.DataFrame(rows, columns=["config", "above_random", "random_test"])
    family = [t.p if t.kind in (paired.T_TEST, paired.CONSISTENT) else math.nan for t in frame["random_test"]]
    adjusted = paired.holm(family)
    frame["beats_random"] = [
        (bool(p < paired.ALPHA and t.mean_diff > 0) if math.isfinite(p) else (None if not t.decided else False))
        for p, t in zip(adjusted, frame["random_test"], strict=True)
    ]
    if not math.isfinite(level):
        frame["beats_random"] = None
    return frame.drop(columns="random_test")


# --- cost ---------------------------------------------------------------------------------------------


def cost_columns(seeds: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per configuration: mean process CPU seconds per env step over its seeds, their sample standard
    deviation and count (NaN, 0 for runs written before CPU time was recorded)."""
    column = seeds["cpu_s_per_step"] if "cpu_s_per_step" in seeds else pd.Series(math.nan, index=seeds.index)
    grouped = seeds.assign(cpu=column.astype(float)).groupby("config", sort=False)["cpu"]
    frame = pd.DataFrame({"cpu_s_per_step": grouped.mean(), "cpu_sd": grouped.std(), "cpu_n": grouped.count()})
    return frame.reindex(order).rename_axis("config").reset_index()


def cheaper(candidate: pd.Series, reference: pd.Series) -> bool:
    """Whether `candidate` is established cheaper than `reference`: both measured on 2+ seeds, and its
    CPU time per step lower by more than either one's seed-to-seed spread and by MIN_COST_GAIN or more."""
    if candidate["cpu_n"] < 2 or reference["cpu_n"] < 2:
        return False
    gap = reference["cpu_s_per_step"] - candidate["cpu_s_per_step"]
    spread = max(candidate["cpu_sd"], reference["cpu_sd"])
    return bool(gap > spread and gap >= MIN_COST_GAIN * reference["cpu_s_per_step"])


def cheapest_not_worse(table: pd.DataFrame, same_as_best: Collection[str] = ()) -> pd.Series | None:
    """The cheapest configuration no test finds worse than the best, when it is established cheaper
    than the best (`cheaper`); None when no cost difference is established. `same_as_best`: configurations
    that run the very computation the best runs (they differ from it only in settings that have no
    effect): any cost difference between those is the machine's load, never claimed."""
    if table.empty or "vs_best" not in table:
        return None
    best = table.iloc[0]
    candidates = table[
        table["vs_best"].isin(NOT_WORSE) & (table.index != table.index[0]) & ~table["config"].isin(list(same_as_best))
    ]
    candidates = candidates.dropna(subset=["cpu_s_per_step"]).sort_values("cpu_s_per_step", kind="stable")
    for _, row in candidates.iterrows():
        if cheaper(row, best):
            return row
    return None


# --- the verdict ------------------------------------------------------------------------------------


def name(key: str) -> str:
    """A configuration as the verdict names it: in full, in parentheses when it has several parts."""
    return f"({key})" if ", " in key else key


def _listed(keys: list[str]) -> str:
    names = [name(key) for key in keys]
    return names[0] if len(names) == 1 else "; ".join(names[:-1]) + " and " + names[-1]


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.2g}"


def _difference(row: pd.Series) -> str:
    """How far a worse configuration is below the best, with the test that decided it."""
    if row["test"] == paired.CONSISTENT:
        return (
            f"by {abs(row['diff']):.3g} on every one of {row['pairs']} seeds (a consistent difference: zero "
            f"spread, so the paired t-test's p is 0; the sign test alone gives {_p(row['sign_p'])})"
        )
    low, high = -row["diff_high"], -row["diff_low"]  # the gap best - this, seed by seed
    return (
        f"by {abs(row['diff']):.3g} (95% CI of the per-seed gap [{low:.3g}, {high:.3g}]; "
        f"paired t-test over {row['pairs']} seeds, Holm-adjusted {_p(row['p_holm'])})"
    )


def verdict(
    table: pd.DataFrame,
    counts: dict[str, int] | None = None,
    baseline: dict[str, Any] | None = None,
    cheapest: pd.Series | None = None,
) -> str:
    """One paragraph a reviewer can check: best, ties, worse, not separable, nothing learned, cheaper."""
    pending = ", ".join(f"{n} {state}" for state, n in (counts or {}).items() if state != "complete" and n)
    if table.empty or table["iqm"].isna().all():
        return "no finished configuration yet" + (f" ({pending})" if pending else "")
    best = table.iloc[0]
    seeds = int(best["n"])
    learned = _learned(table, baseline)
    if learned:
        tied = table[table["rank"] == 1]
        if len(tied) > 1:
            learned += f"; {_listed(list(tied['config']))} tie: identical scores on all {seeds} seeds"
        if seeds < paired.MIN_PAIRS:
            learned += f"; {_too_few(seeds)}"
        return learned
    if len(table) == 1:
        return f"{name(best['config'])} is the only finished configuration (IQM {best['iqm']:.3g}, {seeds} seeds)"
    if seeds < paired.MIN_PAIRS and not (table["vs_best"] == TIE).any():
        return f"{name(best['config'])} scores highest (IQM {best['iqm']:.3g}), but {_too_few(seeds)}"
    parts = [_head(table)]
    others = table.iloc[1:]
    worse = others[others["vs_best"] == WORSE]
    if len(others) == 1 and len(worse) == 1:
        parts[0] += f"; it is better than {name(worse.iloc[0]['config'])} {_difference(worse.iloc[0])}"
    elif len(worse):
        parts.append(
            f"{len(worse)} other configuration{'s are' if len(worse) > 1 else ' is'} worse "
            f"(paired t-test on per-seed differences, Holm-corrected over {len(others)} comparisons, α = 0.05)"
        )
    better = others[others["vs_best"] == BETTER]
    if len(better):
        parts.append(
            f"{_listed(list(better['config']))} score{'s' if len(better) == 1 else ''} higher by the paired mean "
            "though lower by IQM (one unusual seed decides the IQM ranking there)"
        )
    open_ = others[others["vs_best"] == OPEN]
    if len(open_):
        needed = [n for n in open_["seeds_needed"] if n is not None and not pd.isna(n)]
        guide = ""
        if needed:
            guide = (
                f"; differences of the observed sizes would need about {paired.seeds_needed_text(int(min(needed)))}"
                f"{'' if len(set(needed)) == 1 else '–' + paired.seeds_needed_text(int(max(needed)))} seeds to "
                f"detect (80% power), {seeds} ran"
            )
        shown = _listed(list(open_["config"])) if len(open_) <= 4 else f"{len(open_)} configurations"
        parts.append(f"not separable from the best: {shown}{guide}")
    untested = others[others["vs_best"] == UNTESTED]
    if len(untested):
        parts.append(
            f"not compared (fewer than {paired.MIN_PAIRS} seeds shared with the best): "
            + (_listed(list(untested["config"])) if len(untested) <= 4 else f"{len(untested)} configurations")
        )
    parts.append(_cost(table, cheapest))
    return "; ".join(part for part in parts if part)


def _too_few(seeds: int) -> str:
    return (
        f"with {seeds} seed(s) per configuration no comparison can be made; "
        f"sweep with --seeds {paired.MIN_PAIRS} or more"
    )


def _head(table: pd.DataFrame) -> str:
    best = table.iloc[0]
    tied = table[table["rank"] == 1]
    if len(tied) > 1:
        return (
            f"{_listed(list(tied['config']))} tie for best: identical scores on all {int(best['n'])} seeds "
            f"(IQM {best['iqm']:.3g})"
        )
    return f"{name(best['config'])} is best (IQM {best['iqm']:.3g}, {int(best['n'])} seeds)"


def _learned(table: pd.DataFrame, baseline: dict[str, Any] | None) -> str:
    """The verdict when nothing beats the random policy; empty when something does (or no baseline)."""
    level = baseline_mean(baseline)
    if not math.isfinite(level) or "beats_random" not in table:
        return ""
    beats = table["beats_random"]
    if beats.map(lambda value: value is True).any():
        return ""
    episodes = (baseline or {}).get("episodes", "?")
    random_text = f"a uniformly random policy (mean return {level:.3g} over {episodes} episodes)"
    best = table.iloc[0]
    if beats.map(lambda value: value is None).all():
        if best["iqm"] > level:
            return ""  # too few seeds to test, but nothing suggests failure; the seed rule speaks instead
        return (
            f"nothing learned so far: no configuration scores above {random_text} (best IQM {best['iqm']:.3g}); "
            f"with fewer than {paired.MIN_PAIRS} seeds this is not tested"
        )
    return (
        f"nothing learned: no configuration scores significantly above {random_text}; the highest IQM is "
        f"{best['iqm']:.3g} ({name(best['config'])}), so no configuration is named best; train longer (--steps) "
        "or check the env and its reward"
    )


def _cost(table: pd.DataFrame, cheapest: pd.Series | None) -> str:
    best = table.iloc[0]
    if cheapest is not None:
        saving = 1 - cheapest["cpu_s_per_step"] / best["cpu_s_per_step"]
        return (
            f"the cheapest not worse is {name(cheapest['config'])}: {1e6 * cheapest['cpu_s_per_step']:,.0f} vs "
            f"{1e6 * best['cpu_s_per_step']:,.0f} CPU µs per env step ({100 * saving:.0f}% less, beyond the "
            "seed-to-seed spread)"
        )
    peers = table[table["vs_best"].isin(NOT_WORSE)]
    if len(peers) < 2:
        return ""
    if peers["cpu_s_per_step"].isna().any():
        return "cost not compared: CPU time per step was not measured (runs written before rnnppo recorded it)"
    return (
        f"no cost difference is established among those not worse (CPU time per step within the seed-to-seed "
        f"spread or under {100 * MIN_COST_GAIN:.0f}%)"
    )
