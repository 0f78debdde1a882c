"""The sequential rule of a raced sweep (rnnppo.core.sequential): pure functions on score tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnppo.core.sequential import (
    EQUIVALENT,
    LEADER,
    OPEN,
    UNSEPARATED,
    WORSE,
    Decision,
    RaceDesign,
    interval,
    look,
    open_after,
    race,
)


def test_the_boundary_keeps_the_chance_of_any_crossing_at_alpha_over_the_looks() -> None:
    # A fresh simulation (another seed) of normal per-seed differences with mean 0: the t statistic
    # crosses the look's critical value at some look of 3..10 in 5% of races.
    design = RaceDesign(3, 10, configs=2)
    rng = np.random.default_rng(1)
    diffs = rng.standard_normal((100_000, 10))  # [races, seeds]
    crossed = np.zeros(len(diffs), dtype=bool)
    for n in design.looks:
        part = diffs[:, :n]
        t = np.abs(part.mean(axis=1)) / (part.std(axis=1, ddof=1) / math.sqrt(n))
        crossed |= t >= design.critical_t(n)
    assert crossed.mean() == pytest.approx(0.05, abs=0.004)


def test_more_configurations_and_earlier_looks_get_stricter_levels() -> None:
    two, eight = RaceDesign(3, 10, configs=2), RaceDesign(3, 10, configs=8)
    assert eight.pairs == 28
    assert all(eight.level(n) < two.level(n) for n in two.looks)
    assert two.level(3) < two.level(10) < 0.05


def test_an_aa_study_on_fixed_seeds_never_claims_anything() -> None:
    # Three configurations that are the same up to noise, with per-seed luck shared (every seed moves all).
    rng = np.random.default_rng(7)
    luck = rng.normal(0, 5, size=10)
    table = {name: list(luck + rng.normal(0, 1, size=10)) for name in ("a", "b", "c")}
    result = race(table, RaceDesign(3, 10, configs=3))
    assert all(decision.status in (LEADER, UNSEPARATED) for decision in result.decisions.values())
    assert result.looks == 8


def test_aa_studies_claim_worse_in_at_most_alpha_of_cases() -> None:
    rng = np.random.default_rng(11)
    claims = 0
    design = RaceDesign(3, 10, configs=4)
    for _ in range(300):
        scores = rng.normal(size=(4, 10))
        result = race({str(i): list(row) for i, row in enumerate(scores)}, design)
        claims += any(d.status == WORSE for d in result.decisions.values())
    assert claims / 300 <= 0.05


def test_a_clear_loser_stops_early_as_worse_and_the_race_ends_before_max() -> None:
    rng = np.random.default_rng(3)
    good = list(10 + rng.normal(0, 0.1, size=10))
    bad = list(5 + rng.normal(0, 0.1, size=10))
    result = race({"good": good, "bad": bad}, RaceDesign(3, 10, configs=2))
    assert result.decisions["bad"].status == WORSE
    assert result.decisions["bad"].leader == "good"
    assert result.decisions["bad"].seeds < 10
    assert result.decisions["good"].status == LEADER
    assert result.seeds_used < 20
    reason = result.decisions["bad"].reason(RaceDesign(3, 10, configs=2))
    assert reason.startswith(f"stopped after {result.decisions['bad'].seeds} seeds: worse than good by -")
    assert "CI [" in reason


def test_configurations_within_the_min_effect_stop_as_equivalent_and_not_without_one() -> None:
    rng = np.random.default_rng(5)
    luck = rng.normal(0, 10, size=10)
    table = {"a": list(luck + 0.001 * rng.normal(size=10)), "b": list(luck + 0.001 * rng.normal(size=10))}
    with_effect = race(table, RaceDesign(3, 10, configs=2, min_effect=0.5))
    statuses = {d.status for d in with_effect.decisions.values()}
    assert statuses == {LEADER, EQUIVALENT}
    assert with_effect.looks < 8
    without = race(table, RaceDesign(3, 10, configs=2))
    assert {d.status for d in without.decisions.values()} == {LEADER, UNSEPARATED}


def test_differences_without_spread_count_only_once_a_sign_flip_test_could_reach_the_level() -> None:
    design = RaceDesign(3, 10, configs=2)
    early = interval([-1.0, -1.0, -1.0], design)
    assert math.isinf(early.low) and math.isinf(early.high)
    late = interval([-1.0] * 10, design)
    assert late.low == late.high == -1.0
    # Success/fail scores: a loser that fails every seed the other solves does not stop at seed 3.
    result = race({"solves": [1.0] * 10, "fails": [0.0] * 10}, design)
    stop = result.decisions["fails"].seeds
    assert result.decisions["fails"].status == WORSE
    assert 2.0 ** (1 - stop) <= design.level(stop) and 2.0 ** (2 - stop) > design.level(stop - 1)


def test_a_look_needs_the_same_seeds_for_every_open_configuration() -> None:
    with pytest.raises(ValueError, match="same number of seeds"):
        look({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0]}, ["a", "b"], RaceDesign(3, 10, configs=2))


def test_open_configurations_continue_and_a_lone_leader_ends_the_race() -> None:
    design = RaceDesign(3, 10, configs=3)
    decisions = look({"a": [1.0, 2.0, 3.0], "b": [1.1, 1.9, 3.2], "c": [0.9, 2.1, 2.9]}, ["a", "b", "c"], design)
    assert {d.status for d in decisions.values()} == {LEADER, OPEN}
    assert sorted(open_after(decisions)) == ["a", "b", "c"]
    alone = {"a": Decision(LEADER, 3), "b": Decision(WORSE, 3, "a")}
    assert open_after(alone) == []


def test_a_difference_shown_inside_the_min_effect_is_equivalent_even_when_also_shown_below_zero() -> None:
    table = {"a": [10.0 + 0.01 * i for i in range(10)], "b": [9.9 + 0.011 * i for i in range(10)]}
    assert race(table, RaceDesign(3, 10, configs=2)).decisions["b"].status == WORSE
    assert race(table, RaceDesign(3, 10, configs=2, min_effect=0.5)).decisions["b"].status == EQUIVALENT


def test_a_stop_the_exact_sign_flip_test_would_not_make_says_it_rests_on_the_t_interval():
    design = RaceDesign(3, 10, configs=2)
    # A success rate on 8 seeds: 1.0 every time against mixed shares with three ties (the real CueRecall race).
    leader, other = [1.0] * 8, [0.5, 1.0, 0.3, 0.5, 1.0, 0.4, 1.0, 0.467]
    decision = look({"leader": leader, "other": other}, ["leader", "other"], design)["other"]
    assert decision.status == WORSE
    assert decision.reason(design).endswith(
        "(a claim of the t interval: the exact sign-flip test over these 8 seeds gives p = 0.062)"
    )
    clear = [0.5, 0.6, 0.3, 0.5, 0.55, 0.4, 0.45, 0.467]  # every seed below: the exact test agrees (p = 2/256)
    decision = look({"leader": leader, "other": clear}, ["leader", "other"], design)["other"]
    assert decision.status == WORSE and "a claim of the t interval" not in decision.reason(design)
