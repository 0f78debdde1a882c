"""The race replayed from a study's trials (rnnppo.sweeps.racing), on an in-memory study: no training."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from rnnppo.storage.race import FAILED, race_state
from rnnppo.sweeps.racing import advance, plan_of
from rnnppo.sweeps.spec import SweepRequest, build_spec
from rnnppo.sweeps.study import QUEUED, RACE_SEED

DISTRIBUTION = {"env.reward": CategoricalDistribution([1, 2, 3])}


@pytest.fixture
def spec(tmp_path):
    request = SweepRequest(env="tests.sweeps.constant_env:ConstantReward", steps=64, seeds="3..6")
    words = ["env.reward=1,2,3", "num_envs=2", "rollout_len=16"]  # 64 steps: two whole iterations
    return build_spec(words, request.__class__(**{**request.__dict__, "out": tmp_path}))


def add(study: optuna.Study, reward: int, seed: int, value: float | None, **attrs) -> None:
    state = TrialState.COMPLETE if value is not None else TrialState.FAIL
    system = attrs.pop("system_attrs", {})
    study.add_trial(
        create_trial(
            state=state,
            params={"env.reward": reward},
            distributions=DISTRIBUTION,
            value=value,
            user_attrs={RACE_SEED: seed, QUEUED: True, **attrs},
            system_attrs=system,
        )
    )


def waiting(study: optuna.Study) -> list[tuple[int, int]]:
    return sorted(
        (t.system_attrs["fixed_params"]["env.reward"], t.user_attrs[RACE_SEED])
        for t in study.get_trials(states=(TrialState.WAITING,))
    )


def test_a_clear_loser_stops_at_the_first_look_and_only_the_open_ones_get_the_next_seed(spec) -> None:
    study = optuna.create_study(direction="maximize")
    for seed, noise in enumerate((0.0, 0.1, -0.1)):
        add(study, 1, seed, 0.0 + noise)  # worse by 10, spread 0.1: stops at 3 seeds
        add(study, 2, seed, 10.0 - noise)
        add(study, 3, seed, 10.0 + noise)
    state = advance(study, spec)
    stopped = state.decisions[state_key(state, 1)]
    assert stopped.status == "worse" and stopped.seeds == 3
    assert waiting(study) == [(2, 3), (3, 3)]
    advance(study, spec)  # a second queuer (another worker) queues nothing more
    assert waiting(study) == [(2, 3), (3, 3)]


def test_a_seed_that_failed_for_good_drops_its_configuration_and_a_retried_one_does_not(spec) -> None:
    study = optuna.create_study(direction="maximize")
    for seed in range(3):
        add(study, 2, seed, 10.0 + seed)
        add(study, 3, seed, 10.5 + seed)
    add(study, 1, 0, None, error="ValueError: the env broke")
    state = race_state(study.get_trials(), plan_of(spec))
    assert state.status(state_key(state, 1)) == FAILED
    retry = optuna.create_study(direction="maximize")
    for trial in study.get_trials()[:-1]:  # the same, but seed 0 of reward=1 went stale (its worker died)
        retry.add_trial(trial)
    # Optuna's heartbeat retry names the failed trial in system_attrs; the race waits for it.
    add(retry, 1, 0, None)
    failed_number = retry.get_trials()[-1].number
    retry.add_trial(
        create_trial(
            state=TrialState.WAITING,
            params={},
            distributions={},
            user_attrs={RACE_SEED: 0, QUEUED: True},
            system_attrs={"failed_trial": failed_number, "fixed_params": {"env.reward": 1}},
        )
    )
    state = race_state(retry.get_trials(), plan_of(spec))
    assert state.status(state_key(state, 1)) == "open"
    assert state.wanted == {state_key(state, 1): 0}


def state_key(state, reward: int) -> str:
    return next(key for key, params in state.params.items() if params["env.reward"] == reward)


def test_the_live_table_shows_each_configurations_seeds_and_whether_it_is_open_or_why_it_stopped(spec) -> None:
    from rich.console import Console

    from rnnppo.cli.sweep_cmd import _race_table

    study = optuna.create_study(direction="maximize")
    for seed, noise in enumerate((0.0, 0.1, -0.1)):
        add(study, 1, seed, 0.0 + noise)
        add(study, 2, seed, 10.0 - noise)
        add(study, 3, seed, 10.1 + seed / 10)  # the leader
    add(study, 2, 3, 10.0)
    console = Console(record=True, width=200)
    console.print(_race_table(spec, study.get_trials()))
    lines = {line.split("│")[1].strip(): line for line in console.export_text().splitlines() if "env.reward=" in line}
    assert "3/6" in lines["env.reward=1"] and "worse" in lines["env.reward=1"]
    assert "stopped after 3 seeds: worse than env.reward=3 by -10" in lines["env.reward=1"]
    assert "4/6" in lines["env.reward=2"] and "open" in lines["env.reward=2"]
    assert "3/6" in lines["env.reward=3"] and "leader after 3 seeds" in lines["env.reward=3"]
