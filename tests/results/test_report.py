"""The report's conclusions on a study whose truth is known (tests/results/fixtures.py): the comparison,
marginals, importance, what the LSTM saw, gains over controls, the verdict, and study against study."""

from __future__ import annotations

import dataclasses
import shutil

import optuna
import pandas as pd
import pytest
from optuna.trial import create_trial

from rnnppo.core.config import TrainConfig
from rnnppo.results import stats
from rnnppo.results import verdict as claims
from rnnppo.results.report import (
    MIN_TRIALS_FOR_IMPORTANCE,
    build_report,
    compare_studies,
    comparison_table,
    importance,
    resolved_config,
)
from rnnppo.results.studies import ReportError, load_study, open_readonly
from rnnppo.storage.backend import default_storage_url
from tests.results.fixtures import SEEDS, build_study

optuna.logging.set_verbosity(optuna.logging.ERROR)
BEST = "max_seq_len=20, lstm_cell_size=64, rnn_type=lstm"
CHEAP = "max_seq_len=8, lstm_cell_size=64, rnn_type=lstm"
"""Not separable from the best: 0.02 below it (paired); everything else is 0.05 or more below."""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    build_study(folder)
    build_study(folder, "night2", rnn_types=("lstm",), extras=False, shift={4: -0.25})
    build_study(folder, "two-seeds", seeds=(0, 1), cells=(64,), rnn_types=("lstm",), extras=False)
    return folder


def load(results, name="cue-seqlen", files=True):
    return load_study(open_readonly(default_storage_url(results)), name, results if files else None)


@pytest.fixture(scope="module")
def report(results):
    return build_report(load(results))


def test_comparison_ranks_configurations_best_first_with_intervals(report):
    table = report.comparison
    assert len(table) == 12 and list(table["rank"]) == list(range(1, 13))
    assert table.iloc[0]["config"] == BEST
    assert table["iqm"].is_monotonic_decreasing
    assert (table["n"] == len(SEEDS)).all() and table["ci_meaningful"].all()
    assert (table["ci_low"] <= table["iqm"]).all() and (table["iqm"] <= table["ci_high"]).all()
    assert table.iloc[0]["vs_best"] == claims.TOP  # 8/64 is 0.02 below: not separable, shown within ±D
    assert table.set_index("config").loc[CHEAP, "vs_best"] == claims.EQUIVALENT
    worse = table[~table["config"].isin({BEST, CHEAP})]
    assert (worse["vs_best"] == "worse").all() and (worse["p_holm"] < 0.05).all() and (worse["diff"] < 0).all()
    assert (worse["test"] == "exact sign-flip test").all() and (worse["pairs"] == len(SEEDS)).all()
    assert (table.iloc[1:]["prob_improvement"] < 0.5).all() and report.score_kind == "success rate"
    assert (table["ci_high"] <= 1.0).all()  # a success rate's interval is clipped to [0, 1]
    assert table.loc[table["config"] == BEST, "max_seq_len"].item() == 20
    assert (table["steps_per_s"] > 0).all() and (table["wall_s"] > 0).all() and table["auc"].notna().all()


def test_a_configuration_run_twice_counts_each_seed_once(results, tmp_path):
    shutil.copytree(results, tmp_path / "copy")
    study = optuna.load_study(study_name="two-seeds", storage=default_storage_url(tmp_path / "copy"))
    first = study.trials[0]
    study.add_trial(
        create_trial(
            value=first.value,
            params=first.params,
            distributions=first.distributions,
            user_attrs=first.user_attrs,
        )
    )
    data = load(tmp_path / "copy", "two-seeds")
    assert len(data.runs) == 2 * 3 + 2  # the CSV keeps every run...
    table = comparison_table(data)
    assert (table["n"] == 2).all()  # ...the statistics count seeds


def test_marginals_average_each_seed_over_the_other_parameters(report):
    assert list(report.marginals) == ["max_seq_len", "lstm_cell_size", "rnn_type"]
    seq_len = report.marginals["max_seq_len"]
    assert list(seq_len["max_seq_len"]) == ["4", "8", "20"]
    assert (seq_len["n"] == len(SEEDS)).all()
    assert seq_len.loc[seq_len["best"], "max_seq_len"].item() == "20"
    assert seq_len.set_index("max_seq_len").loc["4", "vs_best"] == "worse"  # paired by seed, Holm
    memory = report.marginals["rnn_type"].set_index("rnn_type")
    assert memory.loc["lstm", "iqm"] > memory.loc["none", "iqm"]


