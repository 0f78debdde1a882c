"""Reading sweeps back: the studies in a storage, and one study's runs and learning curves as tidy frames.

The Optuna storage is the source of truth (docs/storage-contract.md), so everything here works from a
storage URL alone. Run folders only add detail: fields the storage lacks (from summary.json) and
full-resolution learning curves (from metrics.csv; the storage keeps at most 500 points per run). A
missing or unreadable run file becomes a warning that names it, and the storage's copy is used.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from rnnppo.errors import ReportError
from rnnppo.storage.backend import DB_FILE, default_storage_url, mask_url, open_storage, sqlite_path
from rnnppo.storage.contract import (
    RUN_ATTR_KEYS,
    RUN_FIELDS,
    SAW_FIELDS,
    SPEC_ATTR,
    config_key,
    counted,
    curve_attr,
    decode_param,
    run_attr_seed,
)

CURVE_COLUMNS = ["config", "trial", "seed", "env_steps", "return"]
MEMORY_COLUMNS = ["config", "trial", "seed", "lag", "influence"]
STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.PRUNED: "pruned",
    TrialState.WAITING: "waiting",
}


@dataclass
class StudyData:
    """One study read back. `runs`: one row per (finished trial, seed); `curves`: one row per curve point."""

    name: str
    spec: dict[str, Any]
    swept: list[str]
    runs: pd.DataFrame
    curves: pd.DataFrame
    counts: dict[str, int]
    study: optuna.Study
    """The Optuna study itself (its user attributes hold the spec and provenance)."""
    trials: list[FrozenTrial]
    """Every trial but the spares, in any state (importance and counts use them)."""
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Configuration name -> its resolved `TrainConfig.to_dict()` (from the lowest-numbered trial)."""
    warnings: list[str] = field(default_factory=list)
    memory: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MEMORY_COLUMNS))
    """One row per (run, lag): the influence of the observation `lag` steps back (rnnppo memory)."""

    @property
    def objective(self) -> str:
        """The run field the study optimises: `final_return` or `auc`."""
        return "auc" if self.spec.get("objective") == "auc" else "final_return"


# --- storages and studies ---------------------------------------------------------------------------


def open_readonly(storage_url: str) -> optuna.storages.BaseStorage:
    """Open a storage to read, never to write: a SQLite file that does not exist or is empty is a
    ReportError (it is neither created nor given tables); other SQLite files are opened read-only."""
    path = sqlite_path(storage_url)
    if path is not None and not path.is_file():
        raise ReportError(f"storage {mask_url(storage_url)} does not exist: nothing to report")
    if path is not None and path.stat().st_size == 0:
        raise ReportError(
            f"storage {mask_url(storage_url)} is an empty file: it holds no study; run `rnnppo sweep ...` first"
        )
    return open_storage(storage_url, heartbeat=False, read_only=True)


def storage_for_results(results_dir: Path) -> str:
    """The default SQLite URL of a results folder; an absent or empty folder is a ReportError."""
    folder = Path(results_dir)
    if folder.exists() and not folder.is_dir():
        hint = f"pass --storage sqlite:///{folder}" if folder.suffix == ".db" else "give the folder a sweep wrote"
        raise ReportError(f"{folder} is a file, not a results folder; {hint}")
    if not folder.is_dir():
        raise ReportError(f"results folder {folder} does not exist; run `rnnppo sweep ... --out {folder}` first")
    if not (folder / DB_FILE).is_file():
        raise ReportError(f"no {DB_FILE} in {folder}: nothing to report; run a sweep there or pass --storage URL")
    return default_storage_url(folder)


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return list(optuna.get_all_study_names(storage))


def trial_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    counts = dict.fromkeys(STATE_NAMES.values(), 0)
    for trial in counted(trials):
        counts[STATE_NAMES[trial.state]] += 1
    return counts


def _last_update(study: optuna.Study, trials: list[FrozenTrial]) -> datetime | None:
    candidates = [t.datetime_complete or t.datetime_start for t in trials]
    stamps = [s for s in candidates if s is not None]
    if stamps:
        return max(stamps)
    created = study.user_attrs.get("rnnppo_created")
    try:
        return datetime.fromisoformat(created).replace(tzinfo=None) if created else None
    except (TypeError, ValueError):
        return None


def list_studies(storage: optuna.storages.BaseStorage) -> pd.DataFrame:
    """One row per study: name, env, trial counts by state, the highest trial score (a trial's mean over its seeds;
    no claim that it is best), last update."""
    rows = []
    for name in study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        trials = counted(study.get_trials(deepcopy=False))
        values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        values = [v for v in values if math.isfinite(v)]
        spec = study.user_attrs.get(SPEC_ATTR) or {}
        rows.append(
            {
                "study": name,
                "env": spec.get("env", "?"),
                **trial_counts(trials),
                "highest trial score": max(values) if values else math.nan,
                "last_update": _last_update(study, trials),
            }
        )
    columns = ["study", "env", *STATE_NAMES.values(), "highest trial score", "last_update"]
    return pd.DataFrame(rows, columns=columns)


def pick_study(storage: optuna.storages.BaseStorage, name: str | None) -> str:
    """The named study, or the only / most recently updated one; an unknown name gets a did-you-mean."""
    names = study_names(storage)
    if not names:
        raise ReportError("the storage holds no study: nothing to report; run `rnnppo sweep ...` first")
    if name is not None:
        if name in names:
            return name
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"the studies are: {', '.join(sorted(names))}"
        raise ReportError(f"no study named '{name}'; {hint}")
    if len(names) == 1:
        return names[0]
    listing = list_studies(storage)
    listing["order"] = listing["last_update"].map(lambda stamp: stamp or datetime.min)
    return str(listing.sort_values("order", kind="stable").iloc[-1]["study"])


