"""Experiment loggers (`--logger tensorboard|wandb|mlflow`): every iteration's metrics to where researchers look.

Each is an optional extra (`pip install 'rnnppo[tensorboard]'`, `[wandb]`, `[mlflow]`) imported only when
a run uses it, so `import rnnppo` stays fast. A logger gets the run's config.json content once (the
config as parameters, study/trial/seed as tags and groups, so a sweep reads as one experiment), each
iteration's metrics row, and the summary at the end (None when the run stopped early).

* tensorboard: event files in RUN_DIR/tensorboard, one scalar per metric at step = env steps; a resumed
  run purges the events after its checkpoint, so a curve has no doubled stretch.
* wandb: one W&B run per seed run, grouped by study (sweeps) and tagged trial/seed; WANDB_MODE=offline
  logs without a network into RUN_DIR/wandb (`wandb sync` uploads it later); project: WANDB_PROJECT or rnnppo.
* mlflow: one MLflow run per seed run in an experiment named after the study (or `rnnppo-train`); the
  tracking URI is `--mlflow-uri`, else $MLFLOW_TRACKING_URI, else SQLite in the results folder
  (RESULTS/mlflow.db).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote, unquote

from rnnppo.core.config import ConfigError
from rnnppo.core.runs.files import mask_url

# name -> (module that must be importable, the extra that installs it)
LOGGERS = {
    "tensorboard": ("tensorboard", "rnnppo[tensorboard]"),
    "wandb": ("wandb", "rnnppo[wandb]"),
    "mlflow": ("mlflow", "rnnppo[mlflow]"),
}


class LoggerError(ConfigError):
    """A logger name that is unknown, or whose package is not installed (bad input: exit 2)."""


class Resumed(NamedTuple):
    """Where a resumed run picks up: after `iteration` iterations and `env_steps` env steps."""

    iteration: int
    env_steps: int


class RunLogger(Protocol):
    def start(self, meta: dict[str, Any], resumed_from: Resumed | None) -> None: ...

    def log(self, row: dict[str, Any]) -> None: ...

    def finish(self, summary: dict[str, Any] | None) -> None: ...


def check_loggers(names: Sequence[str] | None) -> tuple[str, ...]:
    """The logger names, in order and once each; an unknown or uninstalled one raises LoggerError. Looks the
    packages up without importing them."""
    out: list[str] = []
    for raw in names or ():
        name = raw.strip().lower()
        if name not in LOGGERS:
            raise LoggerError(f"--logger {raw!r} is unknown; choose {', '.join(LOGGERS)}")
        module, extra = LOGGERS[name]
        if importlib.util.find_spec(module) is None:
            raise LoggerError(f"--logger {name} needs the {module} package: pip install '{extra}'")
        if name not in out:
            out.append(name)
    return tuple(out)


def default_mlflow_uri(results_dir: Path) -> str:
    # Quoted: a `?` or `#` in the folder's name would otherwise start the URL's options or fragment.
    return f"sqlite:///{quote(str(Path(results_dir).resolve() / 'mlflow.db'))}"


def mlflow_tracking_uri(mlflow_uri: str | None, results_dir: Path) -> str:
    """--mlflow-uri, else $MLFLOW_TRACKING_URI (as MLflow itself reads it), else SQLite in the results folder."""
    return mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_mlflow_uri(results_dir)


OPTUNA_TABLES = {"studies", "trials", "trial_values"}


def _database_tables(uri: str) -> set[str] | None:
    """The tables of the database a tracking URI names (None: not a database URI, or a SQLite file not made
    yet). One connection attempt: MLflow's own retries a refused one for minutes. Raises LoggerError when the
    database cannot be reached."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "sqlite":
        path = Path(unquote(uri[len("sqlite:///") :].split("?", 1)[0]))
        if not uri.startswith("sqlite:///") or not path.is_file():
            return None
        try:
            with contextlib.closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as db:
                return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error:
            return None
    if scheme.split("+")[0] not in ("postgresql", "mysql", "mssql"):
        return None  # an MLflow server (http, databricks...) or a file store
    import sqlalchemy

    opened = uri
    if scheme == "postgresql" and importlib.util.find_spec("psycopg2") is None:
        opened = "postgresql+psycopg" + uri[len("postgresql") :]  # the driver rnnppo[postgres] installs
    try:
        engine = sqlalchemy.create_engine(opened)
        try:
            return set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except Exception as err:  # noqa: BLE001 - one line, whatever the driver says
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = mask_url(lines[0] if lines else type(err).__name__)[:300]
        raise LoggerError(f"MLflow tracking URI {mask_url(uri)} cannot be used: {detail}") from None


def prepare_loggers(names: Sequence[str], results_dir: Path, mlflow_uri: str | None = None) -> None:
    """What must exist before parallel workers log: MLflow's tables, created once here (two workers creating
    them at once break each other's schema migration). A tracking URI that cannot be used raises LoggerError
    (one line, the password masked) before anything is trained."""
    if "mlflow" not in names:
        return
    import logging

    from mlflow.tracking import MlflowClient

    uri = mlflow_tracking_uri(mlflow_uri, results_dir)
    shown = mask_url(uri)
    if OPTUNA_TABLES <= (_database_tables(uri) or set()):
        raise LoggerError(
            f"MLflow tracking URI {shown} is an Optuna storage; give MLflow a database of its own "
            "(--mlflow-uri sqlite:///PATH/mlflow.db, or leave it out for one in the results folder)"
        )
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if uri == default_mlflow_uri(results_dir):
        Path(results_dir).mkdir(parents=True, exist_ok=True)
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 - any failure: the URI cannot be used; one line, not a traceback
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = lines[0] if lines else type(err).__name__
        hint = " (it holds another program's database schema: give MLflow a database of its own)"
        hint = hint if "revision" in detail.lower() else ""
        raise LoggerError(f"MLflow tracking URI {shown} cannot be used: {mask_url(detail)[:300]}{hint}") from None