def test_importance_ranks_the_parameters_with_enough_trials(report, results):
    assert report.importance is not None and "differ beyond the seed spread (permutation test" in report.importance_note
    assert set(report.importance_interval) == set(report.importance)
    assert set(report.importance) == {"max_seq_len", "lstm_cell_size", "rnn_type"}
    assert sum(report.importance.values()) == pytest.approx(1.0)
    assert report.importance["lstm_cell_size"] < max(report.importance["max_seq_len"], report.importance["rnn_type"])
    small = build_report(load(results, "two-seeds"))
    assert small.importance is None
    assert f"{MIN_TRIALS_FOR_IMPORTANCE} or more finished trials" in small.importance_note


def test_lstm_saw_follows_the_comparison_order(report):
    saw = report.lstm_saw.set_index("config")
    assert list(saw.index) == list(report.comparison["config"])
    assert saw.loc[BEST, "seq_len_mean"] == pytest.approx(9.0)
    assert saw.loc["max_seq_len=4, lstm_cell_size=16, rnn_type=lstm", "pad_frac"] == pytest.approx(0.1)


def test_memory_horizon_sits_beside_max_seq_len_per_configuration(report):
    saw = report.lstm_saw.set_index("config")
    short = "max_seq_len=4, lstm_cell_size=16, rnn_type=lstm"
    # fixtures: the horizon is max_seq_len + 3 (capped at 9): the carried state reaches past max_seq_len
    assert saw.loc[short, "max_seq_len"] == 4 and saw.loc[short, "memory_horizon"] == pytest.approx(7.0)
    assert saw.loc[BEST, "memory_horizon"] == pytest.approx(9.0)
    assert saw.loc["max_seq_len=4, lstm_cell_size=16, rnn_type=none", "memory_horizon"] == 0.0
    assert (saw["memory_runs"] == len(SEEDS)).all()
    # every seed of a fixture configuration has the same horizon: no spread, so no interval (never [h, h])
    assert saw["memory_horizon_low"].isna().all() and saw["memory_horizon_high"].isna().all()
    memory = report.data.memory
    assert set(memory["config"]) == set(saw.index) and memory["lag"].max() == 10
    assert memory.loc[memory["lag"] == 10, "influence"].isna().all()  # beyond every episode: no value


def test_each_memory_configuration_is_paired_with_its_memory_off_control(report):
    controls = report.controls.set_index("config")
    assert len(controls) == 6
    for config, row in controls.iterrows():
        assert row["control"] == config.replace("rnn_type=lstm", "rnn_type=none")
    assert (controls["pairs"] == len(SEEDS)).all()
    assert controls["significant"].all() and (controls["gain"] > 0).all()
    assert controls.loc[BEST, "gain"] == pytest.approx(0.75, abs=0.05)


def test_no_controls_without_memory_off_trials(results):
    assert build_report(load(results, "night2")).controls is None


def test_verdict_names_the_best_set_the_worse_and_the_cheapest_shown_not_worse_in_full(report):
    assert report.verdict.startswith(f"highest IQM: ({BEST}) (0.941, 12 seeds); not separable from: ({CHEAP})")
    assert "is best" not in report.verdict
    assert "not worse (shown within ±0.1 of it" in report.verdict
    assert (
        "worse: 10 configurations (exact sign-flip test on per-seed differences, Holm over all 66 pairs"
        in report.verdict
    )
    assert f"the cheapest shown not worse is ({CHEAP}): 425 vs 530 CPU µs per env step" in report.verdict
    assert report.cheapest == CHEAP


def test_with_fewer_than_three_seeds_no_comparison_is_made(results):
    report = build_report(load(results, "two-seeds"))
    assert not report.comparison["ci_meaningful"].any()
    assert (report.comparison.iloc[1:]["vs_best"] == "not compared").all()
    assert "with 2 seed(s) per configuration no comparison can be made" in report.verdict
    assert report.cheapest is None


def test_verdict_without_finished_trials_counts_the_rest():
    empty = pd.DataFrame(columns=["config", "iqm"])
    assert claims.verdict(empty, {"complete": 0, "running": 2, "failed": 1}, None, None) == (
        "no finished configuration yet (2 running, 1 failed)"
    )


def test_an_auc_objective_ranks_by_auc(results):
    data = load(results)
    data = dataclasses.replace(data, spec={**data.spec, "objective": "auc"})
    report = build_report(data)
    assert report.score == "auc"
    best_runs = data.runs[data.runs["config"] == report.comparison.iloc[0]["config"]]
    assert report.comparison.iloc[0]["iqm"] == pytest.approx(stats.iqm(best_runs["auc"]))


