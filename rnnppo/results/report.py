"""What a study says: the comparison of its configurations, a marginal table per swept parameter,
parameter importance, what the LSTM saw, gains over memory-off controls, a one-line verdict, and the
same configurations across studies.

Every table is a group-by over `StudyData.runs`. Runs are first averaged per (configuration, seed), so
a configuration that ran twice (a retried or re-sampled trial) still counts each seed once.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from rnnppo.core.analysis.inert import inert_settings
from rnnppo.core.config import TrainConfig, format_value, with_env_kwargs
from rnnppo.results import paired, stats
from rnnppo.results import verdict as claims
from rnnppo.results.atlas import atlas_lines
from rnnppo.results.studies import ReportError, StudyData, config_key, decode
from rnnppo.storage.contract import BASELINE_ATTR
from rnnppo.storage.race import RaceSummary, study_race

MIN_TRIALS_FOR_IMPORTANCE = 6
"""Fewer finished trials than this cannot say which parameter matters."""
TOP_TRIALS_FOR_IMPORTANCE = 3
"""PED-ANOVA compares the best trials with all of them; keep at least this many among the best."""
COST_COLUMNS = ("steps_per_s", "wall_s", "cpu_s_per_step", "cpu_sd", "cpu_n")
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
    """Only when the configurations' scores vary beyond the seed spread (a permutation test)."""
    importance_note: str
    lstm_saw: pd.DataFrame
    controls: pd.DataFrame | None
    """Gain of each memory configuration over its rnn_type=none control; None without controls."""
    cheapest: str | None
    """The cheapest configuration shown not worse than the highest (equivalent within ±min_effect) and
    shown cheaper by a test over per-seed CPU times (verdict.cheaper_p); None otherwise."""
    verdict: str
    baseline: dict[str, Any] | None = None
    score_kind: str = "return"
    """"success rate" (the score is the evaluation's success share, in [0, 1]) or "return"."""
    score_text: str = ""
    """What a seed's score is, in words (the report says it)."""
    min_effect: float | None = None
    """The smallest difference worth detecting, in score units (--min-effect or the kind's default)."""
    min_effect_source: str = ""
    """Where min_effect came from: "--min-effect", "the sweep's --min-effect" or how the default was set."""
    importance_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Parameter -> 90% interval of its importance over resampled seeds."""
    """The study's uniformly-random-policy baseline (None: not measured, e.g. a study written before 0.2)."""
    warnings: list[str] = field(default_factory=list)
    """Unreadable run files (from loading) and swept settings that cannot change training."""
    race: RaceSummary | None = None
    atlas: list[str] = field(default_factory=list)
    """A max_seq_len sweep on a task of the atlas: its runs against the atlas's finding there (results/atlas.py)."""
    """A raced study's race (`--seeds MIN..MAX`): per configuration its seeds and why it stopped; None: not raced."""


def per_seed(data: StudyData) -> pd.DataFrame:
    """One row per (configuration, seed): the mean over duplicate runs of the same configuration."""
    runs = data.runs
    numeric = ["final_return", "auc", "steps_per_s", "train_time_s", "cpu_s_per_step", *SAW_COLUMNS]
    numeric = [column for column in numeric if column in runs]
    frame = runs.groupby(["config", "seed"], sort=False)[numeric].mean().reset_index()
    return frame.rename(columns={"train_time_s": "wall_s"})


def _swept_values(data: StudyData) -> pd.DataFrame:
    """Configuration name -> its swept values and rnn_type (None kept: `encoder_out_size=none` is a value)."""
    columns = list(dict.fromkeys([*data.swept, "rnn_type"]))
    return data.runs.drop_duplicates("config").set_index("config")[columns]


def baseline_of(data: StudyData) -> dict[str, Any] | None:
    """The random-policy baseline the sweep measured when it created the study (None: not measured)."""
    stored = data.study.user_attrs.get(BASELINE_ATTR) if data.study is not None else None
    if isinstance(stored, dict) and isinstance(stored.get("tasks"), dict):  # a sweep over several tasks
        stored = stored["tasks"].get(data.spec.get("task"))
    return stored if isinstance(stored, dict) else None


def score_kind(data: StudyData, score: str | None = None) -> str:
    """ "success rate" when the score is the final return and every run's return equals its evaluation's
    success share (a 0/1-reward env such as CueRecall: the score lies in [0, 1]); else "return"."""
    runs = data.runs
    if (score or data.objective) != "final_return" or runs.empty or "eval_success_mean" not in runs:
        return "return"
    returns, successes = runs["final_return"].astype(float), runs["eval_success_mean"].astype(float)
    same = successes.notna().all() and bool(np.allclose(returns, successes, rtol=0, atol=1e-9))
    return "success rate" if same else "return"


