"""Sweeps over several tasks (`--suite NAME`, or `--env A --env B`): the task is the grid's outer dimension.

A task is an env with its arguments, budget and settings. The study's grid is task x configuration, every
trial trains one configuration on one task on the sweep's seeds, so every configuration runs on the same
seeds on every task, in one storage, resumable and parallel like any grid. A trial stores the task's name
as its `task` parameter.

Settings are laid in this order (later wins): the defaults, the task's own settings and budget, the
user's --config / --preset / NAME=value words / options (so `gamma=0.99` applies to every task), then the
swept values. The env and its arguments always come from the task; `env.X=v` words are laid over every
task's arguments. --steps replaces every task's budget.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnppo.core.config import ENV_KWARG_PREFIX, load_toml, with_env_kwargs
from rnnppo.core.suites import SuiteTask, known_task, load_suite
from rnnppo.errors import SweepError
from rnnppo.storage.contract import TASK_PARAM
from rnnppo.sweeps.space import Choice, SearchSpace

TASK = TASK_PARAM
"""The parameter (and frame column) that names a trial's task."""


@dataclass(frozen=True)
class SweepTask:
    """One task of a multi-task sweep: what it lays over the base config, and what its scores mean."""

    name: str
    overrides: dict[str, Any]
    """Full-name settings over the sweep's base: env, env_kwargs, and the task's settings and budget that
    the user did not set."""
    info: dict[str, Any] = field(default_factory=dict)
    """SuiteTask.describe(): reference score and its note, stated random score, memory distance (stored
    on the study for reports); empty keys for an env given with --env that no suite knows."""


def with_tasks(space: SearchSpace, tasks: tuple[SweepTask, ...]) -> SearchSpace:
    """The space with the task as its first (outer, slowest-varying) grid dimension."""
    if not tasks:
        return space
    return SearchSpace((Choice(TASK, tuple(task.name for task in tasks)), *space.dims))


def task_settings(base: Mapping[str, Any], tasks: tuple[SweepTask, ...], params: Mapping[str, Any]) -> dict[str, Any]:
    """Full-name settings of one trial: the base, its task's overrides (when the params name one), the params."""
    rest = {name: value for name, value in params.items() if name != TASK}
    if TASK in params:
        task = next((t for t in tasks if t.name == params[TASK]), None)
        if task is None:
            raise SweepError(f"this sweep has no task {params[TASK]!r}; its tasks are {[t.name for t in tasks]}")
        base = {**base, **task.overrides}
    return with_env_kwargs(base, rest)


def explicit_names(config_file: Path | None, preset_settings: Mapping[str, Any], words: Mapping[str, Any]) -> set[str]:
    """Settings the user set (config file, preset, NAME=value words): a task's own settings do not replace them."""
    names = set(preset_settings) | set(words)
    if config_file is not None:
        names |= set(load_toml(config_file))
    return {name for name in names if not name.startswith(ENV_KWARG_PREFIX)}


def suite_tasks(name: str) -> tuple[list[SuiteTask], list[SuiteTask]]:
    """The suite's tasks that can run here, and those left out (a module they need is not installed).
    `NAME:a,b` keeps only tasks a and b of suite NAME (in the suite's order)."""
    suite_name, _, picked = name.partition(":")
    suite = load_suite(suite_name)
    if picked:
        wanted = [word.strip() for word in picked.split(",") if word.strip()]
        unknown = [word for word in wanted if word not in {task.name for task in suite.tasks}]
        if unknown or not wanted:
            names = ", ".join(task.name for task in suite.tasks)
            raise SweepError(
                f"suite {suite_name!r} has no task {unknown[0] if unknown else '(none given)'!r}; its tasks: {names}"
            )
        suite = dataclasses.replace(suite, tasks=tuple(task for task in suite.tasks if task.name in wanted))
    runnable = list(suite.available)
    if not runnable:
        raise SweepError(f"suite {name!r} has no task that can run here (each needs a module not installed)")
    return runnable, [task for task in suite.tasks if not task.available]


def env_tasks(envs: tuple[str, ...]) -> list[SuiteTask | str]:
    """Repeated --env ids as tasks (the env's own defaults and the sweep's budget)."""
    if len(set(envs)) < len(envs):
        raise SweepError("an --env is given twice; give each env once")
    return list(envs)


def make_tasks(
    chosen: list[SuiteTask | str], explicit: set[str], env_words: Mapping[str, Any], steps_given: bool
) -> tuple[SweepTask, ...]:
    """SweepTasks from suite tasks or bare env ids: the user's explicit settings stay theirs."""
    out = []
    names: list[str] = []
    for entry in chosen:
        if isinstance(entry, SuiteTask):
            own = entry.overrides(budget=not steps_given)
            name, info = entry.name, entry.describe()
        else:
            # A shipped task on the same env (and no arguments) lends its reference score and random policy
            # (so the aggregate can normalise), not its budget or settings: --env means the env as it is.
            own = {"env": entry, "env_kwargs": {}}
            name = _env_name(entry, names)
            known = known_task(entry)
            lent = {k: v for k, v in known.describe().items() if k != "budget"} if known is not None else {}
            info = {"env": entry, **lent, "name": name}
        overrides = {key: value for key, value in own.items() if key not in explicit or key in ("env", "env_kwargs")}
        overrides["env_kwargs"] = {**own["env_kwargs"], **env_words}
        names.append(name)
        out.append(SweepTask(name, overrides, info))
    return tuple(out)


def _env_name(env: str, taken: list[str]) -> str:
    """A task name for an env id: its last part (`CueRecall-v0`), the whole id where that is taken."""
    short = re.sub(r"[^A-Za-z0-9._-]+", "-", env.replace(":", "/").split("/")[-1]).strip("-.") or "env"
    if short in taken:
        short = re.sub(r"[^A-Za-z0-9._-]+", "-", env).strip("-.")[:60]
    return short


def default_name(suite: str | None, tasks: tuple[SweepTask, ...], swept: list[str]) -> str:
    """`memory--max_seq_len` for a suite, `CueRecall-v0-CartPole-v1--max_seq_len` for --env ids."""
    head = re.sub(r"[^A-Za-z0-9._-]+", "-", suite) if suite else "-".join(task.name for task in tasks)[:80]
    return f"{head}--{'-'.join(swept) or 'fixed'}"[:120]


def left_out_tasks(spec: Any) -> list[str]:
    """A line per task of the spec's suite that does not run here (a module it needs is not installed)."""
    if spec.suite is None:
        return []
    return [
        f"suite task {task.name} left out: it needs the module {task.requires!r}, which is not installed"
        for task in suite_tasks(spec.suite)[1]
    ]


def mean_run_steps(spec: Any) -> int:
    """A run's env steps, averaged over the spec's tasks (each at its own budget); the base's for one env."""
    if not spec.tasks:
        return int(spec.base_config().total_steps)
    first = spec.space.first_point()
    steps = [spec.config_for({**first, TASK: task.name}, spec.seeds[0]).total_steps for task in spec.tasks]
    return round(sum(steps) / len(steps))
