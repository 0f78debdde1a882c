"""Building a sweep's specification from what the user asked for: every input checked, nothing written.

`rnnppo sweep`, `rnnppo.sweep()` and `rnnppo nightly` all describe a sweep as a `SweepRequest` (the options
a user can give, declared once in sweeps/request.py) and get a `SweepSpec` back, or an input error that names
the fix.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from rnnppo.core.config import ENV_KWARG_PREFIX, OPTION_FLAGS, assemble_config, build_config, with_env_kwargs
from rnnppo.core.envs.make import describe_spaces
from rnnppo.core.footprint import check_fits
from rnnppo.core.presets import load_preset
from rnnppo.core.runs.loggers import check_loggers
from rnnppo.core.suites import SuiteTask
from rnnppo.errors import SweepError
from rnnppo.storage.backend import check_url, default_storage_url, storage_from_env
from rnnppo.sweeps.request import REQUEST_TYPES, SweepRequest, request_from
from rnnppo.sweeps.space import SearchSpace
from rnnppo.sweeps.study import (
    DEFAULT_TRIALS,
    OBJECTIVES,
    SweepSpec,
    check_study_name,
    default_study_name,
    make_pruner,
    resolve_sampler_name,
)
from rnnppo.sweeps.tasks import (
    TASK,
    SweepTask,
    default_name,
    env_tasks,
    explicit_names,
    make_tasks,
    suite_tasks,
    task_settings,
)

__all__ = ["REQUEST_TYPES", "SweepRequest", "build_spec", "request_from"]


def build_spec(space_words: list[str] | tuple[str, ...] | None, request: SweepRequest) -> SweepSpec:
    """Check every input and build the SweepSpec; raises an InputError subclass (exit 2) naming the fix.
    The checks run in this order: the scoring options, the space and tasks, the settings every run
    starts from, the trials and seeds, the study's name, the storage and the results folder."""
    _check_scoring(request)
    parsed = SearchSpace.parse(list(space_words or []))
    tasks = _tasks(request, parsed)
    base = _base_settings(request, parsed, tasks)
    _check_first_runs(base, tasks, parsed)
    n_trials = _trial_count(parsed, request) * max(1, len(tasks))
    seeds_min, seeds_max = parse_seeds(request.seeds)
    _check_race(parsed, request, seeds_min, seeds_max)
    name = _study_name(request, parsed, tasks, base)
    storage = storage_from_env(request.storage)
    if storage is not None:
        check_url(storage)
    out = Path(request.out)
    try:
        results_dir = str(out.resolve())
    except (OSError, ValueError) as err:  # a NUL character (from a TOML file), a name too long
        raise SweepError(f"results folder {str(out)[:200]!r} cannot be used: {err}") from None
    cores = os.cpu_count() or 1
    base["num_threads"] = max(1, min(int(base.get("num_threads", 1)), cores // request.jobs))
    return SweepSpec(
        loggers=check_loggers(list(request.loggers)),
        mlflow_uri=request.mlflow_uri,
        base=base,
        space_words=tuple(d.text() for d in parsed.dims if d.name in parsed.swept_names),
        study_name=name,
        storage_url=storage or default_storage_url(out),
        results_dir=results_dir,
        seeds=tuple(range(seeds_min if seeds_max is None else seeds_max)),
        trials=n_trials,
        sampler=request.sampler,
        sampler_seed=request.sampler_seed,
        pruner=request.pruner,
        objective=request.objective,
        jobs=request.jobs,
        timeout_s=request.timeout,
        trial_timeout_s=request.trial_timeout,
        warm_start=request.warm_start,
        started_at=time.time(),
        tasks=tasks,
        suite=request.suite,
        race_min=None if seeds_max is None else seeds_min,
        min_effect=request.min_effect,
    )


def _check_scoring(request: SweepRequest) -> None:
    """The objective, the pruner and --min-effect."""
    if request.objective not in OBJECTIVES:
        raise SweepError(f"--objective {request.objective!r} is unknown; choose one of {', '.join(OBJECTIVES)}")
    make_pruner(request.pruner, 1)
    if request.min_effect is not None and not (math.isfinite(request.min_effect) and request.min_effect > 0):
        raise SweepError(
            f"--min-effect {request.min_effect} must be a positive number in score units, e.g. --min-effect 0.1"
        )


def _base_settings(request: SweepRequest, parsed: SearchSpace, tasks: tuple[SweepTask, ...]) -> dict:
    """The settings every run starts from: --config, --preset and the flags, then the space's fixed values
    (a flag and a fixed value that disagree are refused)."""
    base_config = assemble_config(
        [],
        request.config,
        request.preset,
        env=tasks[0].overrides["env"] if tasks else single_env(request),
        total_steps=request.steps,
        device=request.device,
        wrappers=request.wrappers or None,
    )
    fixed = parsed.fixed()
    for name, value in {"env": single_env(request), "total_steps": request.steps, "device": request.device}.items():
        if value is not None and name in fixed and fixed[name] != value:
            flag = OPTION_FLAGS[name]
            raise SweepError(f"{flag} {value} and {name}={fixed[name]} disagree; give one of them")
    return with_env_kwargs(base_config.to_dict(), fixed)


def _check_first_runs(base: dict, tasks: tuple[SweepTask, ...], parsed: SearchSpace) -> None:
    """The fixed values must make a valid config together with a point of the space (the defaults of
    swept fields do not count: `seq_len=2,4 minibatch_size=8` is fine although the default is 16), for
    every task, with at least one whole iteration."""
    for params in [{TASK: task.name} for task in tasks] or [{}]:
        probe = build_config(task_settings(base, tasks, {**params, **parsed.first_point()}))
        check_fits(probe, *describe_spaces(probe))  # unknown env, sizes that cannot fit: fail now
        per_iteration = probe.num_envs * probe.rollout_len
        if probe.total_steps < per_iteration:  # each run would silently train one whole iteration
            raise SweepError(
                f"--steps {probe.total_steps:,} is less than one iteration (num_envs={probe.num_envs} x "
                f"rollout_len={probe.rollout_len} = {per_iteration:,} env steps); give --steps {per_iteration} or "
                "more, or lower num_envs or rollout_len"
            )


def _study_name(request: SweepRequest, parsed: SearchSpace, tasks: tuple[SweepTask, ...], base: dict) -> str:
    """--study (checked) or a name made from the env or tasks and the swept settings; --warm-start checked."""
    if request.study is not None:
        name = check_study_name(request.study)
    elif tasks:
        name = check_study_name(default_name(request.suite, tasks, list(parsed.swept_names)))
    else:
        name = default_study_name(base["env"], list(parsed.swept_names))
    if request.warm_start is not None:
        check_study_name(request.warm_start)
    return name


def single_env(request: SweepRequest) -> str | None:
    """The one --env of an ordinary sweep (None when none or several were given)."""
    return request.env[0] if len(request.env) == 1 else None


def _tasks(request: SweepRequest, parsed: SearchSpace) -> tuple[SweepTask, ...]:
    """The tasks of a --suite or repeated --env sweep (none for one env), checked: a grid, no pruner."""
    if request.suite is None and len(request.env) < 2:
        return ()
    if request.suite is not None and request.env:
        raise SweepError("give --suite NAME or --env ids, not both")
    if resolve_sampler_name(request.sampler, parsed) != "grid":
        raise SweepError(
            "a sweep over several tasks runs a grid (a sampler learning from scores would compare different "
            "tasks' scores): give every swept setting as choices, e.g. seq_len=4,16"
        )
    if request.pruner != "none":
        raise SweepError(
            "--pruner compares trials' scores, which differ between tasks; leave it out with several tasks"
        )
    if request.trials is not None and request.trials != parsed.grid_size:
        raise SweepError("--trials cannot cut a sweep over several tasks: every configuration runs on every task")
    chosen: list[SuiteTask | str] = (
        [*suite_tasks(request.suite)[0]] if request.suite is not None else env_tasks(request.env)
    )
    preset = load_preset(request.preset).settings if request.preset is not None else {}
    explicit = explicit_names(request.config, preset, parsed.fixed())
    if request.device is not None:
        explicit.add("device")
    if request.wrappers:
        explicit.add("wrappers")
    env_words = {k[len(ENV_KWARG_PREFIX) :]: v for k, v in parsed.fixed().items() if k.startswith(ENV_KWARG_PREFIX)}
    return make_tasks(chosen, explicit, env_words, steps_given=request.steps is not None)


SEEDS_FORMAT = "give --seeds N (every configuration on N seeds) or --seeds MIN..MAX (a race, e.g. 3..10)"


def parse_seeds(text: str) -> tuple[int, int | None]:
    """`--seeds` as (seeds, None) or, for a race, (MIN, MAX); a SweepError names what is wrong."""
    words = str(text).strip().split("..")
    try:
        numbers = [int(word) for word in words]
    except ValueError:
        raise SweepError(f"--seeds {str(text)[:40]!r} is not a number or a range; {SEEDS_FORMAT}") from None
    if len(numbers) == 1:
        if numbers[0] < 1:
            raise SweepError(f"--seeds {numbers[0]} is too few; {SEEDS_FORMAT}")
        return numbers[0], None
    if len(numbers) != 2:
        raise SweepError(f"--seeds {str(text)[:40]!r} is not a number or a range; {SEEDS_FORMAT}")
    low, high = numbers
    if low < 3:
        raise SweepError(f"--seeds {low}..{high}: a race starts on 3 seeds or more (a paired test needs 3)")
    if high <= low:
        raise SweepError(f"--seeds {low}..{high}: MAX must be above MIN (for a fixed count give --seeds {low})")
    return low, high


def _check_race(parsed: SearchSpace, request: SweepRequest, seeds_min: int, seeds_max: int | None) -> None:
    """A race (`seeds_max`) has no pruner and no warm start; a grid's races every point of it (no --trials),
    a sampler's races each trial against the leader (sweeps/race_trial.py)."""
    if seeds_max is None:
        return
    race = f"--seeds {seeds_min}..{seeds_max}"
    if seeds_min < 3 or seeds_max <= seeds_min:
        raise SweepError(f"{race}: give 3 <= MIN < MAX")
    for given, option in ((request.pruner != "none", "--pruner"), (request.warm_start, "--warm-start")):
        if given:
            raise SweepError(f"{race} cannot be combined with {option}: racing decides which configurations stop")
    if request.trials is not None and resolve_sampler_name(request.sampler, parsed) == "grid":
        raise SweepError(f"{race} races every point of the grid: leave out --trials")


def _trial_count(parsed: SearchSpace, request: SweepRequest) -> int:
    """--trials, checked against the space: a grid has as many trials as points, other samplers 20."""
    if resolve_sampler_name(request.sampler, parsed) == "grid":
        size = parsed.grid_size
        if request.trials is not None and request.trials > size:
            raise SweepError(
                f"--trials {request.trials} is more than the grid's {size} points; use --seeds to add seeds, "
                "or a range (lo..hi) with --sampler tpe to sample more"
            )
        return request.trials or size
    if not parsed.swept_names:
        raise SweepError("nothing to sweep: give at least one NAME=v1,v2 or NAME=lo..hi")
    return request.trials or DEFAULT_TRIALS