def score_text(data: StudyData, kind: str) -> str:
    """What one seed's score is, in words."""
    if data.objective == "auc":
        return "a seed's score: the area under its learning curve (mean training return over the env steps)"
    episodes = (data.spec.get("base_config") or {}).get("eval_episodes")
    count = f"{episodes} " if isinstance(episodes, int) and episodes > 0 else ""
    what = "success share" if kind == "success rate" else "mean return"
    return f"a seed's score: the {what} of {count}greedy evaluation episodes after training"


def bounds_of(kind: str) -> tuple[float, float] | None:
    """The range the score can take: [0, 1] for a success rate; None (unbounded) for a return."""
    return (0.0, 1.0) if kind == "success rate" else None


def comparison_table(
    data: StudyData, score: str | None = None, min_effect: float | None = None, kind: str | None = None
) -> pd.DataFrame:
    """One row per configuration, highest IQM first: its interval, AUC, costs, and its paired comparison
    with the highest (shared rank, status, mean difference with its sign-flip interval, p, equivalence
    within ±min_effect, P(this > highest), seeds a difference of min_effect needs). `min_effect` None:
    the score kind's default (verdict.default_min_effect)."""
    score = score or data.objective
    if data.runs.empty:
        columns = ["config", *stats.SUMMARY_COLUMNS, "auc", *COST_COLUMNS, *claims.VERSUS_COLUMNS]
        return pd.DataFrame(columns=[*columns, "above_random", "beats_random", "near_random", "random_upper"])
    kind = kind or score_kind(data, score)
    bounds = bounds_of(kind)
    seeds = per_seed(data)
    table = stats.summarise(seeds, "config", score, bounds=bounds)
    baseline = baseline_of(data)
    if min_effect is None:
        min_effect = claims.default_min_effect(table, kind, baseline)
    extra = seeds.groupby("config", sort=False).agg(
        auc=("auc", "mean"), steps_per_s=("steps_per_s", "mean"), wall_s=("wall_s", "mean")
    )
    order = list(table["config"])
    bound = math.inf if bounds is None else bounds[1] - bounds[0]
    table = table.join(extra, on="config").join(_swept_values(data), on="config")
    table = table.merge(claims.cost_columns(seeds, order), on="config", how="left")
    table = table.merge(claims.against_best(seeds, order, score, min_effect, bound), on="config", how="left")
    versus_random = claims.against_baseline(seeds, order, score, baseline, min_effect)
    return table.merge(versus_random, on="config", how="left")


def _natural(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, int | float) and not isinstance(value, bool) else (1, 0, str(value))


def marginal_tables(
    data: StudyData, score: str | None = None, min_effect: float | None = None, kind: str = "return"
) -> dict[str, pd.DataFrame]:
    """Per swept parameter with 2+ values: one row per value in natural order. Each seed is first
    averaged over the other parameters, so every value is summarised over seeds, not over however
    many configurations happened to finish with it; `vs_best` is the paired verdict against the best value."""
    score = score or data.objective
    out = {}
    seeds = per_seed(data).join(_swept_values(data), on="config")
    for name in data.swept:
        if seeds[name].map(format_value).nunique() < 2:
            continue
        frame = seeds.assign(value=seeds[name].map(format_value))
        by_seed = frame.groupby(["value", "seed"], sort=False)[score].mean().reset_index()
        bounds = bounds_of(kind)
        table = stats.summarise(by_seed, "value", score, bounds=bounds)
        # The same paired rule as the comparison: each value against the highest one, seed by seed, Holm.
        bound = math.inf if bounds is None else bounds[1] - bounds[0]
        versus = claims.against_best(
            by_seed.rename(columns={"value": "config"}), list(table["value"]), score, min_effect, bound
        )
        columns = ["config", "rank", "vs_best", "diff", "diff_text", "p_holm", "prob_improvement"]
        table = table.merge(versus[columns], left_on="value", right_on="config")
        table["best"] = table["vs_best"] == claims.BEST
        table = table.drop(columns="config")
        order = {format_value(v): _natural(v) for v in seeds[name]}
        table = table.sort_values("value", key=lambda col: col.map(order), kind="stable").reset_index(drop=True)
        out[name] = table.rename(columns={"value": name})
    return out


IMPORTANCE_RESAMPLES = 30
"""Bootstrap resamples of the seeds behind the importance's interval."""


