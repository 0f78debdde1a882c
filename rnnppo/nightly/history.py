"""The history of nightly sweeps (one study per night, `<prefix>-YYYY-MM-DD`) and the regression checks
of tonight's reference configuration (score and speed) against the previous nights."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from rnnppo.core.config import format_value
from rnnppo.nightly.config import NightlySpec
from rnnppo.results import paired, stats
from rnnppo.results.report import comparison_table
from rnnppo.results.studies import StudyData, load_study


def nights(storage: optuna.storages.BaseStorage, prefix: str) -> list[tuple[str, str]]:
    """(date, study name) of every night of this prefix in the storage, oldest first."""
    out = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        name = summary.study_name
        if name.startswith(prefix + "-"):
            date = name[len(prefix) + 1 :]
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                continue
            out.append((date, name))
    return sorted(out)


@dataclass
class Night:
    date: str
    data: StudyData
    table: pd.DataFrame


def load_nights(storage: optuna.storages.BaseStorage, prefix: str, upto: str) -> list[Night]:
    loaded = []
    for date, name in nights(storage, prefix):
        if date > upto:
            continue
        data = load_study(storage, name)
        loaded.append(Night(date, data, comparison_table(data)))
    return loaded


def _row(night: Night, config: str | None) -> pd.Series | None:
    if night.table.empty:
        return None
    if config is None:
        return night.table.iloc[0]
    match = night.table[night.table["config"] == config]
    return None if match.empty else match.iloc[0]


def commit_of(night: Night) -> str:
    """The code's commit a night ran (`+dirty` with uncommitted changes; '?' outside a git checkout)."""
    git = night.data.study.user_attrs.get("rnnppo_provenance", {}).get("git", {})
    return (git.get("commit") or "?")[:10] + ("+dirty" if git.get("dirty") else "")


COMPARED_SPEC_KEYS = ("env", "env_kwargs", "total_steps", "space", "objective")
EXECUTION_SETTINGS = ("seed", "device", "num_threads")
"""How a run executes, not what it measures: a change of these does not make nights incomparable."""


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two nights' sweep specs: env, env kwargs, budget, space, objective and every
    setting of the base config (a setting only one of them knows is not a difference)."""
    found = []
    for key in COMPARED_SPEC_KEYS:
        if before.get(key) != after.get(key):
            found.append(f"{key} {_short(before.get(key))} → {_short(after.get(key))}")
    old, new = before.get("base_config") or {}, after.get("base_config") or {}
    for name in sorted(set(old) & set(new)):
        if name in COMPARED_SPEC_KEYS or name in EXECUTION_SETTINGS or old[name] == new[name]:
            continue
        found.append(f"{name} {_short(old[name])} → {_short(new[name])}")
    return found


def _short(value: Any) -> str:
    text = format_value(tuple(value)) if isinstance(value, list) else format_value(value)
    return text if len(text) <= 40 else text[:37] + "..."


def comparable(history: list[Night], spec: NightlySpec) -> tuple[list[Night], list[str]]:
    """The previous nights (up to `history_nights`) that ran what tonight ran, and a line per earlier
    night that changed settings, env or budget (those are not compared)."""
    if not history:
        return [], []
    tonight = history[-1]
    same, notes = [], []
    for night in history[-1 - spec.history_nights : -1]:
        diffs = changes_between(night.data.spec, tonight.data.spec)
        if diffs:
            notes.append(f"{night.date} is not compared: since then {'; '.join(diffs)}")
        else:
            same.append(night)
    return same, notes


def history_table(history: list[Night], reference: str | None) -> pd.DataFrame:
    """One row per night: best configuration, the reference's IQM with its interval, seeds, cost, commit,
    and what changed since the night before."""
    rows = []
    previous_iqm = math.nan
    previous_spec: dict[str, Any] | None = None
    for night in history:
        best = _row(night, None)
        ref = _row(night, reference)
        provenance = night.data.study.user_attrs.get("rnnppo_provenance", {})
        iqm = float(ref["iqm"]) if ref is not None else math.nan
        counts = night.data.counts
        changed = changes_between(previous_spec, night.data.spec) if previous_spec is not None else []
        cpu = ref.get("cpu_s_per_step", math.nan) if ref is not None else math.nan
        rows.append(
            {
                "night": night.date,
                "trials": f"{counts['complete']} done"
                + (
                    f", {counts['running'] + counts['waiting']} unfinished"
                    if counts["running"] + counts["waiting"]
                    else ""
                ),
                "best": best["config"] if best is not None else "–",
                "reference": reference or "(highest IQM)",
                "seeds": int(ref["n"]) if ref is not None else 0,
                "checked_seeds": _checked_count(night, int(ref["n"]) if ref is not None else 0),
                "iqm": iqm,
                "ci": (
                    f"[{ref['ci_low']:.3g}, {ref['ci_high']:.3g}]"
                    if ref is not None and ref["ci_meaningful"]
                    else ("n/a" if ref is None else f"n/a ({ref['ci_reason']})")
                ),
                "change": iqm - previous_iqm if not changed else math.nan,
                "steps_per_s": float(ref["steps_per_s"]) if ref is not None else math.nan,
                "cpu_us_per_step": 1e6 * float(cpu) if cpu is not None and not pd.isna(cpu) else math.nan,
                "commit": commit_of(night),
                "torch": provenance.get("versions", {}).get("torch", "?"),
                "changed": "; ".join(changed),
            }
        )
        previous_iqm = iqm
        previous_spec = night.data.spec
    return pd.DataFrame(rows)


def unchecked(history: list[Night], spec: NightlySpec, worker_errors: list[str]) -> list[str]:
    """Why tonight (the last night) could not be checked at all; empty when it could."""
    messages = [f"{error}; tonight's sweep did not finish" for error in worker_errors]
    tonight = history[-1] if history else None
    if tonight is None or tonight.data.counts["complete"] == 0:
        messages.append("no trial of tonight's sweep completed (see the failures above)")
    elif spec.reference is not None and _row(tonight, spec.reference) is None:
        messages.append(f"the reference configuration {spec.reference} has no finished trial tonight")
    return messages


def tested_seeds(night: Night) -> int | None:
    """How many of a night's first seeds its score check uses: a raced night's MIN, the seeds every
    configuration runs whatever the race decides (whether a later seed runs depends on the race's looks at
    the earlier ones, so scores over them are selected by the race); None: a fixed night, all of them."""
    race = night.data.spec.get("race")
    return int(race["min_seeds"]) if race else None


def _checked_count(night: Night, seeds: int) -> int:
    """How many of the reference's `seeds` the score check uses (a raced night: at most its MIN)."""
    limit = tested_seeds(night)
    return seeds if limit is None else min(seeds, limit)


