"""What a study says: the comparison of its configurations, a marginal table per swept parameter,
parameter importance, what the LSTM saw, gains over memory-off controls, a one-line verdict, and the
same configurations across studies.

Every table is a group-by over `StudyData.runs`. Runs are first averaged per (configuration, seed), so
a configuration that ran twice (a retried or re-sampled trial) still counts each seed once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from rnnppo.core.config import TrainConfig, format_value, with_env_kwargs
from rnnppo.results import stats
from rnnppo.results.studies import ReportError, StudyData

MIN_TRIALS_FOR_IMPORTANCE = 6
"""Fewer finished trials than this cannot say which parameter matters."""
TOP_TRIALS_FOR_IMPORTANCE = 3
"""PED-ANOVA compares the best trials with all of them; keep at least this many among the best."""
COST_COLUMNS = ("steps_per_s", "wall_s")
SAW_COLUMNS = ["seq_len_mean", "seq_len_max", "pad_frac", "cut_by_episode_end", "cut_by_max_seq_len"]


@dataclass
class Report:
    data: StudyData
    score: str
    """The run field configurations are ranked by: `final_return`, or `auc` for an AUC objective."""
    comparison: pd.DataFrame
    """One row per configuration, best first: summarise() columns + swept values, auc, cost, rank."""
    marginals: dict[str, pd.DataFrame]
    """Swept name -> one row per value, aggregated over everything else."""
    importance: dict[str, float] | None
    importance_note: str
    lstm_saw: pd.DataFrame
    controls: pd.DataFrame | None
    """Gain of each memory configuration over its rnn_type=none control; None without controls."""
    cheapest: str | None
    """The cheapest configuration not significantly worse than the best (None: no meaningful test)."""
    verdict: str


def per_seed(data: StudyData) -> pd.DataFrame:
    """One row per (configuration, seed): the mean over duplicate runs of the same configuration."""
    runs = data.runs
    numeric = ["final_return", "auc", "steps_per_s", "train_time_s", *SAW_COLUMNS]
    frame = runs.groupby(["config", "seed"], sort=False)[numeric].mean().reset_index()
    return frame.rename(columns={"train_time_s": "wall_s"})


def _swept_values(data: StudyData) -> pd.DataFrame:
    """Configuration name -> its swept values and rnn_type (None kept: `encoder_out_size=none` is a value)."""
    columns = list(dict.fromkeys([*data.swept, "rnn_type"]))
    return data.runs.drop_duplicates("config").set_index("config")[columns]


def comparison_table(data: StudyData, score: str | None = None) -> pd.DataFrame:
    """One row per configuration, best IQM first, with its interval, AUC, cost and rank."""
    score = score or data.objective
    if data.runs.empty:
        return pd.DataFrame(columns=["config", *stats.SUMMARY_COLUMNS, "auc", *COST_COLUMNS, "rank"])
    seeds = per_seed(data)
    table = stats.summarise(seeds, "config", score)
    extra = seeds.groupby("config", sort=False).agg(
        auc=("auc", "mean"), steps_per_s=("steps_per_s", "mean"), wall_s=("wall_s", "mean")
    )
    table = table.join(extra, on="config").join(_swept_values(data), on="config")
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def _natural(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, int | float) and not isinstance(value, bool) else (1, 0, str(value))


def marginal_tables(data: StudyData, score: str | None = None) -> dict[str, pd.DataFrame]:
    """Per swept parameter with 2+ values: one row per value in natural order. Each seed is first
    averaged over the other parameters, so every value is summarised over seeds, not over however
    many configurations happened to finish with it."""
    score = score or data.objective
    out = {}
    seeds = per_seed(data).join(_swept_values(data), on="config")
    for name in data.swept:
        if seeds[name].map(format_value).nunique() < 2:
            continue
        frame = seeds.assign(value=seeds[name].map(format_value))
        by_seed = frame.groupby(["value", "seed"], sort=False)[score].mean().reset_index()
        table = stats.summarise(by_seed, "value", score)
        table["best"] = table.index == 0
        order = {format_value(v): _natural(v) for v in seeds[name]}
        table = table.sort_values("value", key=lambda col: col.map(order), kind="stable").reset_index(drop=True)
        out[name] = table.rename(columns={"value": name})
    return out


def importance(data: StudyData) -> tuple[dict[str, float] | None, str]:
    """Optuna's PED-ANOVA importance of the swept parameters for the objective, and a note when there
    is none. PED-ANOVA needs no extra dependency; its top quantile is widened on small studies so that
    at least TOP_TRIALS_FOR_IMPORTANCE trials count as "the best ones"."""
    complete = [t for t in data.trials if t.state == TrialState.COMPLETE and t.value is not None]
    varied = [n for n in data.swept if len({format_value(t.params.get(n)) for t in complete}) > 1]
    if not complete:
        return None, "no trial has finished yet"
    if not varied:
        return None, "no swept parameter varies among the finished trials"
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        need = f"importance needs {MIN_TRIALS_FOR_IMPORTANCE} or more finished trials"
        return None, f"{need}; this study has {len(complete)}"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        study = optuna.create_study(direction="maximize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(complete)
    quantile = min(0.5, max(0.1, TOP_TRIALS_FOR_IMPORTANCE / len(complete)))
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings
            values = optuna.importance.get_param_importances(study, evaluator=evaluator, params=varied)
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        return None, f"Optuna could not compute importance: {err}"
    return {name: float(value) for name, value in values.items()}, ""


def lstm_saw_table(data: StudyData, order: list[str]) -> pd.DataFrame:
    """Per configuration (in comparison order): mean real sequence length, padding, why sequences ended."""
    if data.runs.empty:
        return pd.DataFrame(columns=["config", *SAW_COLUMNS])
    table = data.runs.groupby("config", sort=False)[SAW_COLUMNS].mean()
    return table.reindex(order).join(memory_horizon_table(data)).reset_index()


def memory_horizon_table(data: StudyData) -> pd.DataFrame:
    """Per configuration: its max_seq_len, and the memory horizon its runs measured at the end of training
    (IQM over seeds with a 95% bootstrap interval; NaN where no run measured it)."""
    columns = ["max_seq_len", "memory_horizon", "memory_horizon_low", "memory_horizon_high", "memory_runs"]
    rows = {}
    for key, group in data.runs.groupby("config", sort=False):
        horizons = group["memory_horizon"].dropna().to_numpy(dtype=float)
        interval = stats.bootstrap_ci(horizons) if horizons.size else None
        low, high = (interval.low, interval.high) if interval is not None and interval.meaningful else (np.nan, np.nan)
        max_seq_len = (data.configs.get(cast(str, key)) or {}).get("max_seq_len")  # keys: config_key()'s str
        if "max_seq_len" in group and group["max_seq_len"].notna().all():
            max_seq_len = group["max_seq_len"].iloc[0]
        rows[key] = [
            max_seq_len,
            stats.iqm(horizons) if horizons.size else np.nan,
            low,
            high,
            int(horizons.size),
        ]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _control_for(config: pd.Series, controls: pd.DataFrame, others: list[str]) -> str | None:
    """The memory-off configuration agreeing with `config` on the most other swept parameters."""
    if controls.empty:
        return None
    agree = sum((controls[n].map(format_value) == format_value(config[n])).astype(int) for n in others)
    if isinstance(agree, int):  # nothing else swept: any control will do
        return str(controls.index[0])
    return str(agree.idxmax())


def controls_table(data: StudyData, score: str | None = None) -> pd.DataFrame | None:
    """Each memory configuration's gain over its memory-off control (rnn_type=none in its config),
    paired by seed. The control is the one differing in the fewest swept parameters."""
    score = score or data.objective
    if data.runs.empty or not (data.runs["rnn_type"] == "none").any():
        return None
    values = _swept_values(data)
    controls = values[values["rnn_type"] == "none"]
    others = [n for n in data.swept if n != "rnn_type"]
    seeds = per_seed(data)
    rows = []
    for key, config in values[values["rnn_type"] != "none"].iterrows():
        control = _control_for(config, controls, others)
        if control is None:
            continue
        mine = seeds[seeds["config"] == key].set_index("seed")[score]
        theirs = seeds[seeds["config"] == control].set_index("seed")[score]
        diff = stats.difference_ci(mine, theirs, "iqm", paired=True)
        rows.append(
            {
                "config": key,
                "control": control,
                "gain": diff.estimate,
                "ci_low": diff.interval.low,
                "ci_high": diff.interval.high,
                "ci_meaningful": diff.interval.meaningful,
                "ci_reason": diff.interval.reason,
                "pairs": diff.interval.n,
                "significant": diff.interval.meaningful and (diff.interval.low > 0 or diff.interval.high < 0),
            }
        )
    return pd.DataFrame(rows) if rows else None


def not_worse(table: pd.DataFrame) -> pd.DataFrame:
    """The best configuration and those whose interval overlaps its interval."""
    if table.empty:
        return table
    ties = table["overlaps_best"].fillna(False).astype(bool)
    return table[(table["rank"] == 1) | ties]


def cheapest_not_worse(table: pd.DataFrame) -> pd.Series | None:
    """Among the best and its ties: the one with the most env steps/s (or the least wall time)."""
    if table.empty or not bool(table.iloc[0]["ci_meaningful"]):
        return None
    candidates = not_worse(table)
    if candidates["steps_per_s"].notna().any():
        label = candidates["steps_per_s"].idxmax()
    elif candidates["wall_s"].notna().any():
        label = candidates["wall_s"].idxmin()
    else:
        return None
    row = candidates.loc[cast(int, label)]  # the index is 0..n-1 (reset_index): one label, one row
    assert isinstance(row, pd.Series)
    return row


def short_name(key: str, best: str) -> str:
    """The parts of configuration `key` that differ from `best` ("max_seq_len=8")."""
    same = set(best.split(", "))
    parts = [part for part in key.split(", ") if part not in same]
    return ", ".join(parts) or key


def verdict(table: pd.DataFrame, counts: dict[str, int] | None = None) -> str:
    """One line: which configuration is best, which are within its interval, which is cheapest."""
    pending = ", ".join(f"{n} {state}" for state, n in (counts or {}).items() if state != "complete" and n)
    if table.empty or table["iqm"].isna().all():
        return "no finished configuration yet" + (f" ({pending})" if pending else "")
    best = table.iloc[0]
    name = best["config"]
    if len(table) == 1:
        return f"{name} is the only finished configuration (IQM {best['iqm']:.3g})"
    if not best["ci_meaningful"]:
        return (
            f"{name} scores best (IQM {best['iqm']:.3g}), but with fewer than {stats.MIN_SEEDS} seeds the "
            "intervals are not meaningful, so no difference is significant; "
            f"sweep with --seeds {stats.MIN_SEEDS} or more"
        )
    ties = not_worse(table).iloc[1:]
    text = f"{name} is best (IQM {best['iqm']:.3g})"
    if ties.empty:
        text += "; every other configuration is significantly worse"
    elif len(ties) <= 4:
        names = [short_name(key, name) for key in ties["config"]]
        names = [f"({n})" if ", " in n and len(names) > 1 else n for n in names]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        text += f"; {listed} {'is' if len(names) == 1 else 'are'} within its confidence interval"
    else:
        text += f"; {len(ties)} other configurations are within its confidence interval"
    cheapest = cheapest_not_worse(table)
    if cheapest is not None and cheapest["config"] != name:
        text += f"; the cheapest not significantly worse is {short_name(cheapest['config'], name)}"
        if np.isfinite(cheapest["steps_per_s"]) and np.isfinite(best["steps_per_s"]):
            text += f" ({cheapest['steps_per_s']:,.0f} vs {best['steps_per_s']:,.0f} env steps/s)"
    return text


def build_report(data: StudyData) -> Report:
    score = data.objective
    table = comparison_table(data, score)
    found, note = importance(data)
    cheapest = cheapest_not_worse(table)
    return Report(
        data=data,
        score=score,
        comparison=table,
        marginals=marginal_tables(data, score),
        importance=found,
        importance_note=note,
        lstm_saw=lstm_saw_table(data, list(table["config"])),
        controls=controls_table(data, score),
        cheapest=None if cheapest is None else str(cheapest["config"]),
        verdict=verdict(table, data.counts),
    )


# --- study against study ----------------------------------------------------------------------------


def _resolved(config: dict[str, Any], name: str) -> str:
    if name.startswith("env."):
        return format_value((config.get("env_kwargs") or {}).get(name.removeprefix("env.")))
    return format_value(config.get(name))


def compare_studies(studies: list[StudyData]) -> pd.DataFrame:
    """The configurations the studies share, side by side. Configurations are matched on the resolved
    values of every parameter any of the studies swept, so a study that fixed `rnn_type=lstm` lines up
    with the lstm half of one that swept it. Each later study's change is against the first, paired by
    seed when they share seeds (seed i is the same number in every study of one sweep command)."""
    names = list(dict.fromkeys(n for data in studies for n in data.swept))
    frames = []
    for data in studies:
        seeds = per_seed(data)
        keys = {
            key: ", ".join(f"{n}={_resolved(config, n)}" for n in names) or "(base config)"
            for key, config in data.configs.items()
        }
        frames.append(seeds.assign(config=seeds["config"].map(keys), study=data.name))
    score = studies[0].objective
    first = studies[0].name
    shared = set.intersection(*(set(f["config"]) for f in frames)) if len(frames) > 1 else set()
    rows = []
    for key in dict.fromkeys(frames[0]["config"]):
        if key not in shared:
            continue
        row: dict[str, Any] = {"config": key}
        base = frames[0][frames[0]["config"] == key].set_index("seed")[score]
        row[f"{first} IQM"] = stats.iqm(base)
        row[f"{first} seeds"] = int(base.notna().sum())
        for data, frame in zip(studies[1:], frames[1:], strict=True):
            theirs = frame[frame["config"] == key].set_index("seed")[score]
            paired = bool(set(theirs.index) & set(base.index))
            diff = stats.difference_ci(theirs, base, "iqm", paired=paired)
            row[f"{data.name} IQM"] = stats.iqm(theirs)
            row[f"{data.name} seeds"] = int(theirs.notna().sum())
            row[f"change ({data.name})"] = diff.estimate
            row[f"95% CI ({data.name})"] = _interval_text(diff.interval)
            row[f"significant ({data.name})"] = _significance(diff.interval)
        rows.append(row)
    return pd.DataFrame(rows)


def _interval_text(interval: stats.Interval) -> str:
    if not interval.meaningful:
        return f"n/a ({interval.reason})"
    return f"[{interval.low:.3g}, {interval.high:.3g}]"


def _significance(interval: stats.Interval) -> str:
    if not interval.meaningful:
        return "not meaningful (<3 seeds)"
    if interval.low > 0:
        return "yes: better"
    if interval.high < 0:
        return "yes: worse"
    return "no"


def resolved_config(data: StudyData, key: str) -> TrainConfig:
    """The exact configuration a trial of `key` trained (its `config` attribute, seed included); for a
    storage without one, the study's base config with the trial's parameters applied."""
    stored = data.configs.get(key) or {}
    if stored:
        return TrainConfig.from_dict(stored)
    base = dict(data.spec.get("base_config") or {})
    if not base:
        raise ReportError(
            f"study {data.name} stored no resolved configuration for {key} (trial attribute 'config') "
            "and no base_config in its spec; it was not written by `rnnppo sweep`"
        )
    row = data.runs.loc[data.runs["config"] == key, data.swept].iloc[0]
    params = cast(dict[str, Any], row.to_dict())  # the swept columns are names (str)
    base = with_env_kwargs(base, params)
    seeds = data.spec.get("seeds") or []
    if seeds:
        base["seed"] = seeds[0]
    return TrainConfig.from_dict({**base, "env_kwargs": base.get("env_kwargs") or {}})