def _score_matrix(data: StudyData, score: str) -> tuple[list[str], np.ndarray]:
    """(configurations, [configs, seeds] per-seed scores) over the seeds every configuration finished."""
    seeds = per_seed(data)
    wide = seeds.pivot_table(index="config", columns="seed", values=score, aggfunc="mean").dropna(axis=1)
    return [str(key) for key in wide.index], wide.to_numpy(dtype=float)


def _ped_anova(complete: list[FrozenTrial], values: dict[int, float], varied: list[str]) -> dict[str, float]:
    """PED-ANOVA importances of `varied` on the trials with their values replaced by `values` (by number)."""
    trials = [
        optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=values[t.number])
        for t in complete
    ]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        study = optuna.create_study(direction="maximize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(trials)
    quantile = min(0.5, max(0.1, TOP_TRIALS_FOR_IMPORTANCE / len(trials)))
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature warnings
        found = optuna.importance.get_param_importances(study, evaluator=evaluator, params=varied)
    return {name: float(value) for name, value in found.items()}


def importance(
    data: StudyData, score: str | None = None, separated: bool = True
) -> tuple[dict[str, float] | None, str, dict[str, tuple[float, float]]]:
    """Optuna's PED-ANOVA importance of the swept parameters, only when the configurations' scores vary
    beyond the seed spread (paired.permutation_differ_p < α) and the comparison separated at least one
    configuration from the highest (`separated`: so an importance is never printed where the comparison
    says nothing differs, and the two together claim no more than the comparison's α); with a 90%
    interval from resampling the seeds (IMPORTANCE_RESAMPLES); and a note when there is none. Each trial's
    value is its configuration's mean per-seed score over the seeds every configuration finished."""
    score = score or data.objective
    complete = [t for t in data.trials if t.state == TrialState.COMPLETE and t.value is not None]
    varied = [n for n in data.swept if len({format_value(t.params.get(n)) for t in complete}) > 1]
    if not complete:
        return None, "no trial has finished yet", {}
    if not varied:
        return None, "no swept parameter varies among the finished trials", {}
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        need = f"importance needs {MIN_TRIALS_FOR_IMPORTANCE} or more finished trials"
        return None, f"{need}; this study has {len(complete)}", {}
    keys, matrix = _score_matrix(data, score)
    p = paired.permutation_differ_p(matrix)
    if not separated:
        return (
            None,
            "not reported: no configuration is separated from the highest, so no parameter is shown to matter",
            {},
        )
    if not (math.isfinite(p) and p < paired.ALPHA):
        shown = "not testable" if not math.isfinite(p) else f"p = {p:.2g}"
        return (
            None,
            (
                "not reported: the configurations' scores do not vary beyond the seed spread (permutation test "
                f"shuffling each seed's scores across configurations, {shown}, {matrix.shape[1]} shared seeds)"
            ),
            {},
        )
    row_of = {key: index for index, key in enumerate(keys)}
    trial_row = {
        t.number: row_of.get(config_key({k: decode(k, v) for k, v in t.params.items()}, data.swept)) for t in complete
    }
    complete = [t for t in complete if trial_row[t.number] is not None]
    try:
        found = _ped_anova(complete, {t.number: float(matrix[trial_row[t.number]].mean()) for t in complete}, varied)
        rng = np.random.default_rng(0)
        draws: dict[str, list[float]] = {name: [] for name in found}
        for _ in range(IMPORTANCE_RESAMPLES):
            columns = rng.integers(0, matrix.shape[1], matrix.shape[1])
            means = matrix[:, columns].mean(axis=1)
            again = _ped_anova(complete, {t.number: float(means[trial_row[t.number]]) for t in complete}, varied)
            for name in draws:
                draws[name].append(again.get(name, 0.0))
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        return None, f"Optuna could not compute importance: {err}", {}
    intervals = {name: (float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))) for name, v in draws.items()}
    note = (
        f"shown because the configurations differ beyond the seed spread (permutation test, p = {p:.2g}); "
        f"90% interval: {IMPORTANCE_RESAMPLES} resamples of the seeds"
    )
    return found, note, intervals


def lstm_saw_table(data: StudyData, order: list[str]) -> pd.DataFrame:
    """Per configuration (in comparison order): mean real sequence length, padding, why sequences ended."""
    if data.runs.empty:
        return pd.DataFrame(columns=["config", *SAW_COLUMNS])
    table = data.runs.groupby("config", sort=False)[SAW_COLUMNS].mean()
    return table.reindex(order).join(memory_horizon_table(data)).reset_index()


