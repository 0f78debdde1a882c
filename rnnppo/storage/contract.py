"""The storage contract in code: the attribute names a sweep writes and a report reads, the trials that
count, and the parameter codec. docs/storage-contract.md describes the same in prose."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from optuna.trial import FrozenTrial

from rnnppo.core.config import ENV_KWARG_PREFIX, LSTM_SAW_KEYS, coerce, format_value
from rnnppo.errors import ConfigError

SPEC_ATTR = "rnnppo_spec"  # study attr: the sweep's specification (SweepSpec.stored_spec())
ROLE_ATTR = "rnnppo_role"  # trial attr: SPARE marks a trial a worker race left without a grid point
SPARE = "spare"
DUPLICATE = "duplicate"  # ROLE_ATTR of a sampled trial that repeated a configuration already run: skipped
BASELINE_ATTR = "rnnppo_baseline"  # study attr: a random policy's returns (core/analysis/baseline.py);
# in a sweep over several tasks {"tasks": {task name: that task's}}
TASK_PARAM = "task"  # trial param of a sweep over several tasks (--suite, repeated --env): the task's name
RACE_SEED = "rnnppo_race_seed"  # trial attr of a raced sweep's seed run: the one seed it trains
RACE_LOOK = "rnnppo_race"  # trial attr of a sampled race's trial: its seeds and last look (storage/race.py)
GIVEN_UP = "rnnppo_given_up"  # trial attr: its params killed their worker MAX_WORKER_DEATHS times
RECLAIMED = "rnnppo_reclaimed"  # trial attr: failed because its worker died; a retry is (to be) queued

RUN_FIELDS = (
    "final_return",
    "eval_return_std",
    "eval_success_mean",
    "final_train_return",
    "auc",
    "steps_per_s",
    "train_time_s",
    "env_steps",
    "memory_horizon",
    "memory_horizon_at_cap",  # 1: the horizon is censored at the largest lag the run measured (">=")
    "cpu_s_per_step",
)
"""The numbers of one finished seed run, stored in the trial attribute `run_<seed>` (with `lstm_saw`)."""
SAW_FIELDS = LSTM_SAW_KEYS
RUN_ATTR_KEYS = (*RUN_FIELDS, "lstm_saw", "memory_horizon_interval", "memory_influence")


def run_attr(seed: int) -> str:
    """The trial attribute holding seed `seed`'s run summary."""
    return f"run_{seed}"


def run_attr_seed(attr: str) -> int | None:
    """The seed of a `run_<seed>` attribute name; None for any other name."""
    if not attr.startswith("run_"):
        return None
    try:
        return int(attr.removeprefix("run_"))
    except ValueError:
        return None


def curve_attr(seed: int) -> str:
    """The trial attribute holding seed `seed`'s learning curve ([env_steps, return_mean_100] points)."""
    return f"curve_{seed}"


def is_spare(trial: FrozenTrial) -> bool:
    """A trial that ran nothing: a race spare, or a sampled duplicate of a configuration already run."""
    return trial.user_attrs.get(ROLE_ATTR) in (SPARE, DUPLICATE)


def counted(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count: all but spares (a worker race left them without a grid point) and skipped
    duplicates (a sampler proposed a configuration that had already run on the same seeds)."""
    return [t for t in trials if not is_spare(t)]


def config_key(params: dict[str, Any], swept: list[str]) -> str:
    """`max_seq_len=8, lstm_cell_size=64`: how a configuration is named in every table (typed params)."""
    if not swept:
        return "(base config)"
    return ", ".join(f"{name}={format_value(params.get(name))}" for name in swept)


def encode_param(name: str, value: Any) -> Any:
    """The value Optuna stores for a typed value: scalars as they are, lists as text (Optuna's
    categorical choices must be scalars)."""
    if isinstance(value, tuple | list):
        return format_value(tuple(value))
    return value


def decode_param(name: str, value: Any) -> Any:
    """The typed value of a parameter as Optuna stored it (inverse of encode_param)."""
    if name.startswith(ENV_KWARG_PREFIX) or name == TASK_PARAM or value is None:
        return value
    try:
        return coerce(name, value)
    except ConfigError:
        return value
