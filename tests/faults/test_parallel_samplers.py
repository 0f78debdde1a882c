"""Parallel workers sample apart: each --jobs worker's sampler has its own seed, derived from the study's
seed and the worker's index and recorded on its trials. With one seed for all, two random samplers
proposed the same configurations in lockstep and about half the trials were skipped as duplicates."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from rnnppo.storage.contract import DUPLICATE, ROLE_ATTR
from rnnppo.sweeps.study import worker_sampler_seed
from tests.faults.harness import TINY, runner, trials


def test_worker_seeds_differ_by_index_and_worker_0_keeps_the_study_seed():
    seeds = [worker_sampler_seed(7, index) for index in range(8)]
    assert seeds[0] == 7
    assert len(set(seeds)) == 8
    assert seeds == [worker_sampler_seed(7, index) for index in range(8)], "derived, not drawn afresh"
    assert worker_sampler_seed(8, 1) != seeds[1]


@pytest.mark.slow
def test_two_random_samplers_over_a_continuous_range_repeat_at_most_5_percent(tmp_path):
    words = ["sweep", "lr=1e-4..1e-2:log", *TINY, "--env", "rnnppo/CueRecall-v0"]
    words += ["--steps", "32", "--seeds", "1", "--trials", "40", "--jobs", "2", "--sampler", "random"]
    result = runner.invoke(app, [*words, "--out", str(tmp_path), "--study", "apart"])
    assert result.exit_code == 0, result.output
    everything = trials(tmp_path, "apart")
    duplicates = [t for t in everything if t.user_attrs.get(ROLE_ATTR) == DUPLICATE]
    done = [t for t in everything if t.state == TrialState.COMPLETE]
    assert len(done) == 40
    assert len(duplicates) <= 0.05 * len(done), f"{len(duplicates)} duplicates beside {len(done)} trials"
    workers = {(t.user_attrs["worker"]["index"], t.user_attrs["worker"]["sampler_seed"]) for t in done}
    assert {index for index, _ in workers} == {0, 1}, "both workers ran trials, each recorded its seed"
    assert {seed for _, seed in workers} == {worker_sampler_seed(0, 0), worker_sampler_seed(0, 1)}
