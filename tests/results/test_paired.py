"""The paired comparison rules (results/paired.py): ties, consistent differences, the t-test and its
interval, Holm's correction against a plain reference, shared ranks, and seeds needed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rnnppo.results import paired

SCORES = st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=12)


def series(values, seeds=None) -> pd.Series:
    return pd.Series(list(values), index=list(seeds if seeds is not None else range(len(values))), dtype=float)


@settings(max_examples=60, deadline=None)
@given(SCORES)
def test_identical_per_seed_scores_are_a_tie_whatever_the_number_of_seeds(values):
    test = paired.paired_test(series(values), series(values))
    assert test.kind == paired.TIE and test.p == 1.0 and test.mean_diff == 0.0
    assert test.n == len(values) and test.decided


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=3, max_size=12),
    st.floats(0.5, 5.0),
)
def test_a_constant_shift_on_every_seed_is_a_consistent_difference(values, shift):
    test = paired.paired_test(series(np.asarray(values) + shift), series(values))
    assert test.kind == paired.CONSISTENT
    assert test.mean_diff == pytest.approx(shift) and test.p == 0.0
    assert test.sign_p == pytest.approx(2 * 0.5 ** len(values))  # the sign test alone: 0.0625 for 5 seeds


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**16), st.floats(1.0, 2.0))
def test_a_shift_plus_noise_is_found_once_there_are_enough_seeds(seed, shift):
    rng = np.random.default_rng(seed)
    seed_luck = rng.normal(0, 10, size=40)  # shared by both configurations: pairing cancels it
    noise = 0.5
    a = seed_luck + shift + rng.normal(0, noise, size=40)
    b = seed_luck + rng.normal(0, noise, size=40)
    # 40 pairs at an effect of shift / (noise * sqrt 2) >= 1.4 give a power of 1 - 1e-12: a miss is a bug.
    test = paired.paired_test(series(a), series(b))
    assert test.kind == paired.T_TEST and test.p < 0.05 and test.low > 0
    assert paired.paired_test(series(a[:2]), series(b[:2])).kind == paired.TOO_FEW  # 2 pairs never decide


def test_the_t_interval_and_p_match_scipy():
    a, b = series([1.0, 2.5, 3.1, 4.0, 5.2]), series([0.5, 2.0, 3.0, 3.0, 4.0])
    diffs = (a - b).to_numpy()
    test = paired.paired_test(a, b)
    assert test.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    half = stats.t.ppf(0.975, 4) * diffs.std(ddof=1) / math.sqrt(5)
    assert (test.low, test.high) == pytest.approx((diffs.mean() - half, diffs.mean() + half))


def test_pairs_are_the_seeds_both_finished():
    a = series([1.0, 2.0, 3.0, np.nan], seeds=[0, 1, 2, 3])
    b = series([0.0, 1.5, 2.0, 9.0, 9.0], seeds=[0, 1, 2, 3, 4])
    assert paired.paired_test(a, b).n == 3


def test_fewer_than_three_pairs_are_not_tested_unless_identical():
    test = paired.paired_test(series([1.0, 2.0]), series([0.0, 0.0]))
    assert test.kind == paired.TOO_FEW and not test.decided and math.isnan(test.p)
    assert "a test needs 3" in test.interval_text()


def test_a_shift_added_in_floating_point_is_still_a_consistent_difference():
    base = series([0.123456789, 0.987654321, 0.5555555])
    test = paired.paired_test(base - 0.25, base)  # -0.25 +- 1e-16 per seed
    assert test.kind == paired.CONSISTENT and test.mean_diff == pytest.approx(-0.25)


def test_interval_text_never_shows_a_silent_zero_width_interval():
    assert paired.paired_test(series([1, 1, 1]), series([1, 1, 1])).interval_text() == "identical on 3 seeds"
    shifted = paired.paired_test(series([2, 3, 4]), series([1, 2, 3]))
    assert shifted.interval_text() == "no spread: +1 on all 3 seeds"


def _holm_reference(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure as textbooks state it: reject the smallest p while p_(i) <= alpha/(m-i)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (len(p_values) - rank):
            break
        rejected[index] = True
    return rejected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=15), st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_adjusted_p_values_reject_what_the_step_down_reference_rejects(p_values, alpha):
    adjusted = paired.holm(p_values)
    assert all(0.0 <= value <= 1.0 for value in adjusted)
    assert all(adj >= raw for adj, raw in zip(adjusted, p_values, strict=True))
    reference = _holm_reference(p_values, alpha)
    for adj, reject, raw in zip(adjusted, reference, p_values, strict=True):
        if not math.isclose(raw * len(p_values), alpha, rel_tol=1e-9):  # exactly at the boundary either is fine
            assert (adj <= alpha) == reject


def test_holm_leaves_untested_comparisons_out_of_the_family():
    assert paired.holm([0.01, math.nan, 0.04]) == pytest.approx([0.02, math.nan, 0.04], nan_ok=True)


def test_only_identical_scores_share_a_rank():
    scores = {
        "a": series([1.0, 1.0, 1.0]),
        "b": series([1.0, 1.0, 1.0]),
        "c": series([0.9, 1.0, 1.0]),
        "d": series([0.5, 0.5, 0.5]),
        "e": series([0.5, 0.5, 0.5]),
    }
    assert paired.shared_ranks(list(scores), scores) == [1, 1, 3, 4, 4]


def test_seeds_needed_matches_a_brute_force_power_search():
    for mean, sd in [(0.26, 0.261), (0.1, 0.3), (0.5, 0.4), (2.0, 1.0)]:
        brute = next(n for n in range(paired.MIN_PAIRS, 2000) if paired.power(n, mean / sd) >= paired.POWER)
        assert paired.seeds_needed(mean, sd) == brute
    assert paired.seeds_needed(0.0, 1.0) is None
    assert paired.seeds_needed(1.0, 0.0) == paired.MIN_PAIRS
    assert paired.seeds_needed(0.001, 1.0) == paired.MAX_SEEDS_NEEDED + 1
    assert paired.seeds_needed_text(paired.MAX_SEEDS_NEEDED + 1) == ">1000"