def _tested(night: Night, config: str, column: str) -> pd.Series:
    scores = _per_seed(night, config, column)
    limit = tested_seeds(night)
    return scores if limit is None else scores[scores.index < limit]


@dataclass
class ScoreCheck:
    """What tonight's score check can compare: the reference's tested scores tonight, the previous
    comparable nights whose tested scores share enough seeds with them, and those that share too few."""

    config: str
    needed: int
    """Seeds two nights must share for the exact sign-flip test to reach p < 0.05 (Holm over the nights)."""
    mine: pd.Series
    tested: list[tuple[Night, pd.Series]]
    short: list[tuple[Night, int]]
    """(night, seeds it shares with tonight) of the nights that share fewer than `needed`."""


def score_check(history: list[Night], spec: NightlySpec) -> ScoreCheck | None:
    """Tonight's score check against the previous comparable nights, paired over the tested seeds both
    have; None when there is no previous night or no reference tonight."""
    previous, _ = comparable(history, spec)
    ref = _row(history[-1], spec.reference) if history else None
    if ref is None or not previous:
        return None
    tonight, config = history[-1], str(ref["config"])
    score = tonight.data.objective
    needed = paired.floor_seeds(paired.ALPHA, max(1, len(previous)))
    mine = _tested(tonight, config, score)
    check = ScoreCheck(config, needed, mine, [], [])
    for night in previous:
        theirs = _tested(night, config, score)
        shared = len(paired.pairs(mine, theirs)[0])
        if shared >= needed:
            check.tested.append((night, theirs))
        else:
            check.short.append((night, shared))
    return check


def too_few_seeds(history: list[Night], spec: NightlySpec) -> str | None:
    """'score not checked: ...' when tonight's reference shares fewer seeds with every previous comparable
    night than the exact sign-flip test needs to reach p < 0.05 (Holm: 6 for one night, 7 for two), and
    what to set so that it does."""
    check = score_check(history, spec)
    if check is None or check.tested:
        return None
    tonight = history[-1]
    level = f"the exact sign-flip test cannot reach p < 0.05 with fewer than {check.needed} against {len(check.short)}"
    limit = tested_seeds(tonight)
    if limit is not None and limit < check.needed:
        return (
            f"score not checked: a raced night checks {check.config} on its first {limit} seeds, the ones every "
            f"configuration runs whatever the race decides ({level} previous night(s)); "
            f'set seeds = "{check.needed}..MAX" (MIN of {check.needed} or more) in the nightly file'
        )
    if len(check.mine) < check.needed:
        return (
            f"score not checked: {len(check.mine)} seeds ({level} previous night(s)); "
            f"set seeds = {check.needed} or more in the nightly file"
        )
    shared = ", ".join(f"{night.date}: {count}" for night, count in check.short)
    return (
        f"score not checked: {check.config} shares too few checked seeds with every previous night ({shared}; "
        f"{level} previous night(s))"
    )