def make_loggers(
    names: Sequence[str], run_dir: Path, *, results_dir: Path, mlflow_uri: str | None = None
) -> list[RunLogger]:
    """One logger per name for the run in `run_dir` (names checked by check_loggers)."""
    made: list[RunLogger] = []
    for name in check_loggers(names):
        if name == "tensorboard":
            made.append(TensorBoardLogger(Path(run_dir) / "tensorboard"))
        elif name == "wandb":
            made.append(WandbLogger(Path(run_dir)))
        else:
            made.append(MlflowLogger(mlflow_tracking_uri(mlflow_uri, results_dir)))
    return made


def numeric_metrics(row: dict[str, Any]) -> dict[str, float]:
    """The row's finite numbers (a NaN return before the first episode ends is left out, not logged as 0)."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


def run_identity(meta: dict[str, Any]) -> dict[str, str]:
    """study / trial / seed / env as tags (study and trial only for sweep runs)."""
    tags = {"env": str(meta["config"]["env"]), "seed": str(meta["seed"])}
    for key in ("study", "trial"):
        if meta.get(key) is not None:
            tags[key] = str(meta[key])
    return tags


def _summary_numbers(summary: dict[str, Any]) -> dict[str, float]:
    flat = {f"summary/{k}": v for k, v in summary.items() if k != "lstm_saw"}
    return numeric_metrics(flat)


class TensorBoardLogger:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.writer: Any = None

    def start(self, meta: dict[str, Any], resumed_from: Resumed | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # The events a killed run wrote after its checkpoint are dropped: the resumed run writes those steps again.
        purge = None if resumed_from is None else resumed_from.env_steps + 1
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge, flush_secs=10)
        if resumed_from is None:
            self.writer.add_text("config", "```\n" + json.dumps(meta["config"], indent=2) + "\n```")
            self.writer.add_text("run", json.dumps(run_identity(meta)))

    def log(self, row: dict[str, Any]) -> None:
        step = int(row["env_steps"])
        for key, value in numeric_metrics(row).items():
            if key not in ("iteration", "env_steps"):
                self.writer.add_scalar(key, value, global_step=step)
        self.writer.add_scalar("iteration", row["iteration"], global_step=step)

    def finish(self, summary: dict[str, Any] | None) -> None:
        if self.writer is None:
            return
        if summary is not None:
            for key, value in _summary_numbers(summary).items():
                self.writer.add_scalar(key, value, global_step=int(summary.get("env_steps") or 0))
        self.writer.close()


class WandbLogger:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.run: Any = None

    def start(self, meta: dict[str, Any], resumed_from: Resumed | None) -> None:
        import wandb

        tags = run_identity(meta)
        name = f"{tags['study']}-t{tags['trial']}-s{tags['seed']}" if "study" in tags else self.run_dir.name
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "rnnppo"),
            group=tags.get("study", self.run_dir.name),
            job_type=f"trial-{tags['trial']}" if "trial" in tags else "train",
            name=name if resumed_from is None else f"{name}-resumed-{resumed_from.iteration}",
            config={**meta["config"], **{f"rnnppo_{k}": v for k, v in tags.items()}},
            tags=[f"{k}={v}" for k, v in tags.items()] + ([] if resumed_from is None else ["resumed"]),
            dir=str(self.run_dir),
            reinit="create_new",  # a sweep worker logs one run per seed, one after another
        )

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(numeric_metrics(row), step=int(row["iteration"]))

    def finish(self, summary: dict[str, Any] | None) -> None:
        if self.run is None:
            return
        if summary is not None:
            self.run.summary.update(_summary_numbers(summary))
        self.run.finish(exit_code=0 if summary is not None else 1)


class MlflowLogger:
    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri
        self.client: Any = None
        self.run_id = ""

    def start(self, meta: dict[str, Any], resumed_from: Resumed | None) -> None:
        import logging

        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its table-creation notes are no user's business
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        tags = run_identity(meta)
        experiment = tags.get("study", "rnnppo-train")
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            try:
                experiment_id = self.client.create_experiment(experiment)
            except Exception:  # noqa: BLE001 - another worker created it at the same moment
                found = self.client.get_experiment_by_name(experiment)
                if found is None:
                    raise
                experiment_id = found.experiment_id
        else:
            experiment_id = found.experiment_id
        if resumed_from is not None:
            tags["resumed_from_iteration"] = str(resumed_from.iteration)
        run = self.client.create_run(experiment_id, tags=tags, run_name="-".join(f"{k}{v}" for k, v in tags.items()))
        self.run_id = run.info.run_id
        params = [
            Param(k, (json.dumps(v) if isinstance(v, list | dict) else str(v))[:6000])
            for k, v in meta["config"].items()
        ]
        for at in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[at : at + 100])

    def log(self, row: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), int(row["iteration"])
        metrics = [Metric(k, v, now, step) for k, v in numeric_metrics(row).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, summary: dict[str, Any] | None) -> None:
        if self.client is None:
            return
        if summary is not None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, 0) for k, v in _summary_numbers(summary).items()]
            self.client.log_batch(self.run_id, metrics=metrics)
        self.client.set_terminated(self.run_id, status="FINISHED" if summary is not None else "FAILED")
