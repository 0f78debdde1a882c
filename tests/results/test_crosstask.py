"""Cross-task statistics: normalised scores, the stratified IQM, performance profiles and the probability
of improvement, on hand-computed cases and a known-answer synthetic study."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from rnnppo.results import crosstask
from rnnppo.results.crosstask import TaskScale


def _frame(scores: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """(task, config) -> normalised scores on seeds 0, 1, ... as a tidy frame."""
    rows = [
        {"task": task, "config": config, "seed": seed, "normalised": value}
        for (task, config), values in scores.items()
        for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_normalise_puts_the_random_policy_at_zero_and_the_reference_at_one():
    scale = TaskScale(random=0.5, reference=1.0)
    assert crosstask.normalise([0.5, 0.75, 1.0, 0.25], scale).tolist() == [0.0, 0.5, 1.0, -0.5]
    cartpole = TaskScale(random=22.0, reference=500.0)
    assert crosstask.normalise(261.0, scale=cartpole) == pytest.approx(0.5)


def test_a_reference_not_above_the_random_policy_is_refused():
    with pytest.raises(ValueError, match="not above the random policy"):
        TaskScale(random=1.0, reference=1.0)


def test_normalised_runs_leave_a_task_without_a_measured_random_policy_as_nan():
    runs = pd.DataFrame(
        {"task": ["a", "a", "b"], "config": ["c"] * 3, "seed": [0, 1, 0], "final_return": [10.0, 20.0, 5.0]}
    )
    out = crosstask.normalised_runs(runs, {"a": TaskScale(0.0, 20.0)}, "final_return")
    assert out["normalised"].tolist()[:2] == [0.5, 1.0]
    assert math.isnan(out["normalised"].iloc[2])


def test_probability_of_improvement_counts_ties_as_half_over_every_pair_of_runs():
    # x = 1, 2, 3 against y = 0, 2, 4: wins 1 (x=1), 1 + tie (x=2), 2 (x=3) = 4.5 of 9 pairs
    frame = _frame({("t", "x"): [1.0, 2.0, 3.0], ("t", "y"): [0.0, 2.0, 4.0]})
    probability, _, tasks = crosstask.probability_of_improvement(frame, "x", "y")
    assert probability == pytest.approx(0.5)
    assert tasks == 1


def test_probability_of_improvement_is_the_mean_over_tasks():
    # task a: x above every y (1.0); task b: the 4.5 of 9 case (0.5); the mean is 0.75
    frame = _frame(
        {
            ("a", "x"): [3.0, 4.0, 5.0],
            ("a", "y"): [0.0, 1.0, 2.0],
            ("b", "x"): [1.0, 2.0, 3.0],
            ("b", "y"): [0.0, 2.0, 4.0],
        }
    )
    probability, interval, tasks = crosstask.probability_of_improvement(frame, "x", "y")
    assert probability == pytest.approx(0.75)
    assert tasks == 2
    assert interval.meaningful and interval.low <= 0.75 <= interval.high


def test_aggregate_iqm_pools_task_by_seed_runs_and_cuts_a_quarter_from_each_end():
    # 8 runs: 0, 0.1, 0.2, 0.3 | 0.6, 0.7, 0.8, 5.0; the IQM drops 2 from each end: mean(0.2, 0.3, 0.6, 0.7)
    frame = _frame({("a", "c"): [0.0, 0.1, 0.2, 0.3], ("b", "c"): [0.6, 0.7, 0.8, 5.0]})
    table = crosstask.aggregate_iqm(frame)
    row = table.iloc[0]
    assert row["iqm"] == pytest.approx(0.45)
    assert (row["tasks"], row["runs"]) == (2, 8)
    assert row["ci_meaningful"] and row["ci_low"] <= 0.45 <= row["ci_high"]


def test_aggregate_iqm_interval_is_not_meaningful_with_fewer_than_three_seeds_in_a_task():
    frame = _frame({("a", "c"): [0.1, 0.2, 0.3], ("b", "c"): [0.5, 0.9]})
    row = crosstask.aggregate_iqm(frame).iloc[0]
    assert not row["ci_meaningful"] and "fewer than 3 seeds" in row["ci_reason"]
    assert math.isnan(row["ci_low"])


def test_stratified_bootstrap_keeps_each_tasks_run_count():
    # Task a's runs are all 0, task b's all 1: a resample that ignored the tasks could draw mostly a's runs
    # (a mean far from 1/2); one resampled within each task always has half its runs at 1.
    frame = _frame({("a", "c"): [0.0] * 4, ("b", "c"): [1.0] * 4, ("a", "d"): [0.0] * 4, ("b", "d"): [0.5] * 4})
    profile = crosstask.performance_profile(frame, thresholds=[0.25], n_resamples=500)
    row = profile[profile["config"] == "c"].iloc[0]
    assert (row["fraction"], row["low"], row["high"]) == (0.5, 0.5, 0.5)


def test_performance_profile_is_the_mean_over_tasks_of_the_fraction_above_each_threshold():
    frame = _frame({("a", "c"): [0.1, 0.5, 0.9], ("b", "c"): [0.2, 0.3, 0.4]})
    profile = crosstask.performance_profile(frame, thresholds=[0.0, 0.25, 0.45, 1.0]).set_index("threshold")
    # τ = 0: all 6 above; 0.25: 2/3 of a and 2/3 of b; 0.45: 2/3 of a, none of b; 1: none
    assert profile["fraction"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert (profile["low"] <= profile["fraction"]).all() and (profile["fraction"] <= profile["high"]).all()


def test_known_answer_synthetic_study_recovers_the_true_probability_of_improvement():
    # X ~ N(0.6, 0.1), Y ~ N(0.5, 0.1) on 4 tasks: P(X > Y) = Φ(0.1 / (0.1 √2)) = 0.760
    rng = np.random.default_rng(7)
    seeds = 300
    scores = {}
    for task in "abcd":
        scores[(task, "x")] = (0.6 + 0.1 * rng.standard_normal(seeds)).tolist()
        scores[(task, "y")] = (0.5 + 0.1 * rng.standard_normal(seeds)).tolist()
    frame = _frame(scores)
    truth = float(scipy_stats.norm.cdf(0.1 / (0.1 * math.sqrt(2))))
    probability, interval, _ = crosstask.probability_of_improvement(frame, "x", "y", n_resamples=400)
    assert probability == pytest.approx(truth, abs=0.03)
    assert interval.low <= truth <= interval.high
    aggregate = crosstask.aggregate_iqm(frame, n_resamples=400).set_index("config")
    assert aggregate.loc["x", "iqm"] == pytest.approx(0.6, abs=0.02)
    table = crosstask.improvement_table(frame, ["x", "y"], n_resamples=400)
    assert bool(table["separable"].iloc[0])
    assert table["words"].iloc[0].startswith("x better than y across tasks")


def test_improvement_words_say_not_separable_when_the_interval_covers_half():
    frame = _frame({("a", "x"): [0.1, 0.5, 0.3, 0.9, 0.2], ("a", "y"): [0.4, 0.2, 0.6, 0.3, 0.8]})
    row = crosstask.improvement_table(frame, ["x", "y"], n_resamples=500).iloc[0]
    assert row["probability"] == pytest.approx(10 / 25)  # 10 of the 25 pairs of runs have x above y
    assert not row["separable"]
    assert row["words"].startswith("not separable") and "the interval covers 0.5" in row["words"]
    assert "the paired test does not either" in row["words"]


def test_a_consistent_gain_small_against_the_seed_spread_is_not_separable():
    # x is y + 0.01 on every seed (the same sign on every seed, though 5 seeds cannot reach the exact
    # sign-flip test's level: p >= 1/16), and the seeds spread
    # widely: a run of x beats a run of y on only 15 of the 25 pairs, and the interval covers 1/2.
    base = [0.0, 0.3, 0.6, 0.9, 1.2]
    frame = _frame({("a", "x"): [v + 0.01 for v in base], ("a", "y"): base})
    row = crosstask.improvement_table(frame, ["x", "y"], n_resamples=500).iloc[0]
    assert row["probability"] == pytest.approx(15 / 25)
    assert row["test"] == "exact sign-flip test" and row["low"] < 0.5 < row["high"]
    assert not row["separable"] and "the interval covers 0.5" in row["words"]


def test_the_probability_interval_is_not_pushed_up_by_same_seed_pairs():
    # x beats y on every seed's own pair but on only 6 of the 9 pairs of runs. Resampling seeds jointly
    # would weigh the same-seed pairs more (Σ w_i² > N) and put 6/9 at the interval's lower edge (every
    # resample >= it); resampling x's and y's runs independently (rliable's) leaves room below it.
    frame = _frame({("a", "x"): [0.2, 0.5, 0.8], ("a", "y"): [0.1, 0.4, 0.7]})
    probability, interval, _ = crosstask.probability_of_improvement(frame, "x", "y", n_resamples=2000)
    assert probability == pytest.approx(6 / 9)
    assert interval.low < probability - 0.2 and interval.high == 1.0


def test_improvement_words_say_not_separable_without_three_seeds():
    frame = _frame({("a", "x"): [1.0, 1.0], ("a", "y"): [0.0, 0.0]})
    row = crosstask.improvement_table(frame, ["x", "y"]).iloc[0]
    assert not row["separable"] and row["words"].startswith("not separable") and "fewer than 3" in row["words"]


def test_identical_configurations_are_not_separable():
    values = [0.1, 0.4, 0.2, 0.9]
    frame = _frame({("a", "x"): values, ("a", "y"): values, ("b", "x"): values, ("b", "y"): values})
    row = crosstask.improvement_table(frame, ["x", "y"], n_resamples=300).iloc[0]
    assert row["probability"] == pytest.approx(0.5)
    assert not row["separable"] and "identical" in row["words"]


def test_paired_test_uses_each_seeds_mean_over_tasks():
    frame = _frame({("a", "x"): [1.0, 2.0, 3.0], ("b", "x"): [3.0, 2.0, 1.0], ("a", "y"): [0.0, 0.0, 0.0]})
    frame = pd.concat([frame, _frame({("b", "y"): [1.0, 1.0, 1.0]})])
    means = crosstask.seed_means(frame, "x", ["a", "b"])
    assert means.tolist() == [2.0, 2.0, 2.0]


def test_the_aggregate_waits_for_a_task_some_configuration_has_not_finished():
    frame = _frame({("a", "x"): [0.1, 0.2, 0.3], ("a", "y"): [0.4, 0.5, 0.6], ("b", "x"): [0.9, 0.9, 0.9]})
    kept, partial = crosstask.shared_tasks(frame)
    assert partial == ["b"] and set(kept["task"]) == {"a"}
    assert crosstask.aggregate_iqm(kept).set_index("config")["tasks"].to_dict() == {"x": 1, "y": 1}
