"""A raced study read back from its trials: the race's plan (grid points and design), the race replayed
over the finished seed runs, and the lines that say, per configuration, how many seeds it got and why it
stopped.

The race state is never stored: it is replayed from the finished trials each time (`race_state`), so any
worker, the coordinator, a resumed sweep and a later `rnnppo report` all see the same decisions. The plan
comes from the sweep's options while it runs (rnnppo.sweeps.racing.plan_of) and from the study's stored
spec afterwards (`plan_from_stored`); both read the same `race` entry (SweepSpec.race_spec()), so the
report uses the race's own corrected thresholds (rnnppo.core.sequential).

A raced sampler (`--seeds MIN..MAX` with tpe, random or cmaes: rnnppo.sweeps.race_trial) cannot be replayed:
each trial looked at the leader among the trials finished at that moment. Each trial stores its seeds and
last look (`look_attr`), and `sampled_race` turns them into the same kind of lines.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from rnnppo.core.sequential import ALPHA, SHAPE, STOPPED, Decision, Interval, RaceDesign, look, open_after
from rnnppo.errors import ReportError
from rnnppo.storage.contract import (
    GIVEN_UP,
    RACE_LOOK,
    RACE_SEED,
    RECLAIMED,
    ROLE_ATTR,
    config_key,
    decode_param,
)

FAILED = "failed"
"""Status of a configuration whose seed run failed for good (an error of its own, not a worker death)."""
CLAIMS_NOTE = (
    "(the comparison table above tests each pair once, over the seeds both ran, without the race's correction "
    "for its looks and pairs; the claims of a raced sweep are these lines)"
)


def point_key(params: Mapping[str, Any]) -> str:
    """A configuration's identity among trials: its encoded params as sorted JSON."""
    return json.dumps(dict(params), sort_keys=True, default=str)


@dataclass(frozen=True)
class RacePlan:
    """What a race runs: every grid point (encoded params, in the grid's order) and the sequential design."""

    points: tuple[dict[str, Any], ...]
    design: RaceDesign


def design_from(race: Mapping[str, Any], configs: int) -> RaceDesign:
    """The design of a race entry (SweepSpec.race_spec(): min_seeds, max_seeds, min_effect, alpha, shape)."""
    effect = race.get("min_effect")
    return RaceDesign(
        int(race["min_seeds"]),
        int(race["max_seeds"]),
        configs,
        alpha=float(race.get("alpha", ALPHA)),
        min_effect=None if effect is None else float(effect),
        shape=float(race.get("shape", SHAPE)),
    )


def plan_from_stored(stored: Mapping[str, Any]) -> RacePlan | None:
    """The plan of a study from its stored spec ("space": choice dimensions with encoded values, first
    varying slowest; "race"); None when the study was not raced."""
    race = stored.get("race")
    if not race:
        return None
    dims = list(stored.get("space") or [])
    if any(dim.get("kind") != "choice" for dim in dims):
        raise ReportError("the study's stored spec says it was raced but its space is not a grid of choices")
    names = [str(dim["name"]) for dim in dims]
    combos = itertools.product(*(dim["values"] for dim in dims))
    points = tuple(dict(zip(names, combo, strict=True)) for combo in combos)
    return RacePlan(points, design_from(race, len(points)))


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


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """A seed trial's encoded params (a queued one holds them as its fixed params until it runs)."""
    return dict(trial.params) or dict(trial.system_attrs.get("fixed_params") or {})


def race_state(trials: Iterable[FrozenTrial], plan: RacePlan) -> RaceState:
    """Replay the race over the finished seed trials: the looks made so far and what runs next."""
    design = plan.design
    state = RaceState(design)
    trials = [t for t in trials if t.user_attrs.get(RACE_SEED) is not None and t.user_attrs.get(ROLE_ATTR) is None]
    # A retry names its failed trial: rnnppo's requeue in user_attrs, Optuna's heartbeat retry in system_attrs.
    retried = {t.user_attrs.get("retry_of") for t in trials} | {t.system_attrs.get("failed_trial") for t in trials}
    scores: dict[str, dict[int, float]] = {}
    for encoded in plan.points:
        key = point_key(encoded)
        state.params[key] = dict(encoded)
        scores[key] = {}
    for trial in trials:
        key = point_key(trial_params(trial))
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


def names_of(state: RaceState, swept: Sequence[str]) -> dict[str, str]:
    """Configuration key -> its name as every table gives it (`seq_len=4, lr=0.001`)."""
    decoded = {
        key: {name: decode_param(name, value) for name, value in params.items()} for key, params in state.params.items()
    }
    return {key: config_key(params, list(swept)) for key, params in decoded.items()}


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


@dataclass(frozen=True)
class RaceSummary:
    """How a race went, as `rnnppo sweep` ends with it and `rnnppo report` repeats it: `lines` (a heading,
    one line per configuration, the note that these are the sweep's claims) and `rows` (configuration,
    seeds, status, why)."""

    lines: tuple[str, ...]
    rows: tuple[tuple[str, int, str, str], ...]