# --- one study --------------------------------------------------------------------------------------


def decode(name: str, value: Any) -> Any:
    """A parameter as Optuna stored it, back to its typed value ("[64,64]" -> (64, 64))."""
    return decode_param(name, value)


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class _RunFiles:
    """What a run folder adds to the storage's copy of a run; every problem is a warning naming the file."""

    def __init__(self, results_dir: Path | None, warnings: list[str]):
        self.results_dir = results_dir
        self.warnings = warnings

    def folder(self, run: dict[str, Any]) -> Path | None:
        if self.results_dir is None or not run.get("run_dir"):
            return None
        folder = self.results_dir / str(run["run_dir"])
        if not folder.is_dir():
            self.warnings.append(f"run folder {folder} is missing; using the storage's copy")
            return None
        return folder

    def summary(self, folder: Path) -> dict[str, Any]:
        path = folder / "summary.json"
        try:
            summary = json.loads(path.read_text())
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
            return summary
        except FileNotFoundError:
            self.warnings.append(f"run file {path} is missing; using the storage's copy")
        except (OSError, ValueError) as err:
            self.warnings.append(f"run file {path} is unreadable ({err}); using the storage's copy")
        return {}

    def curve(self, folder: Path, env_steps: float) -> list[tuple[float, float]] | None:
        """The full learning curve, unless the file is missing, unreadable or cut short: a complete
        metrics.csv ends with a newline and its last row is at the run's `env_steps`."""
        path = folder / "metrics.csv"
        try:
            if not path.read_bytes().endswith(b"\n"):
                raise ValueError("truncated: no end of line at its end")
            metrics = pd.read_csv(path, usecols=["env_steps", "return_mean_100"]).astype(float)
            last = metrics["env_steps"].iloc[-1] if len(metrics) else math.nan
            if math.isfinite(env_steps) and last != env_steps:
                raise ValueError(f"truncated: it ends at {last:g} of the run's {env_steps:g} env steps")
            points = metrics.dropna()
        except FileNotFoundError:
            self.warnings.append(f"run file {path} is missing; using the storage's learning curve")
        except (OSError, ValueError, pd.errors.ParserError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.warnings.append(f"run file {path} is unreadable ({reason}); using the storage's learning curve")
        else:
            return list(points.itertuples(index=False, name=None))
        return None


def load_study(storage: optuna.storages.BaseStorage, name: str, results_dir: Path | None = None) -> StudyData:
    """Every finished run of the study's complete trials, from the storage, with detail from the run
    folders under `results_dir` when given. Running, pruned and failed trials are only counted."""
    study = optuna.load_study(study_name=name, storage=storage)
    spec = dict(study.user_attrs.get(SPEC_ATTR) or {})
    trials = counted(study.get_trials(deepcopy=False))
    swept = list(spec.get("swept") or sorted({key for t in trials for key in t.params}))
    warnings: list[str] = []
    files = _RunFiles(Path(results_dir) if results_dir is not None else None, warnings)
    rows, points, influence = [], [], []
    configs: dict[str, dict[str, Any]] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.state != TrialState.COMPLETE:
            continue
        params = {key: decode(key, value) for key, value in trial.params.items()}
        key = config_key(params, swept)
        config = trial.user_attrs.get("config") or {}
        configs.setdefault(key, config)
        for attr, stored in trial.user_attrs.items():
            seed = run_attr_seed(attr)
            if seed is None or not isinstance(stored, dict):
                continue
            run = dict(stored)
            curve = [tuple(point) for point in trial.user_attrs.get(curve_attr(seed)) or []]
            folder = files.folder(run)
            if folder is not None:
                on_disk = files.summary(folder)
                for field_name in RUN_ATTR_KEYS:
                    if _missing(run.get(field_name)) and not _missing(on_disk.get(field_name)):
                        run[field_name] = on_disk[field_name]
                curve = files.curve(folder, _number(run.get("env_steps"))) or curve
            saw = run.get("lstm_saw") or {}
            rows.append(
                {
                    "trial": trial.number,
                    "config": key,
                    **{n: params.get(n) for n in swept},
                    "rnn_type": params.get("rnn_type", config.get("rnn_type", "lstm")),
                    "seed": seed,
                    **{f: _number(run.get(f)) for f in RUN_FIELDS},
                    **{f: _number(saw.get(f)) for f in SAW_FIELDS},
                    "run_dir": run.get("run_dir") or "",
                }
            )
            points += [(key, trial.number, seed, _number(x), _number(y)) for x, y in curve]
            lags = run.get("memory_influence")
            by_lag = lags if isinstance(lags, list) else []
            influence += [(key, trial.number, seed, lag, _number(value)) for lag, value in enumerate(by_lag)]
    columns = [
        "trial",
        "config",
        *dict.fromkeys([*swept, "rnn_type"]),
        "seed",
        *RUN_FIELDS,
        *SAW_FIELDS,
        "run_dir",
    ]
    runs = pd.DataFrame(rows, columns=columns)
    for name_ in swept:
        values = [row[name_] for row in rows]
        if any(value is None for value in values):
            # pandas would turn None into NaN and ints into floats: `encoder_out_size=none` is a value
            runs[name_] = pd.Series(values, index=runs.index, dtype=object)
    curves = pd.DataFrame(points, columns=CURVE_COLUMNS)
    memory = pd.DataFrame(influence, columns=MEMORY_COLUMNS)
    return StudyData(name, spec, swept, runs, curves, trial_counts(trials), study, trials, configs, warnings, memory)
