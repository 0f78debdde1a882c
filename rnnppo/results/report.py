"""What a study says: the comparison across configurations, marginals per swept parameter,
importance, what the LSTM saw, gains over memory-off controls, a one-line verdict, and study-vs-study."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from rnnppo.results import stats
from rnnppo.results.store import StudyData

MIN_TRIALS_FOR_IMPORTANCE = 4


@dataclass
class Report:
    data: StudyData
    comparison: pd.DataFrame  # one row per configuration, best first
    marginals: dict[str, pd.DataFrame]  # swept name -> one row per value
    importance: dict[str, float] | None
    lstm_saw: pd.DataFrame
    controls: pd.DataFrame | None  # gain of each memory configuration over its rnn_type=none control
    verdict: str


def comparison_table(data: StudyData) -> pd.DataFrame:
    runs = data.runs
    if runs.empty:
        return pd.DataFrame()
    table = stats.summarise(runs, "config", "final_return")
    extra = runs.groupby("config", sort=False).agg(
        auc=("auc", "mean"),
        steps_per_s=("steps_per_s", "mean"),
        wall_s=("train_time_s", "sum"),
        seeds=("seed", "nunique"),
    )
    params = runs.groupby("config", sort=False)[data.swept].first() if data.swept else None
    table = table.join(extra, on="config")
    if params is not None:
        table = table.join(params, on="config")
    table["rank"] = range(1, len(table) + 1)
    return table


def marginal_tables(data: StudyData) -> dict[str, pd.DataFrame]:
    """Per swept parameter: one row per value, aggregated over everything else (per-seed means first,
    so every value is summarised over seeds, not over a varying number of configurations)."""
    out = {}
    for name in data.swept:
        if data.runs[name].astype(str).nunique() < 2:
            continue
        frame = data.runs.assign(value=data.runs[name].map(_text))
        per_seed = frame.groupby(["value", "seed"], sort=False)["final_return"].mean().reset_index()
        table = stats.summarise(per_seed, "value", "final_return")
        out[name] = table.rename(columns={"value": name})
    return out


def importance(data: StudyData) -> dict[str, float] | None:
    complete = [t for t in data.study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    varied = [n for n in data.swept if len({str(t.params.get(n)) for t in complete}) > 1]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE or not varied:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(data.study, params=varied))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None


def lstm_saw_table(data: StudyData) -> pd.DataFrame:
    columns = ["seq_len_mean", "seq_len_max", "pad_frac", "cut_by_episode_end", "cut_by_max_seq_len"]
    return data.runs.groupby("config", sort=False)[columns].mean().reset_index()


def controls_table(data: StudyData) -> pd.DataFrame | None:
    """For a sweep that includes rnn_type=none: each memory configuration against the control that
    differs only in rnn_type, paired by seed."""
    if "rnn_type" not in data.swept or "none" not in set(data.runs["rnn_type"].astype(str)):
        return None
    others = [n for n in data.swept if n != "rnn_type"]
    rows = []
    for key, group in data.runs.groupby("config", sort=False):
        first = group.iloc[0]
        if first["rnn_type"] == "none":
            continue
        match = data.runs["rnn_type"] == "none"
        for name in others:
            match &= data.runs[name].map(_text) == _text(first[name])
        control = data.runs[match]
        if control.empty:
            continue
        mine = group.set_index("seed")["final_return"]
        theirs = control.set_index("seed")["final_return"]
        diff = stats.difference_ci(mine, theirs, "iqm", paired=True)
        rows.append(
            {
                "config": key,
                "control": control["config"].iloc[0],
                "gain": diff.estimate,
                "ci_low": diff.interval.low,
                "ci_high": diff.interval.high,
                "ci_meaningful": diff.interval.meaningful,
                "ci_reason": diff.interval.reason,
            }
        )
    return pd.DataFrame(rows) if rows else None


def verdict(table: pd.DataFrame) -> str:
    if table.empty:
        return "no finished configuration yet"
    best = table.iloc[0]
    if len(table) == 1:
        return f"{best['config']} is the only finished configuration"
    if not best["ci_meaningful"]:
        return (
            f"{best['config']} scores best (IQM {best['iqm']:.3g}), but with fewer than {stats.MIN_SEEDS} seeds "
            "no difference is significant; rerun with --seeds 3 or more"
        )
    tied = table.iloc[1:][table.iloc[1:]["overlaps_best"].fillna(False).astype(bool)]
    text = f"{best['config']} is best (IQM {best['iqm']:.3g})"
    if tied.empty:
        text += "; every other configuration is significantly worse"
    else:
        text += f"; within its confidence interval: {'; '.join(tied['config'])}"
        candidates = pd.concat([table.iloc[:1], tied])
        cheapest = candidates.sort_values("steps_per_s", ascending=False).iloc[0]
        if cheapest["config"] != best["config"] and cheapest["steps_per_s"] > best["steps_per_s"]:
            text += (
                f"; the cheapest not significantly worse is {cheapest['config']} "
                f"({cheapest['steps_per_s']:,.0f} vs {best['steps_per_s']:,.0f} env steps/s)"
            )
    return text


def build_report(data: StudyData) -> Report:
    table = comparison_table(data)
    return Report(
        data, table, marginal_tables(data), importance(data), lstm_saw_table(data), controls_table(data), verdict(table)
    )


def compare_studies(studies: list[StudyData]) -> pd.DataFrame:
    """The configurations the studies share, side by side: each study's IQM, the change against the
    first study (paired by seed: seeds are the same numbers), and whether that change is significant."""
    base = studies[0]
    rows = []
    for key, group in base.runs.groupby("config", sort=False):
        row: dict[str, Any] = {"config": key, base.name: stats.iqm(group["final_return"])}
        reference = group.set_index("seed")["final_return"]
        for other in studies[1:]:
            theirs = other.runs[other.runs["config"] == key]
            if theirs.empty:
                row[other.name] = math.nan
                continue
            values = theirs.set_index("seed")["final_return"]
            diff = stats.difference_ci(values, reference, "iqm", paired=True)
            row[other.name] = stats.iqm(values)
            row[f"change ({other.name})"] = diff.estimate
            row[f"significant ({other.name})"] = (
                "n/a (<3 seeds)"
                if not diff.interval.meaningful
                else ("yes" if diff.interval.low > 0 or diff.interval.high < 0 else "no")
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _text(value: Any) -> str:
    from rnnppo.core.config import format_value

    return format_value(value)
