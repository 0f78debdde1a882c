"""A raced grid sweep (`--seeds MIN..MAX`): one trial per (configuration, seed), rounds queued as they open.

Every grid point starts on seeds 0..MIN-1, each seed run its own queued trial (so `--jobs` and other
machines' workers share them as they share a grid). When every open configuration has finished seed
n-1, a look is made (rnnppo.core.sequential): losers and configurations equivalent to the leader stop,
and seed n of each open one is queued. The race state is never stored: it is replayed from the
finished trials each time (rnnppo.storage.race.race_state, over `plan_of` the sweep), so any worker, the
coordinator, a resumed sweep and `rnnppo report` (over the study's stored spec) all see the same
decisions, and a sweep killed anywhere goes on where it was. A seed is
run once: whoever queues a round skips (configuration, seed) pairs a trial already holds, and a
worker that pops a pair an earlier trial holds skips it (`earlier_holder`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnppo.core.sequential import RaceDesign
from rnnppo.storage.contract import RACE_SEED, ROLE_ATTR
from rnnppo.storage.race import RacePlan, RaceState, design_from, point_key, race_state, trial_params
from rnnppo.sweeps.study import QUEUED, SweepSpec


def plan_of(spec: SweepSpec) -> RacePlan:
    """The race a sweep runs: its grid's points (encoded, in grid order) and the design of its race entry."""
    if spec.race_min is None:
        raise ValueError("not a raced sweep")
    space = spec.space
    points = tuple({name: space.encode_param(name, value) for name, value in p.items()} for p in space.grid_points())
    return RacePlan(points, design_from(spec.race_spec(), len(points)))


def design_of(spec: SweepSpec) -> RaceDesign:
    """The race's design: a grid's over its points, a sampled race's over its --trials (sweeps/race_trial.py)."""
    if spec.races_samples:
        return design_from(spec.race_spec(), spec.trials)
    return plan_of(spec).design


def holders(trials: Iterable[FrozenTrial]) -> dict[tuple[str, int], list[int]]:
    """(configuration key, seed) -> numbers of the trials that hold it (queued, running or done; failed
    ones do not: their retry holds it)."""
    held: dict[tuple[str, int], list[int]] = {}
    for trial in trials:
        seed = trial.user_attrs.get(RACE_SEED)
        if seed is None or trial.state == TrialState.FAIL or trial.user_attrs.get(ROLE_ATTR) is not None:
            continue
        held.setdefault((point_key(trial_params(trial)), int(seed)), []).append(trial.number)
    return held


def earlier_holder(study: optuna.Study, number: int, params: dict[str, Any], seed: int) -> int | None:
    """The lowest-numbered other trial holding this (configuration, seed), if it is below `number`."""
    numbers = holders(study.get_trials(deepcopy=False)).get((point_key(params), seed), [])
    earlier = [other for other in numbers if other < number]
    return min(earlier) if earlier else None


def advance(study: optuna.Study, spec: SweepSpec) -> RaceState:
    """Queue the seed runs the race wants now that no trial holds yet; return the race state."""
    trials = study.get_trials(deepcopy=False)
    state = race_state(trials, plan_of(spec))
    held = holders(trials)
    for key, seed in state.wanted.items():
        if (key, seed) not in held:
            study.enqueue_trial(state.params[key], user_attrs={QUEUED: True, RACE_SEED: seed})
    return state


def queue_first_round(study: optuna.Study, spec: SweepSpec) -> None:
    """Queue seeds 0..MIN-1 of every grid point (seed-major, the grid in its seeded shuffled order), less
    any a trial already holds (a creator killed half-way)."""
    import random

    space = spec.space
    points = space.grid_points()
    random.Random(spec.sampler_seed).shuffle(points)
    held = holders(study.get_trials(deepcopy=False))
    for seed in range(spec.race_min or 0):
        for point in points:
            encoded = {name: space.encode_param(name, value) for name, value in point.items()}
            if (point_key(encoded), seed) not in held:
                study.enqueue_trial(encoded, user_attrs={QUEUED: True, RACE_SEED: seed})
