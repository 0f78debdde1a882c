"""Tests for rnnppo.results.stats: IQM, bootstrap intervals, comparisons and the summary table."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnppo.results.stats import (
    auc,
    bootstrap_ci,
    difference_ci,
    iqm,
    iqm_ci,
    stratified_bootstrap_ci,
    summarise,
)

# Degenerate inputs must be handled, not papered over by numpy/scipy warnings.
pytestmark = pytest.mark.filterwarnings("error")

FAST = {"n_resamples": 500}


# --- iqm ---------------------------------------------------------------------------------------


def test_iqm_of_four_values_averages_the_middle_two():
    assert iqm([4, 1, 3, 2]) == 2.5


def test_iqm_of_eight_values_cuts_two_from_each_end():
    # sorted: 1 2 | 3 4 5 10 | 50 100 -> mean(3, 4, 5, 10)
    assert iqm([100, 1, 50, 2, 3, 4, 5, 10]) == pytest.approx(5.5)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7.0], 7.0),  # n=1: nothing cut
        ([1.0, 100.0], 50.5),  # n=2: floor(0.5) = 0 cut, plain mean
        ([1.0, 2.0, 100.0], 103.0 / 3),  # n=3: floor(0.75) = 0 cut, plain mean
        ([1.0, 2.0, 3.0, 4.0, 100.0], 3.0),  # n=5: one cut each end, no fractional weights
        ([0.0, 1.0, 2.0, 3.0, 4.0, 100.0], 2.5),  # n=6: one cut each end -> mean(1..4)
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 100.0], 3.0),  # n=7: one cut each end -> mean(1..5)
    ],
)
def test_iqm_cuts_floor_of_a_quarter_from_each_end(values, expected):
    assert iqm(values) == pytest.approx(expected)


def test_iqm_ignores_nans_and_is_nan_when_empty():
    assert iqm([1.0, np.nan, 2.0, 3.0, 4.0]) == 2.5
    assert math.isnan(iqm([]))
    assert math.isnan(iqm([np.nan, np.nan]))


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40))
def test_iqm_lies_between_min_and_max(values):
    tolerance = 1e-9 * max(1.0, max(abs(v) for v in values))  # float rounding of the mean
    assert min(values) - tolerance <= iqm(values) <= max(values) + tolerance


# --- bootstrap_ci ------------------------------------------------------------------------------


def test_bootstrap_ci_contains_the_point_estimate():
    values = np.random.default_rng(1).normal(10.0, 2.0, size=10)
    for statistic, point in [("iqm", iqm(values)), ("mean", values.mean()), ("median", np.median(values))]:
        interval = bootstrap_ci(values, statistic=statistic)
        assert interval.meaningful and interval.reason == ""
        assert interval.low <= point <= interval.high


def test_bootstrap_ci_narrows_with_more_seeds():
    rng = np.random.default_rng(2)
    few = bootstrap_ci(rng.normal(0.0, 1.0, size=5))
    many = bootstrap_ci(rng.normal(0.0, 1.0, size=200))
    assert many.high - many.low < (few.high - few.low) / 2


def test_bootstrap_ci_is_deterministic_given_the_seed():
    values = np.random.default_rng(3).normal(size=8)
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(list(values), seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)


@pytest.mark.parametrize("values", [[], [1.0], [1.0, 2.0], [1.0, 2.0, np.nan]])
def test_bootstrap_ci_is_not_meaningful_below_three_seeds(values):
    interval = bootstrap_ci(values)
    assert not interval.meaningful
    assert interval.reason == "fewer than 3 seeds"
    assert math.isnan(interval.low) and math.isnan(interval.high)


def test_bootstrap_ci_counts_dropped_nans():
    interval = bootstrap_ci([1.0, np.nan, 2.0, 3.0, np.nan], **FAST)
    assert (interval.n, interval.n_dropped, interval.meaningful) == (3, 2, True)


def test_bootstrap_ci_of_equal_values_says_there_is_no_spread_instead_of_a_zero_width_interval():
    interval = bootstrap_ci([1.0, 1.0, 1.0])
    assert not interval.meaningful and interval.reason == "3 seeds, all 1: no spread to estimate"
    assert math.isnan(interval.low) and math.isnan(interval.high) and interval.n == 3


def test_bootstrap_ci_rejects_unknown_statistic_and_bad_confidence():
    with pytest.raises(ValueError, match="statistic must be one of"):
        bootstrap_ci([1, 2, 3], statistic="max")
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1, 2, 3], confidence=95)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=20), st.integers(0, 2**16))
def test_bootstrap_interval_low_is_at_most_high(values, seed):
    interval = bootstrap_ci(values, n_resamples=200, seed=seed)
    if len(set(values)) == 1:
        assert not interval.meaningful and "no spread to estimate" in interval.reason
    else:
        assert interval.meaningful and interval.low <= interval.high


# --- stratified_bootstrap_ci -------------------------------------------------------------------


def test_stratified_bootstrap_with_one_stratum_equals_bootstrap_ci():
    values = np.random.default_rng(4).normal(size=9)
    frame = pd.DataFrame({"ret": values, "env": "CartPole"})
    assert stratified_bootstrap_ci(frame, "ret", "env", seed=5) == bootstrap_ci(values, seed=5)


def test_stratified_bootstrap_keeps_runs_per_stratum_fixed():
    # Envs on very different scales: pooled resampling varies how many runs of each env a resample
    # holds and so swings the IQM wildly; resampling within envs does not.
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(
        {"ret": np.r_[rng.normal(0.0, 1.0, 6), rng.normal(100.0, 1.0, 6)], "env": ["a"] * 6 + ["b"] * 6}
    )
    stratified = stratified_bootstrap_ci(frame, "ret", "env")
    pooled = bootstrap_ci(frame["ret"])
    assert stratified.meaningful
    assert stratified.low <= iqm(frame["ret"]) <= stratified.high
    assert stratified.high - stratified.low < (pooled.high - pooled.low) / 3


def test_stratified_bootstrap_needs_three_seeds_in_every_stratum():
    frame = pd.DataFrame({"ret": [1.0, 2.0, 3.0, 4.0, 5.0], "env": ["a", "a", "a", "b", "b"]})
    interval = stratified_bootstrap_ci(frame, "ret", "env")
    assert not interval.meaningful
    assert interval.reason == "fewer than 3 seeds in stratum b"


# --- difference_ci --------------------------------------------------


@pytest.mark.parametrize("paired", [False, True])
def test_difference_of_identical_samples_contains_zero(paired):
    values = np.random.default_rng(7).normal(size=10)
    estimate, interval = difference_ci(values, values.copy(), paired=paired)
    assert estimate == 0.0
    assert interval.meaningful and interval.low <= 0.0 <= interval.high


def test_paired_difference_is_narrower_on_seed_correlated_runs():
    rng = np.random.default_rng(8)
    seed_luck = rng.normal(0.0, 10.0, size=20)  # shared by both configs on the same seed
    a = seed_luck + 1.0 + rng.normal(0.0, 0.5, size=20)
    b = seed_luck + rng.normal(0.0, 0.5, size=20)
    paired = difference_ci(a, b, statistic="mean", paired=True).interval
    unpaired = difference_ci(a, b, statistic="mean", paired=False).interval
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 5
    assert paired.low > 0.0 > unpaired.low


def test_paired_difference_aligns_series_on_seed_and_drops_incomplete_pairs():
    a = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan], index=[0, 1, 2, 3, 4])
    b = pd.Series([3.0, 2.0, 1.0, 0.0, 9.0], index=[3, 2, 1, 0, 4])  # b is a - 1 on every seed
    estimate, interval = difference_ci(a, b, statistic="mean", paired=True, **FAST)
    assert estimate == 1.0
    # Paired by seed, every resample differs by exactly 1; paired by position it would not.
    assert (interval.low, interval.high) == pytest.approx((1.0, 1.0))
    assert (interval.n, interval.n_dropped) == (4, 2)


def test_paired_difference_rejects_unaligned_arrays():
    with pytest.raises(ValueError, match="one value per seed"):
        difference_ci([1, 2, 3], [1, 2, 3, 4], paired=True)


def test_difference_with_too_few_seeds_keeps_the_estimate_but_not_the_interval():
    estimate, interval = difference_ci([3.0, 5.0], [1.0, 2.0, 3.0])
    assert estimate == 2.0
    assert not interval.meaningful and interval.reason == "fewer than 3 seeds"
    assert math.isnan(difference_ci([], [1.0, 2.0, 3.0]).estimate)


# --- auc ---------------------------------------------------------------------------------------


def test_auc_of_a_constant_curve_is_the_constant():
    assert auc([0, 1000, 5000, 6000], [3.0, 3.0, 3.0, 3.0]) == pytest.approx(3.0)


def test_auc_of_a_linear_ramp_is_its_midpoint():
    steps = np.linspace(0, 1_000_000, 11)
    assert auc(steps, steps / 1_000_000) == pytest.approx(0.5)


def test_auc_uses_the_step_spacing_and_drops_nans():
    # 0 -> 1 over the first 1000 steps, then flat at 1 for 3000: area 500 + 3000 over span 4000.
    assert auc([4000, 0, 1000, 2000], [1.0, 0.0, 1.0, np.nan]) == pytest.approx(3500 / 4000)


def test_auc_of_one_point_is_its_value_and_of_none_is_nan():
    assert auc([10], [2.5]) == 2.5
    assert math.isnan(auc([], []))


# --- summarise ---------------------------------------------------------------------------------


def _sweep_frame() -> pd.DataFrame:
    returns = {
        64: [9.0, 10.0, 11.0, 10.0, 9.5, 10.5, np.nan],
        128: [8.5, 9.5, 10.5, 9.0, 10.0, 9.5],
        256: [5.0, 5.5],  # two seeds: no meaningful interval
        32: [0.0, 1.0, -1.0, 0.5, -0.5, 0.0],
    }
    return pd.DataFrame(
        [{"lstm_cell_size": cell, "max_seq_len": 20, "ret": ret} for cell, rets in returns.items() for ret in rets]
    )


def test_summarise_orders_groups_best_iqm_first():
    table = summarise(_sweep_frame(), ["lstm_cell_size", "max_seq_len"], "ret")
    assert table["lstm_cell_size"].tolist() == [64, 128, 256, 32]
    assert table["n"].tolist() == [6, 6, 2, 6]
    assert table["n_dropped"].tolist() == [1, 0, 0, 0]
    assert table["iqm"].iloc[0] == pytest.approx(10.0)
    assert table["ci_meaningful"].tolist() == [True, True, False, True]


def test_summarise_overlaps_best_is_unknown_without_a_meaningful_interval():
    table = summarise(_sweep_frame(), "lstm_cell_size", "ret")
    assert table["overlaps_best"].dtype == "boolean"
    assert table["overlaps_best"].tolist() == [True, True, pd.NA, False]


def test_summarise_with_a_best_group_of_two_seeds_claims_no_overlaps():
    frame = pd.concat([_sweep_frame(), pd.DataFrame({"lstm_cell_size": [512] * 2, "ret": [50.0, 60.0]})])
    table = summarise(frame, "lstm_cell_size", "ret")
    assert table["lstm_cell_size"].iloc[0] == 512
    assert table["overlaps_best"].isna().all()


def test_summarise_of_an_empty_frame_is_an_empty_table():
    table = summarise(_sweep_frame().iloc[:0], "lstm_cell_size", "ret")
    assert table.empty and "overlaps_best" in table.columns


# --- the IQM's interval -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5, 10])
def test_the_iqm_interval_reaches_its_coverage_on_normal_scores_where_the_bootstrap_did_not(n):
    """Simulation: 2,000 studies of n normal seeds; the old percentile bootstrap covered ~73% at 3 seeds."""
    rng = np.random.default_rng(n)
    samples = rng.normal(5.0, 2.0, size=(2000, n))
    covered = [iqm_ci(sample).low <= 5.0 <= iqm_ci(sample).high for sample in samples]
    assert np.mean(covered) >= 0.93  # 95% nominal; 2,000 studies give a standard error of 0.005


def test_the_iqm_interval_is_clipped_to_the_scores_range_and_says_no_spread():
    clipped = iqm_ci([1.0, 0.9, 1.0], bounds=(0.0, 1.0))
    assert clipped.high == 1.0 and 0.0 <= clipped.low < 0.9
    assert iqm_ci([1.0, 0.9, 1.0]).high > 1.0  # unclipped: the t interval runs past the success rate's top
    assert not iqm_ci([1.0, 1.0, 1.0]).meaningful and "no spread" in iqm_ci([1.0, 1.0, 1.0]).reason
    assert not iqm_ci([1.0, 2.0]).meaningful


def test_the_iqm_interval_is_not_given_when_the_middle_seeds_tie_though_the_outer_ones_differ():
    """Winsorising clips the outer seeds onto tied middle ones: the spread estimate is 0, not the truth."""
    interval = iqm_ci([0.39, 0.46, 0.46, 0.46, 0.51], bounds=(0.0, 1.0))
    assert not interval.meaningful and "middle 3 are all 0.46" in interval.reason
    assert iqm_ci([0.39, 0.46, 0.47, 0.46, 0.51]).meaningful
