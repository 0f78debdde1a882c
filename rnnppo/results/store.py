"""Reading sweeps back: studies in a storage, and their runs and learning curves as tidy pandas frames.

The Optuna storage is the source of truth (docs/storage-contract.md); the run folders only add detail
(fields a storage row lacks). A missing or unreadable run file is reported through `warn` and skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from rnnppo.core.config import format_value

RUN_FIELDS = (
    "final_return",
    "eval_return_std",
    "eval_success_mean",
    "final_train_return",
    "auc",
    "steps_per_s",
    "train_time_s",
    "env_steps",
)
SAW_FIELDS = ("seq_len_mean", "seq_len_max", "pad_frac", "cut_by_episode_end", "cut_by_max_seq_len")
Warn = Callable[[str], None]


class ReportError(ValueError):
    """Nothing to report (no results folder, no study of that name...); the message says what to do."""


@dataclass
class StudyData:
    """One study read back: its spec, runs [one row per (trial, seed)], curves, and trial counts."""

    name: str
    spec: dict[str, Any]
    swept: list[str]
    runs: pd.DataFrame
    curves: pd.DataFrame
    counts: dict[str, int]
    study: optuna.Study
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # config key -> resolved config


def open_readonly(storage_url: str) -> optuna.storages.BaseStorage:
    from rnnppo.sweeps.storage import open_storage

    return open_storage(storage_url, heartbeat=False)


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def _counts(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    counts = {"complete": 0, "failed": 0, "running": 0, "pruned": 0, "waiting": 0}
    names = {
        TrialState.COMPLETE: "complete",
        TrialState.FAIL: "failed",
        TrialState.RUNNING: "running",
        TrialState.PRUNED: "pruned",
        TrialState.WAITING: "waiting",
    }
    for trial in trials:
        if trial.user_attrs.get("rnnppo_role") == "spare":
            continue
        counts[names[trial.state]] += 1
    return counts


def list_studies(storage: optuna.storages.BaseStorage) -> pd.DataFrame:
    """One row per study: name, env, trial counts, best score and last update."""
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        spec = study.user_attrs.get("rnnppo_spec", {})
        values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        stamps = [t.datetime_complete or t.datetime_start for t in trials if t.datetime_start]
        rows.append(
            {
                "study": summary.study_name,
                "env": spec.get("env", "?"),
                **_counts(trials),
                "best": max(values) if values else math.nan,
                "last_update": max(stamps).isoformat(sep=" ", timespec="seconds") if stamps else "",
            }
        )
    return pd.DataFrame(rows)


def pick_study(storage: optuna.storages.BaseStorage, name: str | None) -> str:
    """The named study, or the only / most recently updated one; unknown names get a did-you-mean."""
    import difflib

    names = study_names(storage)
    if not names:
        raise ReportError("the storage holds no study yet; run `rnnppo sweep ...` first")
    if name is not None:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; studies: {', '.join(names)}"
            raise ReportError(f"no study named '{name}'{hint}")
        return name
    if len(names) == 1:
        return names[0]
    listing = list_studies(storage)
    return str(listing.sort_values("last_update").iloc[-1]["study"])


def config_key(params: dict[str, Any], swept: list[str]) -> str:
    """`max_seq_len=8, lstm_cell_size=64`: how a configuration is named in every table."""
    if not swept:
        return "(base config)"
    return ", ".join(f"{name}={format_value(params.get(name))}" for name in swept)


def _read_summary(path: Path, warn: Warn) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        warn(f"run file {path} is missing; using the storage's copy")
    except (OSError, ValueError) as err:
        warn(f"run file {path} is unreadable ({type(err).__name__}); using the storage's copy")
    return None


def load_study(
    storage: optuna.storages.BaseStorage, name: str, results_dir: Path | None = None, warn: Warn | None = None
) -> StudyData:
    """Every finished seed run of the study's trials (complete ones, and finished seeds of others)."""
    from rnnppo.sweeps.space import decode_param

    warn = warn or (lambda message: None)
    study = optuna.load_study(study_name=name, storage=storage)
    spec = study.user_attrs.get("rnnppo_spec", {})
    trials = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("rnnppo_role") != "spare"]
    swept = list(spec.get("swept") or sorted({k for t in trials for k in t.params}))
    rows, curve_rows, configs = [], [], {}
    for trial in trials:
        if trial.state != TrialState.COMPLETE:
            continue
        params = {k: decode_param(k, v) for k, v in trial.params.items()}
        key = config_key(params, swept)
        configs.setdefault(key, trial.user_attrs.get("config", {}))
        rnn_type = trial.user_attrs.get("config", {}).get("rnn_type", params.get("rnn_type", "lstm"))
        for attr, run in trial.user_attrs.items():
            if not attr.startswith("run_"):
                continue
            seed = int(attr[4:])
            run = dict(run)
            if results_dir is not None and run.get("run_dir"):
                on_disk = _read_summary(Path(results_dir) / run["run_dir"] / "summary.json", warn)
                for name_ in RUN_FIELDS:
                    if run.get(name_) is None and on_disk is not None:
                        run[name_] = on_disk.get(name_)
            saw = run.get("lstm_saw") or {}
            rows.append(
                {
                    "trial": trial.number,
                    "config": key,
                    **params,
                    "seed": seed,
                    "rnn_type_": rnn_type,
                    **{f: _num(run.get(f)) for f in RUN_FIELDS},
                    **{f: _num(saw.get(f)) for f in SAW_FIELDS},
                }
            )
            for env_steps, value in trial.user_attrs.get(f"curve_{seed}", []):
                curve_rows.append(
                    {"config": key, "trial": trial.number, "seed": seed, "env_steps": env_steps, "return": value}
                )
    runs = pd.DataFrame(rows, columns=["trial", "config", *swept, "seed", "rnn_type_", *RUN_FIELDS, *SAW_FIELDS])
    curves = pd.DataFrame(curve_rows, columns=["config", "trial", "seed", "env_steps", "return"])
    return StudyData(name, spec, swept, runs, curves, _counts(trials), study, configs)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def storage_for_results(results_dir: Path) -> str:
    """The default SQLite URL of a results folder; an absent or empty folder is a ReportError."""
    from rnnppo.sweeps.storage import DB_FILE, default_storage_url

    folder = Path(results_dir)
    if not folder.is_dir():
        raise ReportError(f"results folder {folder} does not exist; run `rnnppo sweep ... --out {folder}` first")
    if not (folder / DB_FILE).is_file():
        raise ReportError(f"no {DB_FILE} in {folder}: nothing to report; run a sweep there or pass --storage URL")
    return default_storage_url(folder)
