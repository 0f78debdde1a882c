"""The paired comparison rules (results/paired.py): ties, the exact sign-flip test, its floor and its
interval, equivalence, probability of improvement, the permutation null, Holm's correction against a
plain reference, shared ranks, and planned seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
def test_a_constant_shift_on_every_seed_gets_the_exact_floor_never_p_zero(values, shift):
    test = paired.paired_test(series(np.asarray(values) + shift), series(values))
    assert test.kind == paired.SIGN_FLIP
    assert test.mean_diff == pytest.approx(shift)
    assert test.p == pytest.approx(2 * 0.5 ** len(values)) and test.p > 0  # 0.25 for 3 seeds, 0.0625 for 5


def test_a_larger_difference_never_loses_to_a_smaller_one():
    """The old 'consistent difference' rule called (0.1, 0.1, 0.1) certain (p = 0) but (0.1, 0.1, 0.2) not."""
    zeros = series([0.0, 0.0, 0.0])
    equal = paired.paired_test(series([0.1, 0.1, 0.1]), zeros)
    larger = paired.paired_test(series([0.1, 0.1, 0.2]), zeros)
    assert equal.p == larger.p == 0.25
    assert "no exact p below 0.25" in equal.interval_text()


def test_three_or_five_seeds_never_reach_p_below_the_floor_and_six_can():
    assert paired.sign_flip_p(np.ones(3)) == 0.25 and paired.sign_flip_p(np.ones(5)) == 0.0625
    assert paired.sign_flip_p(np.ones(6)) == pytest.approx(1 / 32)
    assert paired.floor_seeds() == 6 and paired.floor_seeds(comparisons=4) == 8


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**16), st.floats(1.0, 2.0))
def test_a_shift_plus_noise_is_found_once_there_are_enough_seeds(seed, shift):
    rng = np.random.default_rng(seed)
    seed_luck = rng.normal(0, 10, size=40)  # shared by both configurations: pairing cancels it
    noise = 0.5
    a = seed_luck + shift + rng.normal(0, noise, size=40)
    b = seed_luck + rng.normal(0, noise, size=40)
    test = paired.paired_test(series(a), series(b))
    assert test.kind == paired.MONTE_CARLO and test.p < 0.05 and test.low > 0
    assert paired.paired_test(series(a[:2]), series(b[:2])).kind == paired.TOO_FEW  # 2 pairs never decide


def test_the_sign_flip_p_and_interval_match_a_brute_force_enumeration():
    diffs = np.array([0.5, 0.5, 0.1, 1.0, 1.2, -0.3, 0.8])
    test = paired.paired_test(series(diffs + 1.0), series(np.ones(7)))
    sums = [abs(np.dot(signs, diffs)) for signs in itertools.product((1, -1), repeat=7)]
    assert test.p == pytest.approx(np.mean([total >= abs(diffs.sum()) - 1e-12 for total in sums]))
    for edge in (test.low, test.high):  # the interval's ends sit where the test starts to reject
        outward = edge + np.sign(edge - diffs.mean()) * 1e-6
        assert paired.sign_flip_p(diffs - edge) > 0.05 >= paired.sign_flip_p(diffs - outward)
    assert (test.low < 0 < test.high) == (test.p >= 0.05)


def test_below_six_seeds_the_interval_is_the_scores_whole_range_or_unbounded():
    a, b = series([1.0, 1.0, 1.0]), series([0.0, 0.5, 1.0])
    bounded = paired.paired_test(a, b, bound=1.0)
    assert (bounded.low, bounded.high) == (-1.0, 1.0) and "the whole range" in bounded.interval_text()
    assert paired.paired_test(a, b).interval_text() == "unbounded (3 seeds: no exact p below 0.25)"


def test_probability_of_improvement_counts_every_pair_of_seeds_ties_half():
    assert paired.prob_improvement(np.array([2.0, 3.0]), np.array([1.0, 2.0])) == pytest.approx(3.5 / 4)
    assert math.isnan(paired.prob_improvement(np.array([]), np.array([1.0])))


def test_equivalence_needs_both_one_sided_tests_and_five_or_more_seeds():
    near = series([0.01, -0.02, 0.0, 0.01, -0.01])
    assert paired.equivalent(near, series([0.0] * 5), 0.1)[0]
    assert not paired.equivalent(near[:4], series([0.0] * 4), 0.1)[0]  # one-sided floor 1/16 > 0.05
    assert not paired.equivalent(near + 0.5, series([0.0] * 5), 0.1)[0]


def test_the_permutation_null_finds_a_real_spread_and_not_an_a_a():
    rng = np.random.default_rng(1)
    luck = rng.normal(0, 5, size=8)
    same = np.stack([luck + rng.normal(0, 1, 8), luck + rng.normal(0, 1, 8)])
    apart = same + np.array([[0.0], [4.0]])
    assert paired.permutation_differ_p(apart) < 0.05
    assert paired.permutation_differ_p(np.stack([luck, luck])) == 1.0


def test_pairs_are_the_seeds_both_finished():
    a = series([1.0, 2.0, 3.0, np.nan], seeds=[0, 1, 2, 3])
    b = series([0.0, 1.5, 2.0, 9.0, 9.0], seeds=[0, 1, 2, 3, 4])
    assert paired.paired_test(a, b).n == 3


def test_fewer_than_three_pairs_are_not_tested_unless_identical():
    test = paired.paired_test(series([1.0, 2.0]), series([0.0, 0.0]))
    assert test.kind == paired.TOO_FEW and not test.decided and math.isnan(test.p)
    assert "a test needs 3" in test.interval_text()


def test_a_shift_added_in_floating_point_is_not_a_spread():
    base = series([0.123456789, 0.987654321, 0.5555555])
    test = paired.paired_test(base - 0.25, base)  # -0.25 +- 1e-16 per seed
    assert test.sd == pytest.approx(0.0, abs=1e-12) and test.mean_diff == pytest.approx(-0.25) and test.p == 0.25


def test_interval_text_never_shows_a_silent_zero_width_interval():
    assert paired.paired_test(series([1, 1, 1]), series([1, 1, 1])).interval_text() == "identical on 3 seeds"
    shifted = paired.paired_test(series([2, 3, 4]), series([1, 2, 3]))
    assert shifted.interval_text() == "unbounded (3 seeds: no exact p below 0.25)"


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


def test_identical_scores_and_equal_iqms_share_a_rank():
    scores = {
        "a": series([1.0, 1.0, 1.0]),
        "b": series([1.0, 1.0, 1.0]),
        "c": series([0.9, 1.0, 1.0]),
        "d": series([0.5, 0.5, 0.5]),
        "e": series([0.5, 0.5, 0.5]),
    }
    assert paired.shared_ranks(list(scores), scores) == [1, 1, 3, 4, 4]
    equal_iqm = {"x": series([1.0, 2.0, 3.0]), "y": series([2.0, 2.0, 2.0])}
    assert paired.shared_ranks(list(equal_iqm), equal_iqm, {"x": 2.0, "y": 2.0}) == [1, 1]


def test_planned_seeds_come_from_the_stated_effect_not_the_observed_one():
    for effect, sd in [(0.26, 0.261), (0.1, 0.3), (0.5, 0.4), (2.0, 1.0)]:
        brute = next(n for n in range(paired.floor_seeds(), 2000) if paired.power(n, effect / sd) >= paired.POWER)
        assert paired.seeds_needed(effect, sd) == brute
    assert paired.seeds_needed(2.0, 1.0) == paired.floor_seeds()  # the exact test's floor: 6 at one comparison
    assert paired.seeds_needed(math.nan, 1.0) is None
    assert paired.seeds_needed(1.0, 0.0) == paired.floor_seeds()
    assert paired.seeds_needed(1.0, 1.0, comparisons=4) > paired.seeds_needed(1.0, 1.0)
    assert paired.seeds_needed(0.001, 1.0) == paired.MAX_SEEDS_NEEDED + 1
    assert paired.seeds_needed_text(paired.MAX_SEEDS_NEEDED + 1) == ">1000"


# --- two groups that are not paired seed by seed --------------------------------------------------------


def _two_sample_by_hand(a: list[float], b: list[float]) -> float:
    pooled = [*a, *b]
    observed = abs(np.mean(a) - np.mean(b))
    hits = total = 0
    for chosen in itertools.combinations(range(len(pooled)), len(a)):
        rest = [v for i, v in enumerate(pooled) if i not in chosen]
        total += 1
        hits += abs(np.mean([pooled[i] for i in chosen]) - np.mean(rest)) >= observed - 1e-12
    return hits / total


@given(
    st.lists(st.integers(-5, 5), min_size=2, max_size=6),
    st.lists(st.integers(-5, 5), min_size=2, max_size=6),
)
@settings(max_examples=60, deadline=None)
def test_the_two_sample_test_is_the_share_of_splits_at_least_as_far_apart(a, b):
    if np.mean(a) == np.mean(b):
        assert paired.two_sample_p(np.array(a), np.array(b)) == 1.0
    else:
        assert paired.two_sample_p(np.array(a), np.array(b)) == pytest.approx(_two_sample_by_hand(a, b))


def test_five_runs_wholly_above_five_others_give_the_two_sided_floor_two_in_252():
    assert paired.two_sample_p(np.ones(5), np.zeros(5)) == pytest.approx(2 / 252)


def test_beyond_the_exact_limit_the_two_sample_p_is_a_random_split_estimate_that_is_never_zero():
    rng = np.random.default_rng(0)
    far = paired.two_sample_p(rng.normal(3, 1, 15), rng.normal(0, 1, 15))
    assert 0 < far <= 1 / (paired.RANDOM_FLIPS + 1) * 2
    same = [paired.two_sample_p(rng.normal(0, 1, 15), rng.normal(0, 1, 15), seed=i) for i in range(40)]
    assert np.mean(np.array(same) < 0.05) < 0.2  # about 0.05 when both groups come from one distribution