def short_nights(history: list[Night], spec: NightlySpec) -> list[str]:
    """A line per previous comparable night tonight's score is not compared with (too few shared seeds),
    when it is compared with others."""
    check = score_check(history, spec)
    if check is None or not check.tested:
        return []
    return [
        f"score not compared with {night.date}: {check.config} shares {count} checked seeds with it "
        f"(the exact sign-flip test needs {check.needed})"
        for night, count in check.short
    ]


def _per_seed(night: Night, config: str, column: str) -> pd.Series:
    runs = night.data.runs
    if column not in runs:
        return pd.Series(dtype=float)
    return runs[runs["config"] == config].groupby("seed")[column].mean().astype(float)


def regressions(history: list[Night], spec: NightlySpec) -> list[str]:
    """Tonight's (the last night's) regressions against the previous comparable nights (up to
    `history_nights`) that share enough checked seeds with it (score_check): the report's exact sign-flip
    test on the reference's per-seed scores against each such night, Holm-corrected over them; and its CPU
    time per env step against the previous nights that ran it (_cost_regression)."""
    check = score_check(history, spec)
    if check is None or len(_per_seed(history[-1], check.config, history[-1].data.objective)) < paired.MIN_PAIRS:
        return []
    tonight, config, mine = history[-1], check.config, check.mine
    tests = [paired.paired_test(mine, theirs) for _, theirs in check.tested]
    family = [t.p if t.kind not in (paired.TIE, paired.TOO_FEW) else math.nan for t in tests]
    messages = []
    for (night, theirs), test, p_holm in zip(check.tested, tests, paired.holm(family), strict=True):
        if math.isfinite(p_holm) and p_holm < paired.ALPHA and test.high < -spec.regression_margin:
            how = f"by {-test.mean_diff:.4g} (95% interval {test.interval_text()})"
            messages.append(
                f"score regression: {config} scored IQM {stats.iqm(mine):.4g} on {tonight.date} against "
                f"{stats.iqm(theirs):.4g} on {night.date} ({commit_of(night)}), lower "
                f"{how}; {test.kind} over {test.n} seeds, Holm-adjusted p = {p_holm:.2g} over "
                f"{len([p for p in family if math.isfinite(p)])} previous nights"
            )
    previous, _ = comparable(history, spec)
    messages += _cost_regression(tonight, [n for n in previous if _row(n, config) is not None], config, spec)
    return messages


def _cost_regression(tonight: Night, nights: list[Night], config: str, spec: NightlySpec) -> list[str]:
    """CPU time per env step up by `speed_drop` or more of the previous nights' median and beyond their
    night-to-night spread, against nights that ran other code only: a night of the same commit ran the
    same computation, so any difference from it is the machine's load. The spread is the range of the
    previous nights' means (the same-commit nights included: they show how far load alone moves it; one
    previous night shows no spread, so nothing is claimed), and at least the seed-to-seed spread; nights
    without CPU time are left out."""
    mine = _per_seed(tonight, config, "cpu_s_per_step").dropna()
    timed = [(n, _per_seed(n, config, "cpu_s_per_step").dropna()) for n in nights]
    timed = [(n, b) for n, b in timed if len(b) >= 2]
    commit = commit_of(tonight)
    other_code = [b for n, b in timed if commit == "?" or "+dirty" in commit or commit_of(n) != commit]
    if len(mine) < 2 or not other_code:
        return []
    usual = statistics.median(float(b.mean()) for b in other_code)
    means = [float(b.mean()) for _, b in timed]
    night_spread = max(means) - min(means) if len(means) >= 2 else math.inf
    spread = max(float(mine.std()), *(float(b.std()) for _, b in timed), night_spread)
    now = float(mine.mean())
    if now - usual > spread and now >= usual * (1 + spec.speed_drop):
        return [
            f"speed regression: {config} used {1e6 * now:,.0f} CPU µs per env step on {tonight.date}, "
            f"{100 * (now / usual - 1):.0f}% above the median {1e6 * usual:,.0f} of the previous {len(other_code)} "
            f"comparable nights that ran other code (threshold {100 * spec.speed_drop:.0f}%, beyond the "
            f"night-to-night spread of {1e6 * spread:,.0f} µs)"
        ]
    return []