def memory_horizon_table(data: StudyData) -> pd.DataFrame:
    """Per configuration: its max_seq_len, and the memory horizon its runs measured at the end of training
    (IQM over seeds with a 95% bootstrap interval; NaN where no run measured it), and how many of those runs
    saw nothing past their horizon (memory_at_cap: their horizon is a lower bound, so the IQM is one too)."""
    columns = ["max_seq_len", "memory_horizon", "memory_horizon_low", "memory_horizon_high", "memory_runs"]
    columns.append("memory_at_cap")
    rows = {}
    for key, group in data.runs.groupby("config", sort=False):
        measured = group[group["memory_horizon"].notna()]
        horizons = measured["memory_horizon"].to_numpy(dtype=float)
        at_cap = int((measured["memory_horizon_at_cap"] == 1).sum()) if "memory_horizon_at_cap" in measured else 0
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
            at_cap,
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


def controls_table(data: StudyData, score: str | None = None, kind: str = "return") -> pd.DataFrame | None:
    """Each memory configuration's gain over its memory-off control (rnn_type=none in its config): the
    mean paired difference, its sign-flip interval, the exact sign-flip test and P(this > control)
    (results/paired.py; not corrected for multiplicity: each row is its own question). The control is
    the one differing in the fewest swept parameters."""
    score = score or data.objective
    bounds = bounds_of(kind)
    bound = math.inf if bounds is None else bounds[1] - bounds[0]
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
        test = paired.paired_test(mine, theirs, bound=bound)
        rows.append(
            {
                "config": key,
                "control": control,
                "gain": test.mean_diff,
                "gain_text": test.interval_text(),
                "pairs": test.n,
                "test": test.kind,
                "p": test.p,
                "prob_improvement": test.prob_improvement,
                "significant": bool(test.decided and test.p < paired.ALPHA) if test.decided else None,
            }
        )
    return pd.DataFrame(rows) if rows else None


def verdict(data: StudyData, table: pd.DataFrame, min_effect: float | None = None) -> str:
    """The one-paragraph verdict (results/verdict.py) for a study's comparison table; `min_effect` None: the
    sweep's --min-effect or the score kind's default, as comparison_table() used."""
    if min_effect is None:
        min_effect, _ = resolve_min_effect(data, table, score_kind(data), None)
    cheapest = claims.cheapest_not_worse(table, same_as_best(data, table), per_seed(data))
    return claims.verdict(table, data.counts, baseline_of(data), cheapest, min_effect)


def same_as_best(data: StudyData, table: pd.DataFrame) -> list[str]:
    """The configurations that differ from the best only in swept settings without effect in both (analysis/inert.py):
    they run the very computation the best runs, so no cost difference between them is real."""
    if table.empty or not data.configs:
        return []
    best_key = str(table.iloc[0]["config"])
    best = data.configs.get(best_key)
    if not best:
        return []
    best_config = TrainConfig.from_dict(best)
    same = []
    for key, config in data.configs.items():
        if key == best_key or not config:
            continue
        other = TrainConfig.from_dict(config)
        differing = [name for name in data.swept if best.get(name) != config.get(name)]
        inert_here, inert_there = inert_settings(other, differing), inert_settings(best_config, differing)
        if differing and all(name in inert_here and name in inert_there for name in differing):
            same.append(key)
    return same


def inert_warnings(data: StudyData) -> list[str]:
    """A warning per swept setting that cannot change training in any configuration the study ran."""
    found: dict[str, str] = {}
    configs = [TrainConfig.from_dict(config) for config in data.configs.values() if config]
    for setting in data.swept:
        reasons = [inert_settings(config, [setting]).get(setting) for config in configs]
        if configs and all(reasons):
            found[setting] = str(reasons[0])
    return [f"swept setting {setting} {reason}" for setting, reason in found.items()]


def resolve_min_effect(
    data: StudyData, table: pd.DataFrame, kind: str, given: float | None
) -> tuple[float | None, str]:
    """(min_effect, where it came from): the report's --min-effect, else the sweep's, else the kind's default."""
    if given is not None:
        return float(given), "--min-effect"
    stored = data.spec.get("min_effect")
    if isinstance(stored, int | float) and math.isfinite(stored) and stored > 0:
        return float(stored), "the sweep's --min-effect"
    value = claims.default_min_effect(table, kind, baseline_of(data))
    if kind == "success rate":
        how = "default for a success rate"
    else:
        how = f"default: {100 * claims.RETURN_MIN_EFFECT_SHARE:.0f}% of the gap between the highest IQM and random"
    return value, how


