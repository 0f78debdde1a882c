"""A raced sampler (`--seeds MIN..MAX` with tpe, random, cmaes, or auto over ranges): a trial races the leader.

A sampled trial runs its seeds 0, 1, 2, ... one after another, as every sampled trial does. After each seed
n >= MIN it looks at the *leader*: the finished trial with the highest mean over its own seeds among those
that ran at least n seeds (so the two share seeds 0..n-1). The corrected interval of their per-seed
differences over those n seeds (rnnppo.core.sequential.versus_leader, the design over every pair of the
study's --trials) stops the trial when it is shown worse than the leader, or equivalent within --min-effect;
otherwise it takes the next seed, up to MAX. A look with no such leader (the first trial, or a leader with
fewer seeds) decides nothing: a trial that never meets one runs MAX seeds. This is Optuna's WilcoxonPruner's
idea (instances as seeds) with the race's error control.

The trial's value is its mean over the seeds it ran, so the sampler learns from a stopped trial's fewer
seeds. The looks depend on which trials had finished when the trial looked, so they are stored in the
trial (RACE_LOOK, storage/race.py's `look_attr`), not replayed. A retried trial (its worker was killed)
takes over its finished seeds (sweeps/resume.py) and makes its looks again against the leader of then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnppo.core.sequential import Decision, RaceDesign, versus_leader
from rnnppo.storage.contract import RACE_LOOK, ROLE_ATTR
from rnnppo.storage.race import look_attr


def leader_of(trials: Iterable[FrozenTrial], seeds: int, number: int) -> FrozenTrial | None:
    """The finished trial other than `number` with at least `seeds` per-seed scores and the highest mean
    over its own seeds (the lowest number among equals); None when there is none."""
    candidates = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.value is not None
        and t.number != number
        and t.user_attrs.get(ROLE_ATTR) is None
        and len(t.user_attrs.get("scores") or ()) >= seeds
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda t: (float(t.value or 0.0), -t.number))


def race_look(trial: optuna.Trial, scores: Sequence[float], design: RaceDesign) -> Decision | None:
    """The look after len(scores) seeds: against the leader of now, stored in the trial (the last look
    with a leader stays when this one has none). Returns this look's decision, None without a leader."""
    seeds = len(scores)
    leader = leader_of(trial.study.get_trials(deepcopy=False), seeds, trial.number)
    if leader is None:
        earlier = dict(trial.user_attrs.get(RACE_LOOK) or {})
        trial.set_user_attr(RACE_LOOK, {**earlier, "seeds": seeds})
        return None
    decision = versus_leader(scores, leader.user_attrs["scores"], f"#{leader.number}", design)
    trial.set_user_attr(RACE_LOOK, look_attr(seeds, decision, leader.number))
    return decision