def summarise(state: RaceState, swept: Sequence[str]) -> RaceSummary:
    """The race's lines and rows, by its own corrected thresholds."""
    design = state.design
    names = names_of(state, swept)
    rows = report_rows(state, names)
    runs, most = sum(state.seeds.values()), len(names) * design.max_seeds
    heading = (
        f"race {'finished' if state.done else 'not finished'}: {runs} seed runs of the fixed design's {most} "
        f"({100 * runs / max(most, 1):.0f}%); intervals corrected for {design.pairs} "
        f"pair{'s' if design.pairs != 1 else ''} and {len(design.looks)} looks "
        f"(α = {design.alpha:g} in all; docs/concepts/claims.md)"
    )
    lines = (heading, *(f"  {name}: {why}" for name, _seeds, _status, why in rows), CLAIMS_NOTE)
    return RaceSummary(lines, tuple(rows))


def study_race(trials: Iterable[FrozenTrial], stored: Mapping[str, Any]) -> RaceSummary | None:
    """A stored study's race, replayed from its trials and stored spec; None when it was not raced."""
    swept = stored.get("swept") or [str(dim["name"]) for dim in stored.get("space") or []]
    race = stored.get("race")
    if race and race.get("sampled"):
        return sampled_race(trials, race, swept)
    plan = plan_from_stored(stored)
    if plan is None:
        return None
    return summarise(race_state(trials, plan), swept)


# --- a raced sampler: each trial's own looks ------------------------------------------------------------


def look_attr(seeds: int, decision: Decision | None, leader: int | None) -> dict[str, Any]:
    """A sampled trial's RACE_LOOK attribute: its seeds so far and its last look (none before a leader)."""
    if decision is None or decision.versus is None:
        return {"seeds": seeds, "stopped": False}
    versus = decision.versus
    bound = [None if math.isinf(value) else value for value in (versus.low, versus.high)]
    return {
        "seeds": seeds,
        "stopped": decision.stopped,
        "status": decision.status,
        "leader": leader,
        "n": versus.n,
        "diff": versus.diff,
        "low": bound[0],
        "high": bound[1],
        "exact_p": None if math.isnan(versus.exact_p) else versus.exact_p,
    }


def look_from_attr(attr: Mapping[str, Any], leader_name: str) -> Decision | None:
    """The last look a RACE_LOOK attribute holds, the leader named `leader_name`; None before any look."""
    if "status" not in attr:
        return None
    low = -math.inf if attr["low"] is None else float(attr["low"])
    high = math.inf if attr["high"] is None else float(attr["high"])
    exact = attr.get("exact_p")  # absent in looks stored before it was
    versus = Interval(int(attr["n"]), float(attr["diff"]), low, high, math.nan if exact is None else float(exact))
    return Decision(str(attr["status"]), int(attr["n"]), leader_name, versus)


def sampled_race(trials: Iterable[FrozenTrial], race: Mapping[str, Any], swept: Sequence[str]) -> RaceSummary:
    """A raced sampler's lines: per finished trial its seeds and its last look, the leader (highest mean)
    first."""
    design = design_from(race, int(race["configs"]))
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None and t.user_attrs.get(ROLE_ATTR) is None
    ]
    # rows are named as the report's tables name configurations; the lines add the trial's number
    names = {t.number: config_key({k: decode_param(k, v) for k, v in t.params.items()}, list(swept)) for t in done}
    best = max(done, key=lambda t: (float(t.value or 0.0), -t.number)) if done else None
    numbered = []
    for trial in done:
        attr = trial.user_attrs.get(RACE_LOOK) or {}
        seeds = int(attr.get("seeds", trial.user_attrs.get("seeds_done", 0)))
        leader = attr.get("leader")
        decision = look_from_attr(attr, f"#{leader} {names[leader]}" if leader in names else f"#{leader}")
        why = _sampled_why(decision, seeds, design)
        status = "unraced" if decision is None else decision.status
        if trial is best:
            status, why = "leader", f"highest mean over its {seeds} seeds; {why}"
        numbered.append((trial.number, (names[trial.number], seeds, status, why)))
    order = {"leader": 0, "better": 1, "not separated": 2, "open": 3, "unraced": 3, "equivalent": 4, "worse": 5}
    numbered.sort(key=lambda item: (order.get(item[1][2], 6), -item[1][1], item[0]))
    rows = [row for _number, row in numbered]
    runs, most = sum(row[1] for row in rows), len(rows) * design.max_seeds
    heading = (
        f"race of {len(rows)} finished trials against the leader: {runs} seed runs of the fixed design's {most} "
        f"({100 * runs / max(most, 1):.0f}%); intervals corrected for {design.pairs} pairs (all of the "
        f"{design.configs} trials asked for) and {len(design.looks)} looks (α = {design.alpha:g} in all; a "
        "stopped trial's score is its mean over the seeds it ran; docs/concepts/claims.md)"
    )
    lines = (heading, *(f"  #{number} {row[0]}: {row[3]}" for number, row in numbered), CLAIMS_NOTE)
    return RaceSummary(lines, tuple(rows))


def _sampled_why(decision: Decision | None, seeds: int, design: RaceDesign) -> str:
    """Why a sampled trial ran the seeds it did, from its last look."""
    if decision is None:
        return f"ran {seeds} seeds, with no finished trial of {design.min_seeds} or more seeds to race when it looked"
    if decision.status in STOPPED or decision.seeds == seeds == design.max_seeds and decision.status != "better":
        return decision.reason(design)
    return f"ran {seeds} seeds; its last look: {decision.reason(design)}"
