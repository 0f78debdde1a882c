"""--dry-run's time estimate: a trial's seeds run one after another in one worker, and a trial never uses
two jobs, so trials go in waves of min(jobs, trials); more runs at once than cores slow each down."""

from __future__ import annotations

import pytest

from rnnppo.sweeps.plan import SweepPlan


def plan(trials: int, seeds: int, steps_per_run: int = 1000, speed: float = 100.0, overhead: float = 2.0) -> SweepPlan:
    runs = trials * seeds
    return SweepPlan("grid", [], trials, runs, runs * steps_per_run, 10, speed, overhead)


PER_RUN = 1000 / 100.0 + 2.0  # 12 s: steps / speed + overhead


@pytest.mark.parametrize(
    ("trials", "seeds", "jobs", "cores", "expected"),
    [
        (4, 3, 1, 2, 4 * 3 * PER_RUN),  # one job: every run in turn
        (4, 3, 2, 2, 2 * 3 * PER_RUN),  # two waves of two trials, each trial three runs long
        (5, 3, 2, 2, 3 * 3 * PER_RUN),  # the fifth trial is a third wave on its own
        (1, 5, 4, 16, 5 * PER_RUN),  # one trial cannot use four jobs: its seeds still run serially
        (4, 2, 4, 2, 1 * 2 * PER_RUN * 2.0),  # four runs on two cores: one wave, each run half as fast
        (3, 2, 8, 2, 1 * 2 * PER_RUN * 1.5),  # only three trials run at once however many jobs
    ],
)
def test_the_estimate_runs_seeds_serially_and_trials_in_waves(trials, seeds, jobs, cores, expected):
    assert plan(trials, seeds).estimated_seconds(jobs, cores=cores) == pytest.approx(expected)


def test_the_issue_case_is_no_longer_divided_by_jobs():
    """2 trials x 5 seeds with --jobs 4 on 16 cores: the old estimate divided 10 runs by 4 jobs (2.5 runs
    long); the trials' seeds run serially, so it is 5 runs long."""
    assert plan(2, 5).estimated_seconds(4, cores=16) == pytest.approx(5 * PER_RUN)


def test_the_start_up_of_the_command_and_its_workers_is_added_once():
    started = SweepPlan("grid", [], 4, 8, 8000, 10, 100.0, 2.0, startup_s=3.0)
    assert started.estimated_seconds(2, cores=2) == pytest.approx(2 * 3.0 + 2 * 2 * PER_RUN)


def test_the_process_age_is_measured():
    from rnnppo.sweeps.plan import process_age_s

    age = process_age_s()
    assert age is not None and 0 < age < 24 * 3600


def test_no_probe_means_no_estimate():
    assert SweepPlan("grid", [], 2, 4, 4000, 10, None, None).estimated_seconds(2) is None
