"""The Python API for notebooks and scripts: `rnnppo.train`, `rnnppo.sweep`, `rnnppo.load`.

The same work as the commands, without the command line: settings are keyword arguments by their
full names or aliases (`seq_len=8`, `fcnet_hiddens=[64, 64]`), bad input raises `rnnppo.errors.InputError`
(a ValueError) with the message the CLI would print, and results come back as objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnppo.core.config import (
    FIELDS,
    TrainConfig,
    build_config,
    canonical_name,
    format_value,
    load_toml,
    parse_mapping,
)

if TYPE_CHECKING:
    import pandas as pd
    from optuna.trial import FrozenTrial

    from rnnppo.core.model import RecurrentPolicy
    from rnnppo.core.runs.trainer import RunResult
    from rnnppo.sweeps.runner import SweepOutcome


def make_config(config: TrainConfig | Mapping[str, Any] | str | Path | None = None, **settings: Any) -> TrainConfig:
    """A validated TrainConfig: defaults <- `config` (a TrainConfig, a mapping, or a TOML file) <- `settings`.

    >>> make_config(seq_len=8, fcnet_hiddens=[32]).max_seq_len
    8
    """
    if isinstance(config, TrainConfig):
        base = parse_mapping(config.to_dict())
    elif isinstance(config, str | Path):
        base = load_toml(Path(config))
    else:
        base = parse_mapping(config or {})
    overrides = parse_mapping(settings)
    if "env_kwargs" in overrides:
        overrides["env_kwargs"] = {**base.get("env_kwargs", {}), **overrides["env_kwargs"]}
    return build_config({**base, **overrides})


def train(
    env: str | None = None,
    steps: int | None = None,
    *,
    config: TrainConfig | Mapping[str, Any] | str | Path | None = None,
    out: str | Path | None = None,
    on_iteration: Callable[[dict[str, Any]], None] | None = None,
    **settings: Any,
) -> RunResult:
    """Train one run and return it (`.config`, `.metrics` rows, `.summary`, `.policy`, `.out_dir`).

    `out` is the run folder to write (config.json, metrics.csv, summary.json, model.pt; it must not
    exist yet); None writes nothing. `on_iteration(row)` sees each iteration's metrics.

    >>> run = rnnppo.train("rnnppo/CueRecall-v0", 20_000, seq_len=8, cell=32)  # doctest: +SKIP
    >>> run.summary["eval_return_mean"]  # doctest: +SKIP
    """
    from rnnppo.core.envs.make import describe_spaces
    from rnnppo.core.runs.trainer import resolve_device
    from rnnppo.core.runs.trainer import train as run_training
    from rnnppo.errors import RunFileError

    if env is not None:
        settings["env"] = env
    if steps is not None:
        settings["total_steps"] = steps
    cfg = make_config(config, **settings)
    describe_spaces(cfg)  # an unknown env fails before anything is written
    resolve_device(cfg.device)
    out_dir = None if out is None else Path(out)
    if out_dir is not None and out_dir.exists():
        raise RunFileError(f"run folder {out_dir} already exists; choose another `out`")
    # a notebook wants the rows in memory as well as in metrics.csv (a long run's rows cost little)
    return run_training(cfg, out_dir=out_dir, on_iteration=on_iteration, keep_metrics=True)


def space_words(space: Sequence[str] | Mapping[str, Any]) -> list[str]:
    """`["seq_len=4,8"]` as is; `{"seq_len": [4, 8], "lr": "1e-4..1e-2:log", "cell": 64}` as the same words:
    a list gives choices (for a list-valued setting, a list of lists: `"fcnet_hiddens": [[64], [64, 64]]`),
    text is a SPACE as on the command line, anything else a fixed value."""
    if isinstance(space, str):
        return [space]
    if not isinstance(space, Mapping):
        return [str(word) for word in space]
    words = []
    for name, value in space.items():
        full = canonical_name(name)
        list_valued = full in FIELDS and isinstance(FIELDS[full].default, tuple)  # fcnet_hiddens=[64, 64]
        if isinstance(value, str):
            words.append(f"{name}={value}")
        elif isinstance(value, list | tuple) and not (
            list_valued and not all(isinstance(v, list | tuple) for v in value)
        ):
            words.append(f"{name}={','.join(format_value(v) for v in value)}")
        else:
            words.append(f"{name}={format_value(value)}")
    return words


def sweep(
    space: Sequence[str] | Mapping[str, Any] = (),
    *,
    env: str | Sequence[str] = (),
    suite: str | None = None,
    steps: int | None = None,
    trials: int | None = None,
    seeds: int | str = 3,
    jobs: int = 1,
    study: str | None = None,
    storage: str | None = None,
    out: str | Path = "results",
    sampler: str = "auto",
    sampler_seed: int = 0,
    pruner: str = "none",
    timeout: float | None = None,
    trial_timeout: float | None = None,
    objective: str = "final",
    warm_start: str | None = None,
    device: str | None = None,
    config: str | Path | None = None,
    wrappers: Sequence[str] = (),
    preset: str | None = None,
    loggers: Sequence[str] = (),
    mlflow_uri: str | None = None,
    min_effect: float | None = None,
    on_poll: Callable[[list[FrozenTrial]], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) an Optuna sweep, as `rnnppo sweep` does, and return its outcome (`.study_name`,
    `.trials`, `.failures`, `.interrupted`). The keywords are `rnnppo sweep`'s options by their names, with
    the same defaults (declared once, in `rnnppo.sweeps.request.SweepRequest`; a test keeps this signature in
    step with it). Storage: `storage`, else $RNNPPO_STORAGE, else OUT/rnnppo.db.

    `seeds="3..10"` races the grid (`--seeds MIN..MAX`; `min_effect` is `--min-effect`).

    >>> rnnppo.sweep({"seq_len": [4, 16]}, env="rnnppo/CueRecall-v0", steps=20_000, seeds=3)  # doctest: +SKIP
    """
    options = dict(locals())
    import multiprocessing as mp

    from rnnppo.errors import SweepError

    if getattr(mp.current_process(), "_inheriting", False):  # a worker process loading the caller's script
        raise SweepError(MAIN_GUARD)  # before the sweep modules' imports: each such worker fails at once
    from rnnppo.sweeps import runner
    from rnnppo.sweeps.spec import build_spec, request_from

    del options["space"], options["on_poll"]
    spec = build_spec(space_words(space), request_from(options, "rnnppo.sweep()"))
    outcome = runner.run(spec, on_poll=on_poll)
    if outcome.workers_not_started:
        raise SweepError(f"{outcome.workers_not_started} of {spec.jobs} worker processes could not start: {MAIN_GUARD}")
    if outcome.worker_errors:  # never "no failures" from a sweep whose workers died
        raise SweepError(f"the sweep's workers failed ({'; '.join(outcome.worker_errors)}); see their messages above")
    return outcome


