"""Building a sweep's specification from what the user asked for: every input checked, nothing written.

`rnnppo sweep` and `rnnppo nightly` both describe a sweep as `SweepRequest` (the options a user can
give; None means "not given") and get a `SweepSpec` back, or an input error that names the fix.
"""

from __future__ import annotations

import math
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
    min_effect: float | None = None
    """Smallest score difference worth detecting (score units); None: the report's per-score-kind default."""


def build_spec(space_words: list[str] | tuple[str, ...] | None, request: SweepRequest) -> SweepSpec:
    """Check every input and build the SweepSpec; raises an InputError subclass (exit 2) naming the fix."""
    if request.objective not in OBJECTIVES:
        raise SweepError(f"--objective {request.objective!r} is unknown; choose one of {', '.join(OBJECTIVES)}")
    make_pruner(request.pruner, 1)
    if request.min_effect is not None and not (math.isfinite(request.min_effect) and request.min_effect > 0):
        raise SweepError(
            f"--min-effect {request.min_effect} must be a positive number in score units, e.g. --min-effect 0.1"
        )
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
        seeds=tuple(range(request.seeds)),
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
        min_effect=request.min_effect,
    )


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
