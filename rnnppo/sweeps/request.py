"""A sweep's options, declared once: `SweepRequest`'s fields are `rnnppo sweep`'s options (flag, help,
smallest value), the Python API's keywords and a nightly file's keys. Light to import (no torch, no Optuna),
so the command line can build its options from it at start-up."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnppo.core.config import coerce_as
from rnnppo.errors import ConfigError, SweepError


def _option(default: Any, help: str, *, flag: str | None = None, min: float | None = None) -> Any:
    """A SweepRequest field with what the command line shows for it: its help, its flag (default: the field's
    name with dashes) and its smallest value. The CLI's options, the Python API's keywords and the nightly
    file's keys are all derived from these fields (tests/sweeps/test_sweep_options.py checks it)."""
    if isinstance(default, list | dict):
        raise TypeError("use a tuple for a repeatable option's default")
    return field(default=default, metadata={"help": help, "flag": flag, "min": min})


@dataclass(frozen=True)
class SweepRequest:
    """Every option of a sweep, declared once: `rnnppo sweep --NAME`, `rnnppo.sweep(NAME=...)` and a nightly
    file's `[nightly] NAME = ...`. None means "not given" (the default described in the help)."""

    env: tuple[str, ...] = _option(
        (), "gymnasium id or package.module:ClassName; repeat it to sweep several envs at once", flag="--env"
    )
    suite: str | None = _option(
        None, "run on every task of a shipped suite (`rnnppo suites`); NAME:a,b for some of its tasks"
    )
    steps: int | None = _option(None, "env steps per run", min=1)
    trials: int | None = _option(None, "trials in the study (default: the grid's size, else 20)", min=1)
    seeds: str = _option(
        "3",
        "seeds per configuration (the same seeds for every one), or MIN..MAX to race: every configuration starts"
        " on MIN, and only those not yet shown worse or equivalent get more (with a sampler, each trial races the"
        " best finished trial after each seed)",
    )
    min_effect: float | None = _option(
        None,
        "D in score units: the smallest difference worth detecting (the report plans seeds for it; within ±D is"
        " 'equivalent'; a raced configuration within ±D of the leader stops, when D is given); the report's"
        " default is per score kind",
    )
    jobs: int = _option(1, "trials at once, each in its own process", min=1)
    study: str | None = _option(None, "study name (default: from the env and the swept names)")
    storage: str | None = _option(None, "Optuna storage URL (default: $RNNPPO_STORAGE, else sqlite:///OUT/rnnppo.db)")
    out: Path = _option(Path("results"), "results folder")
    sampler: str = _option("auto", "auto, grid, tpe, random or cmaes")
    sampler_seed: int = _option(0, "seeds the sampler and the grid's order")
    pruner: str = _option("none", "none, median or hyperband")
    timeout: float | None = _option(None, "time budget in seconds for the whole sweep", min=1)
    trial_timeout: float | None = _option(None, "seconds one trial may take", min=1)
    objective: str = _option("final", "final (evaluation return) or auc")
    warm_start: str | None = _option(None, "queue another study's best configurations first")
    device: str | None = _option(None, "cpu, cuda or auto")
    config: Path | None = _option(None, "TOML file of base settings")
    wrappers: tuple[str, ...] = _option(
        (), "package.module:Wrapper or ...:Wrapper(key=literal, ...) for every env (repeatable)", flag="--wrapper"
    )
    preset: str | None = _option(None, "a shipped tuned config (`rnnppo presets`) as the base")
    loggers: tuple[str, ...] = _option((), "also log every run to tensorboard, wandb or mlflow", flag="--logger")
    mlflow_uri: str | None = _option(None, "MLflow tracking URI (default: SQLite in OUT)")

    def __post_init__(self) -> None:
        for name in ("env", "wrappers", "loggers"):  # one name given where several may be: a 1-tuple
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    @staticmethod
    def flag(name: str) -> str:
        """The command-line flag of a field: `--sampler-seed` for sampler_seed, `--wrapper` for wrappers."""
        declared = SweepRequest.__dataclass_fields__[name].metadata["flag"]
        return declared or "--" + name.replace("_", "-")


REQUEST_TYPES = typing.get_type_hints(SweepRequest)
"""Each SweepRequest field's type (read once: the CLI, the API and the nightly file coerce by it)."""


def request_from(values: Mapping[str, Any], where: str, shown: Mapping[str, str] | None = None) -> SweepRequest:
    """A SweepRequest from NAME: value pairs (the Python API's keywords, a nightly file's keys), each name
    checked against the declaration and each value coerced to its field's type; `where` names the source
    in the error ("rnnppo.sweep()", "nightly.toml [nightly]"), `shown` the name an error uses for a field
    the user gave under another (older) name."""
    known = {f.name for f in dataclasses.fields(SweepRequest)}
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            raise SweepError(f"{where}: unknown option '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""))
        hint, label = REQUEST_TYPES[name], (shown or {}).get(name, name)
        if name == "seeds" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # N or MIN..MAX, read by sweeps.spec.parse_seeds
        if value is not None and hint in (Path, Path | None):
            value = Path(value)
        elif value is not None:
            try:
                value = coerce_as(hint, f"{where} {label}", value)
            except ConfigError as err:
                raise SweepError(str(err)) from None
        minimum = SweepRequest.__dataclass_fields__[name].metadata["min"]
        if minimum is not None and value is not None and value < minimum:
            raise SweepError(f"{where} {label}={value!r} must be {minimum:g} or more")
        checked[name] = value
    return SweepRequest(**checked)