MAIN_GUARD = (
    "rnnppo.sweep(jobs>1) starts worker processes that import the calling script again, and this script "
    'calls rnnppo.sweep as it is imported; put the call under `if __name__ == "__main__":`'
)


@dataclass
class LoadedRun:
    """A run folder read back: the policy is on the CPU, in evaluation mode, with its trained weights."""

    run_dir: Path
    config: TrainConfig
    policy: RecurrentPolicy
    summary: dict[str, Any] | None  # summary.json; None when the folder has none (a run still training)
    metrics: pd.DataFrame | None  # metrics.csv, one row per iteration; None when absent


def load(run_dir: str | Path) -> LoadedRun:
    """Read a run folder written by `train` or `sweep` (e.g. results/<study>/<trial>/<seed>).

    >>> run = rnnppo.load("results/runs/tiny")  # doctest: +SKIP
    >>> run.config.max_seq_len, run.metrics["return_mean_100"].iloc[-1]  # doctest: +SKIP
    """
    import pandas as pd

    from rnnppo.core.runs import files as run_files
    from rnnppo.core.runs.evaluation import load_run_policy
    from rnnppo.errors import RunFileError

    folder = Path(run_dir)
    config, policy = load_run_policy(folder)
    summary = run_files.read_json(folder / "summary.json") if (folder / "summary.json").exists() else None
    metrics = None
    if (folder / "metrics.csv").exists():
        try:
            metrics = pd.read_csv(folder / "metrics.csv")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise RunFileError(f"{folder / 'metrics.csv'} is not a metrics table: {err}") from None
    return LoadedRun(folder, config, policy, summary, metrics)
