"""A raced grid sweep (`--seeds MIN..MAX`): one trial per (configuration, seed), rounds queued as they open.

Every grid point starts on seeds 0..MIN-1, each seed run its own queued trial (so `--jobs` and other
machines' workers share them as they share a grid). When every open configuration has finished seed
n-1, a look is made (rnnppo.core.sequential): losers and configurations equivalent to the leader stop,
and seed n of each open one is queued. The race state is never stored: it is replayed from the
finished trials each time (`race_state`), so any worker, the coordinator, a resumed sweep and the
final report all see the same decisions, and a sweep killed anywhere goes on where it was. A seed is
run once: whoever queues a round skips (configuration, seed) pairs a trial already holds, and a
worker that pops a pair an earlier trial holds skips it (`earlier_holder`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnppo.core.sequential import Decision, RaceDesign, look, open_after
from rnnppo.storage.contract import ROLE_ATTR
from rnnppo.sweeps.study import GIVEN_UP, QUEUED, RACE_SEED, RECLAIMED, SweepSpec

FAILED = "failed"
"""Status of a configuration whose seed run failed for good (an error of its own, not a worker death)."""


def point_key(params: dict[str, Any]) -> str:
    """A configuration's identity among trials: its encoded params as sorted JSON."""
    return json.dumps(params, sort_keys=True, default=str)


def design_of(spec: SweepSpec) -> RaceDesign:
    if spec.race_min is None:
        raise ValueError("not a raced sweep")
    return RaceDesign(spec.race_min, len(spec.seeds), spec.space.grid_size, min_effect=spec.min_effect)


@dataclass
class RaceState:
    """Where the race stands, replayed from the trials."""

    design: RaceDesign
    decisions: dict[str, Decision] = field(default_factory=dict)
    """Configuration key -> its last decision (configurations that reached no look yet are absent)."""
    seeds: dict[str, int] = field(default_factory=dict)
    """Configuration key -> seeds finished."""
    failed: set[str] = field(default_factory=set)
    open: list[str] = field(default_factory=list)
    """Configurations still racing."""
    wanted: dict[str, int] = field(default_factory=dict)
    """Configuration key -> the seed that should be queued or running for it now."""
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: bool = False

    def status(self, key: str) -> str:
        if key in self.failed:
            return FAILED
        decision = self.decisions.get(key)
        if decision is None or (key in self.open and not self.done):
            return "open"
        return decision.status


def _finished_for_good(trial: FrozenTrial, retried: set[Any]) -> bool:
    """A failed seed trial that will not run again: its error, or a worker death given up on."""
    if trial.state != TrialState.FAIL or trial.number in retried:
        return False
    return bool(trial.user_attrs.get(GIVEN_UP)) or not trial.user_attrs.get(RECLAIMED)


def race_state(trials: Iterable[FrozenTrial], spec: SweepSpec) -> RaceState:
    """Replay the race over the finished seed trials: the looks made so far and what runs next."""
    design = design_of(spec)
    state = RaceState(design)
    trials = [t for t in trials if t.user_attrs.get(RACE_SEED) is not None and t.user_attrs.get(ROLE_ATTR) is None]
    # A retry names its failed trial: rnnppo's requeue in user_attrs, Optuna's heartbeat retry in system_attrs.
    retried = {t.user_attrs.get("retry_of") for t in trials} | {t.system_attrs.get("failed_trial") for t in trials}
    scores: dict[str, dict[int, float]] = {}
    for point in spec.space.grid_points():
        encoded = {name: spec.space.encode_param(name, value) for name, value in point.items()}
        key = point_key(encoded)
        state.params[key] = encoded
        scores[key] = {}
    for trial in trials:
        params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params") or {})
        key = point_key(params)
        if key not in scores:
            continue
        seed = int(trial.user_attrs[RACE_SEED])
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            scores[key][seed] = float(trial.value)
        elif _finished_for_good(trial, retried):
            state.failed.add(key)
    state.seeds = {key: _prefix(found) for key, found in scores.items()}
    open_configs = [key for key in scores if key not in state.failed]
    n = design.min_seeds
    while open_configs:
        if any(state.seeds[key] < n for key in open_configs):
            state.wanted = {key: state.seeds[key] for key in open_configs if state.seeds[key] < n}
            break
        current = look({key: [scores[key][s] for s in range(n)] for key in open_configs}, open_configs, design)
        state.decisions.update(current)
        if n >= design.max_seeds:
            open_configs = []
            break
        open_configs = open_after(current)
        n += 1
    state.open = open_configs
    state.done = not open_configs
    return state


def _prefix(found: dict[int, float]) -> int:
    """How many seeds 0, 1, 2, ... in a row have a score."""
    count = 0
    while count in found:
        count += 1
    return count


def holders(trials: Iterable[FrozenTrial]) -> dict[tuple[str, int], list[int]]:
    """(configuration key, seed) -> numbers of the trials that hold it (queued, running or done; failed
    ones do not: their retry holds it)."""
    held: dict[tuple[str, int], list[int]] = {}
    for trial in trials:
        seed = trial.user_attrs.get(RACE_SEED)
        if seed is None or trial.state == TrialState.FAIL or trial.user_attrs.get(ROLE_ATTR) is not None:
            continue
        params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params") or {})
        held.setdefault((point_key(params), int(seed)), []).append(trial.number)
    return held


def earlier_holder(study: optuna.Study, number: int, params: dict[str, Any], seed: int) -> int | None:
    """The lowest-numbered other trial holding this (configuration, seed), if it is below `number`."""
    numbers = holders(study.get_trials(deepcopy=False)).get((point_key(params), seed), [])
    earlier = [other for other in numbers if other < number]
    return min(earlier) if earlier else None


def advance(study: optuna.Study, spec: SweepSpec) -> RaceState:
    """Queue the seed runs the race wants now that no trial holds yet; return the race state."""
    trials = study.get_trials(deepcopy=False)
    state = race_state(trials, spec)
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


def report_rows(state: RaceState, names: dict[str, str]) -> list[tuple[str, int, str, str]]:
    """(configuration, seeds, status, why) per configuration, leader first, then by status and seeds."""
    rows = []
    for key, name in names.items():
        status = state.status(key)
        decision = state.decisions.get(key)
        if status == FAILED:
            why = f"a seed run failed after {state.seeds[key]} seeds (see the failed trials)"
        elif decision is None:
            why = f"open: {state.seeds[key]} seeds so far, no look yet"
        else:  # an open one: where it stood at the last look
            leader = names.get(decision.leader or "", decision.leader)
            why = dataclasses.replace(decision, leader=leader).reason(state.design)
        rows.append((name, state.seeds.get(key, 0), status, why))
    order = {"leader": 0, "not separated": 1, "open": 2, "equivalent": 3, "worse": 4, FAILED: 5}
    rows.sort(key=lambda row: (order.get(row[2], 6), -row[1]))
    return rows
