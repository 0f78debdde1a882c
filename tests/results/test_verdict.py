"""What the verdict may claim (results/verdict.py) on per-seed scores whose truth is set by hand: ties,
no spread, nothing learned, cheaper only beyond the seed spread and by 10%, too few seeds, and names
given in full."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rnnppo.core.analysis.inert import inert_settings
from rnnppo.core.config import TrainConfig
from rnnppo.results import stats
from rnnppo.results import verdict as claims

SEEDS = (0, 1, 2, 3, 4)


def table_of(scores: dict[str, list[float]], cpu: dict[str, list[float]] | None = None, baseline=None):
    """A comparison table as report.comparison_table builds it, from per-seed scores (and CPU s/step)."""
    rows = []
    for key, values in scores.items():
        costs = (cpu or {}).get(key, [math.nan] * len(values))
        rows += [
            {"config": key, "seed": seed, "score": value, "cpu_s_per_step": cost}
            for seed, value, cost in zip(SEEDS, values, costs, strict=False)
        ]
    seeds = pd.DataFrame(rows)
    table = stats.summarise(seeds, "config", "score", n_resamples=200)
    order = list(table["config"])
    table = table.merge(claims.cost_columns(seeds, order), on="config")
    table = table.merge(claims.against_best(seeds, order, "score"), on="config")
    return table.merge(claims.against_baseline(seeds, order, "score", baseline), on="config")


def verdict_of(table, baseline=None) -> str:
    return claims.verdict(table, None, baseline, claims.cheapest_not_worse(table))


def test_identical_configurations_tie_share_rank_1_and_claim_no_cost_difference():
    same = [0.5, 0.7, 0.6]
    table = table_of({"eta=1.0": same, "eta=2.0": same}, cpu={"eta=1.0": [2e-4] * 3, "eta=2.0": [1.9e-4] * 3})
    assert list(table["rank"]) == [1, 1] and list(table["vs_best"]) == [claims.BEST, claims.TIE]
    assert claims.cheapest_not_worse(table) is None  # 5% cheaper: under the 10% bar
    text = verdict_of(table)
    assert text.startswith("eta=1.0 and eta=2.0 tie for best: identical scores on all 3 seeds")
    assert "no cost difference is established" in text


def test_all_equal_scores_give_no_interval_and_do_not_make_others_worse():
    table = table_of({"a": [1.0, 1.0, 1.0], "b": [1.0, 1.0, 0.9]})
    best = table.iloc[0]
    assert not best["ci_meaningful"] and best["ci_reason"] == "3 seeds, all 1: no spread to estimate"
    assert table.iloc[1]["vs_best"] == claims.OPEN  # one seed lower is not evidence of "worse"


def test_a_difference_on_every_seed_is_named_with_its_test():
    table = table_of({"seq_len=16": [1.0] * 5, "seq_len=2": [0.5, 0.6, 0.4, 0.5, 0.7]})
    assert table.iloc[1]["vs_best"] == claims.WORSE and table.iloc[1]["test"] == "paired t-test"
    text = verdict_of(table)
    assert "seq_len=16 is best (IQM 1, 5 seeds); it is better than seq_len=2 by 0.46" in text
    assert "paired t-test over 5 seeds" in text


def test_a_consistent_difference_is_decided_by_the_t_tests_limit_and_says_the_sign_test():
    table = table_of({"a": [1.0] * 5, "b": [0.5] * 5})
    assert table.iloc[1]["test"] == "consistent difference" and table.iloc[1]["vs_best"] == claims.WORSE
    text = verdict_of(table)
    assert "on every one of 5 seeds" in text and "the sign test alone gives p = 0.062" in text


def test_nothing_learned_is_said_and_no_best_is_named():
    baseline = {"mean_return": 0.5, "episodes": 100}
    table = table_of({"a": [0.5, 0.6, 0.4, 0.5, 0.5], "b": [0.45, 0.5, 0.55, 0.5, 0.4]}, baseline=baseline)
    text = verdict_of(table, baseline)
    assert text.startswith("nothing learned: no configuration scores significantly above a uniformly random")
    assert "is best" not in text
    learned = table_of({"a": [0.9, 1.0, 0.95, 1.0, 0.9], "b": [0.45, 0.5, 0.55, 0.5, 0.4]}, baseline=baseline)
    assert list(learned["beats_random"]) == [True, False]
    assert verdict_of(learned, baseline).startswith("a is best")


@pytest.mark.parametrize(
    ("cheap", "claimed"),
    [
        ([1.6e-4, 1.6e-4, 1.6e-4], True),  # 20% less, seed spread 0: established
        ([1.9e-4, 1.9e-4, 1.9e-4], False),  # 5% less: under the 10% bar
        ([1.0e-4, 2.2e-4, 1.6e-4], False),  # 20% less on average, but within its seed spread
    ],
)
def test_cheaper_only_beyond_the_seed_spread_and_by_ten_percent(cheap, claimed):
    scores = {"best": [1.0, 0.9, 0.8], "other": [0.95, 0.9, 0.85]}
    table = table_of(scores, cpu={"best": [2e-4, 2e-4, 2e-4], "other": cheap})
    assert table.iloc[1]["vs_best"] == claims.OPEN
    found = claims.cheapest_not_worse(table)
    assert (found is not None and found["config"] == "other") == claimed


def test_no_cost_difference_is_claimed_for_a_configuration_that_runs_the_best_ones_computation():
    # curiosity_eta with curiosity off: the same run twice; a 30% gap in CPU time is the machine's load then
    same = [0.5, 0.7, 0.6]
    table = table_of({"eta=1.0": same, "eta=2.0": same}, cpu={"eta=1.0": [2e-4] * 3, "eta=2.0": [1.4e-4] * 3})
    assert claims.cheapest_not_worse(table)["config"] == "eta=2.0"  # what the costs alone would say
    assert claims.cheapest_not_worse(table, same_as_best=["eta=2.0"]) is None


def test_cost_is_not_compared_for_runs_without_cpu_time():
    table = table_of({"a": [1.0, 0.9, 0.8], "b": [0.95, 0.9, 0.85]})
    assert claims.cheapest_not_worse(table) is None
    assert "CPU time per step was not measured" in verdict_of(table)


def test_one_seed_says_no_comparison_can_be_made():
    table = table_of({"a": [1.0], "b": [0.5]})
    text = verdict_of(table)
    assert "no comparison can be made; sweep with --seeds 3 or more" in text
    assert table.iloc[1]["vs_best"] == claims.UNTESTED


def test_configurations_are_named_in_full_and_unambiguously():
    a, b, c = "max_seq_len=20, lstm_cell_size=64", "max_seq_len=8, lstm_cell_size=64", "max_seq_len=20, cell=16"
    table = table_of({a: [1.0, 0.9, 0.8], b: [0.99, 0.9, 0.8], c: [0.98, 0.9, 0.81]})
    text = verdict_of(table)
    assert f"({a}) is best" in text
    assert f"not separable from the best: ({b}) and ({c})" in text or f"({c}) and ({b})" in text


def test_inert_settings_follow_the_code():
    off = TrainConfig()
    assert set(inert_settings(off, ["curiosity_eta", "curiosity_beta", "lr", "curiosity"])) == {
        "curiosity_eta",
        "curiosity_beta",
    }
    assert inert_settings(off.replace(curiosity=True), ["curiosity_eta"]) == {}
    dense = off.replace(rnn_type="none")
    found = inert_settings(dense, ["state_in", "lstm_cell_size", "lstm_use_prev_action", "max_seq_len"])
    assert set(found) == {"state_in", "max_seq_len"}  # the dense layer still has lstm_cell_size units
    assert "no memory effect" in found["max_seq_len"]
    assert set(inert_settings(off.replace(eval_episodes=0), ["eval_deterministic"])) == {"eval_deterministic"}
