"""Building a sweep's specification from what the user asked for: every input checked, nothing written.

`rnnppo sweep` and `rnnppo nightly` both describe a sweep as `SweepRequest` (the options a user can
give; None means "not given") and get a `SweepSpec` back, or an input error that names the fix.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from rnnppo.core.config import assemble_config, build_config, with_env_kwargs
from rnnppo.core.envs import describe_spaces
from rnnppo.errors import SweepError
from rnnppo.storage.backend import check_url, default_storage_url, storage_from_env
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


@dataclass(frozen=True)
class SweepRequest:
    """The sweep options of the command line (or a nightly file); None means the default."""

    env: str | None = None
    steps: int | None = None
    trials: int | None = None
    seeds: int = 3
    """Seeds per configuration; with `seeds_max`, the seeds every configuration starts on (a race)."""
    seeds_max: int | None = None
    """--seeds MIN..MAX: the most seeds a raced configuration gets; None: every configuration gets `seeds`."""
    min_effect: float | None = None
    """--min-effect D (score units): raced configurations within ±D of the leader stop as equivalent."""
    jobs: int = 1
    study: str | None = None
    storage: str | None = None  # None: $RNNPPO_STORAGE, else OUT/rnnppo.db
    out: Path = Path("results")
    sampler: str = "auto"
    sampler_seed: int = 0
    pruner: str = "none"
    timeout: float | None = None
    trial_timeout: float | None = None
    objective: str = "final"
    warm_start: str | None = None
    device: str | None = None
    config_file: Path | None = None
    wrappers: tuple[str, ...] = ()
    preset: str | None = None


def build_spec(space_words: list[str] | tuple[str, ...] | None, request: SweepRequest) -> SweepSpec:
    """Check every input and build the SweepSpec; raises an InputError subclass (exit 2) naming the fix."""
    if request.objective not in OBJECTIVES:
        raise SweepError(f"--objective {request.objective!r} is unknown; choose one of {', '.join(OBJECTIVES)}")
    make_pruner(request.pruner, 1)
    parsed = SearchSpace.parse(list(space_words or []))
    base_config = assemble_config(
        [],
        request.config_file,
        request.preset,
        env=request.env,
        total_steps=request.steps,
        device=request.device,
        wrappers=request.wrappers or None,
    )
    base = with_env_kwargs(base_config.to_dict(), parsed.fixed())
    # The fixed values must make a valid config together with a point of the space (the defaults of
    # swept fields do not count: `seq_len=2,4 minibatch_size=8` is fine although the default is 16).
    probe = build_config(with_env_kwargs(base, parsed.first_point()))
    describe_spaces(probe)  # unknown env: fail now
    n_trials = _trial_count(parsed, request)
    _check_race(parsed, request)
    name = (
        check_study_name(request.study)
        if request.study is not None
        else default_study_name(base["env"], list(parsed.swept_names))
    )
    if request.warm_start is not None:
        check_study_name(request.warm_start)
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
        base=base,
        space_words=tuple(d.text() for d in parsed.dims if d.name in parsed.swept_names),
        study_name=name,
        storage_url=storage or default_storage_url(out),
        results_dir=results_dir,
        seeds=tuple(range(request.seeds if request.seeds_max is None else request.seeds_max)),
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
        race_min=None if request.seeds_max is None else request.seeds,
        min_effect=request.min_effect,
    )


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


def _check_race(parsed: SearchSpace, request: SweepRequest) -> None:
    """A race (`seeds_max`) runs a grid, every point of it, with no pruner and no warm start."""
    if request.min_effect is not None and not request.min_effect > 0:
        raise SweepError(f"--min-effect {request.min_effect} must be a positive number of score units")
    if request.seeds_max is None:
        return
    race = f"--seeds {request.seeds}..{request.seeds_max}"
    if request.seeds < 3 or request.seeds_max <= request.seeds:
        raise SweepError(f"{race}: give 3 <= MIN < MAX")
    if resolve_sampler_name(request.sampler, parsed) != "grid":
        raise SweepError(
            f"{race} races the points of a grid, and this sweep samples (--sampler {request.sampler} or "
            "ranges lo..hi): give choices (v1,v2,...) with --sampler grid, or a fixed --seeds N"
        )
    for given, option in ((request.pruner != "none", "--pruner"), (request.warm_start, "--warm-start")):
        if given:
            raise SweepError(f"{race} cannot be combined with {option}: racing decides which configurations stop")
    if request.trials is not None:
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