def test_compare_lines_up_the_same_configurations_and_flags_significant_changes(results):
    table = compare_studies([load(results), load(results, "night2")]).set_index("config")
    assert len(table) == 6  # night2 fixed rnn_type=lstm: it shares the six lstm configurations
    assert all(key.endswith("rnn_type=lstm") for key in table.index)
    worse = table[table.index.str.startswith("max_seq_len=4,")]
    assert (worse["significant (night2)"] == "yes: worse").all()
    assert worse["change (night2)"].to_numpy() == pytest.approx([-0.25, -0.25])
    assert (worse["test (night2)"] == "exact sign-flip test").all()  # -0.25 on every seed, exactly
    assert (worse["P(better) (night2)"] == 0.0).all()
    same = table[~table.index.str.startswith("max_seq_len=4,")]
    assert (same["significant (night2)"] == "no: identical").all()
    assert (table["cue-seqlen seeds"] == len(SEEDS)).all() and (table["night2 seeds"] == len(SEEDS)).all()


def test_compare_with_fewer_than_three_seeds_says_so(results):
    table = compare_studies([load(results, "night2"), load(results, "two-seeds")])
    assert len(table) == 3
    table = table.set_index("config")
    shifted = table.index.str.startswith("max_seq_len=4,")  # night2 moved it by -0.25: 2 seeds cannot tell
    assert (table.loc[shifted, "significant (two-seeds)"] == "not tested (<3 shared seeds)").all()
    assert table.loc[shifted, "95% CI (two-seeds)"].str.startswith("n/a (2 seeds").all()
    # the same runs in both studies: identical scores are a tie, whatever the number of seeds
    assert (table.loc[~shifted, "significant (two-seeds)"] == "no: identical").all()
    assert (table.loc[~shifted, "95% CI (two-seeds)"] == "identical on 2 seeds").all()


def test_resolved_config_is_the_trials_exact_config(results):
    data = load(results)
    config = resolved_config(data, BEST)
    assert config == TrainConfig.from_dict(data.configs[BEST])
    assert (config.max_seq_len, config.lstm_cell_size, config.env_kwargs) == (20, 64, {"cue_distance": 3})


def test_resolved_config_without_a_config_attribute_uses_the_base_config(tmp_path):
    sweep = build_study(tmp_path, extras=False, store_config=False)
    data = load(tmp_path, sweep.name)
    assert data.configs[BEST] == {}
    config = resolved_config(data, BEST)
    assert (config.max_seq_len, config.lstm_cell_size, config.rnn_type) == (20, 64, "lstm")
    assert config.total_steps == 256 and config.env_kwargs == {"cue_distance": 3} and config.seed == 0
    foreign = dataclasses.replace(data, spec={k: v for k, v in data.spec.items() if k != "base_config"})
    with pytest.raises(ReportError, match="stored no resolved configuration"):
        resolved_config(foreign, BEST)


def test_a_memory_horizon_at_the_runs_last_lag_is_shown_as_a_lower_bound(report):
    from rnnppo.results.render import lstm_saw_section
    from rnnppo.results.report import lstm_saw_table

    runs = report.data.runs
    censored = (runs["config"] == BEST) & runs["seed"].isin(SEEDS[1:3])  # 2 of the best's seeds saw no further lag
    data = dataclasses.replace(report.data, runs=runs.assign(memory_horizon_at_cap=censored.astype(float)))
    saw = lstm_saw_table(data, list(report.comparison["config"]))
    assert saw.set_index("config")["memory_at_cap"].to_dict() == {key: 2 * (key == BEST) for key in saw["config"]}
    section = lstm_saw_section(dataclasses.replace(report, lstm_saw=saw))
    column = section.header.index("memory horizon [95%]")
    shown = {row[0].replace("\n", ", "): row[column] for row in section.rows}
    assert shown[BEST] == f"≥ 9.0 (2 of {len(SEEDS)} at their last lag)"
    assert not any(text.startswith("≥") for key, text in shown.items() if key != BEST)
    assert "≥" in section.note


def test_min_effect_comes_from_the_report_option_then_the_sweep_then_the_score_kinds_default(results):
    data = load(results)
    assert (report_min_effect(data, None)) == (0.1, "default for a success rate")
    assert report_min_effect(data, 0.25) == (0.25, "--min-effect")
    swept = dataclasses.replace(data, spec={**data.spec, "min_effect": 0.3})
    assert report_min_effect(swept, None) == (0.3, "the sweep's --min-effect")


def report_min_effect(data, given):
    report = build_report(data, given)
    return report.min_effect, report.min_effect_source


def test_importance_is_not_reported_where_the_comparison_separates_nothing(results):
    found, note, intervals = importance(load(results), separated=False)
    assert found is None and intervals == {} and note.startswith("not reported: no configuration is separated")