def build_report(data: StudyData, min_effect: float | None = None) -> Report:
    """Every table and the verdict; `min_effect` (score units) overrides the sweep's and the default."""
    score = data.objective
    kind = score_kind(data, score)
    first = comparison_table(data, score, min_effect, kind)
    effect, source = resolve_min_effect(data, first, kind, min_effect)
    table = comparison_table(data, score, effect, kind) if effect != min_effect else first
    found, note, intervals = importance(data, score, bool((table["vs_best"] == claims.WORSE).any()))
    cheapest = claims.cheapest_not_worse(table, same_as_best(data, table), per_seed(data))
    baseline = baseline_of(data)
    return Report(
        data=data,
        score=score,
        comparison=table,
        marginals=marginal_tables(data, score, effect, kind),
        importance=found,
        importance_note=note,
        lstm_saw=lstm_saw_table(data, list(table["config"])),
        controls=controls_table(data, score, kind),
        cheapest=None if cheapest is None else str(cheapest["config"]),
        verdict=claims.verdict(table, data.counts, baseline, cheapest, effect),
        baseline=baseline,
        warnings=[*data.warnings, *inert_warnings(data)],
        score_kind=kind,
        score_text=score_text(data, kind),
        min_effect=effect,
        min_effect_source=source,
        importance_interval=intervals,
        race=study_race(data.trials, data.spec),
        atlas=atlas_lines(data),
    )


# --- study against study ----------------------------------------------------------------------------


def _resolved(config: dict[str, Any], name: str) -> str:
    if name.startswith("env."):
        return format_value((config.get("env_kwargs") or {}).get(name.removeprefix("env.")))
    return format_value(config.get(name))


MATCHED_SPEC_KEYS = ("env", "env_kwargs", "total_steps")
"""What two studies must share for their scores to be compared at all."""


def study_mismatches(studies: list[StudyData]) -> list[str]:
    """How each later study differs from the first in env, env kwargs or env steps per run."""
    first = studies[0]
    found = []
    for data in studies[1:]:
        for key in MATCHED_SPEC_KEYS:
            mine, theirs = first.spec.get(key), data.spec.get(key)
            if mine != theirs:
                found.append(f"{key}: {_spec_text(mine)} in {first.name}, {_spec_text(theirs)} in {data.name}")
    return found


def _spec_text(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else format_value(value)


def compare_studies(studies: list[StudyData]) -> pd.DataFrame:
    """The configurations the studies share, side by side. Configurations are matched on the resolved
    values of every parameter any of the studies swept, so a study that fixed `rnn_type=lstm` lines up
    with the lstm half of one that swept it. Each later study's change is against the first, paired by
    seed (seed i is the same number in every study of one sweep command): the mean paired difference,
    its sign-flip interval, and the test, Holm-corrected over the configurations of that pair of
    studies; the test is the exact sign-flip test (results/paired.py). Callers check study_mismatches()
    first: different envs or budgets are not comparable."""
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
    shared_keys = [key for key in dict.fromkeys(frames[0]["config"]) if key in shared]
    rows: list[dict[str, Any]] = []
    for key in shared_keys:
        base = frames[0][frames[0]["config"] == key].set_index("seed")[score]
        rows.append({"config": key, f"{first} IQM": stats.iqm(base), f"{first} seeds": int(base.notna().sum())})
    for data, frame in zip(studies[1:], frames[1:], strict=True):
        tests = []
        for row, key in zip(rows, shared_keys, strict=True):
            base = frames[0][frames[0]["config"] == key].set_index("seed")[score]
            theirs = frame[frame["config"] == key].set_index("seed")[score]
            row[f"{data.name} IQM"] = stats.iqm(theirs)
            row[f"{data.name} seeds"] = int(theirs.notna().sum())
            tests.append(paired.paired_test(theirs, base))
        family = [t.p if t.kind not in (paired.TIE, paired.TOO_FEW) else math.nan for t in tests]
        for row, test, p_holm in zip(rows, tests, paired.holm(family), strict=True):
            row[f"change ({data.name})"] = test.mean_diff
            row[f"95% CI ({data.name})"] = test.interval_text()
            row[f"P(better) ({data.name})"] = test.prob_improvement
            row[f"p ({data.name})"] = p_holm
            row[f"test ({data.name})"] = test.kind
            row[f"significant ({data.name})"] = _significance(test, p_holm)
    return pd.DataFrame(rows)


def _significance(test: paired.PairedTest, p_holm: float) -> str:
    if test.kind == paired.TIE:
        return "no: identical"
    if not test.decided:
        return f"not tested (<{paired.MIN_PAIRS} shared seeds)"
    if p_holm < paired.ALPHA:
        return "yes: better" if test.mean_diff > 0 else "yes: worse"
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
