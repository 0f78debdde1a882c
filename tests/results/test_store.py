"""Reading a study back into tidy frames: one row per finished (configuration, seed) run and one per curve
point, from the storage alone or with run-file detail; counts, spares, study lists and lookup errors."""

from __future__ import annotations

import shutil

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import create_trial

from rnnppo.results.studies import (
    ReportError,
    list_studies,
    load_study,
    open_readonly,
    pick_study,
    storage_for_results,
)
from tests.results.fixtures import ITERATIONS, SEEDS, Fixture, build_study

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return build_study(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def data(sweep):
    return load_study(open_readonly(sweep.url), sweep.name, sweep.results_dir)


def copy_of(sweep, tmp_path):
    """A writable copy of the fixture's results folder (the module fixture is shared)."""
    shutil.copytree(sweep.results_dir, tmp_path / "copy")
    return Fixture(tmp_path / "copy", sweep.name, sweep.seeds, sweep.swept, sweep.trials)


def test_runs_have_one_row_per_complete_configuration_and_seed(data, sweep):
    assert len(data.runs) == 12 * len(SEEDS)
    assert not data.runs.duplicated(["config", "seed"]).any()
    assert set(data.runs["seed"]) == set(SEEDS)
    # the failed trial and its running retry each finished one seed: neither is reported
    assert {sweep.trials["failed"], sweep.trials["running"]}.isdisjoint(set(data.runs["trial"]))
    assert data.swept == ["max_seq_len", "lstm_cell_size", "rnn_type"]
    row = data.runs[data.runs["config"] == "max_seq_len=20, lstm_cell_size=64, rnn_type=lstm"].iloc[0]
    assert row["max_seq_len"] == 20 and row["lstm_cell_size"] == 64 and row["rnn_type"] == "lstm"
    assert row["seq_len_mean"] == pytest.approx(9.0)
    assert row["run_dir"] == f"{sweep.name}/{row['trial']}/{row['seed']}"


def test_counts_cover_every_state_and_spares_are_ignored(data, sweep):
    assert data.counts == {"complete": 12, "failed": 1, "running": 1, "pruned": 1, "waiting": 0}
    assert sweep.trials["spare"] not in {t.number for t in data.trials}


def test_the_storage_alone_gives_the_same_runs_as_with_files(data, sweep):
    alone = load_study(open_readonly(sweep.url), sweep.name)
    assert alone.warnings == []
    pd.testing.assert_frame_equal(alone.runs, data.runs)


def test_run_files_add_full_resolution_curves(data, sweep):
    alone = load_study(open_readonly(sweep.url), sweep.name)
    per_run = ["config", "seed"]
    assert data.curves.groupby(per_run).size().eq(ITERATIONS).all()  # metrics.csv: every iteration
    assert alone.curves.groupby(per_run).size().eq(ITERATIONS // 2).all()  # the storage's downsampled copy


def test_summary_json_fills_fields_the_storage_lacks(tmp_path):
    sweep = build_study(tmp_path, extras=False, drop_from_storage=("eval_success_mean",))
    alone = load_study(open_readonly(sweep.url), sweep.name)
    with_files = load_study(open_readonly(sweep.url), sweep.name, sweep.results_dir)
    assert alone.runs["eval_success_mean"].isna().all()
    assert with_files.runs["eval_success_mean"].notna().all()
    pd.testing.assert_series_equal(
        with_files.runs["eval_success_mean"], with_files.runs["final_return"], check_names=False
    )


def test_summary_json_fills_the_memory_horizon_and_influence_the_storage_lacks(tmp_path):
    dropped = ("memory_horizon", "memory_horizon_interval", "memory_influence")
    sweep = build_study(tmp_path, extras=False, drop_from_storage=dropped)
    alone = load_study(open_readonly(sweep.url), sweep.name)
    with_files = load_study(open_readonly(sweep.url), sweep.name, sweep.results_dir)
    assert alone.runs["memory_horizon"].isna().all() and alone.memory.empty
    assert with_files.runs["memory_horizon"].notna().all()
    assert len(with_files.memory) == len(with_files.runs) * 11  # lags 0..10 per run


def test_missing_or_corrupt_run_files_are_warnings_naming_the_file(sweep, tmp_path):
    copy = copy_of(sweep, tmp_path)
    trial = copy.trials["max_seq_len=8, lstm_cell_size=64, rnn_type=lstm"]
    corrupt = copy.run_dir(trial, 0) / "summary.json"
    corrupt.write_text("{not json")
    missing = copy.run_dir(trial, 1) / "metrics.csv"
    missing.unlink()
    bad_csv = copy.run_dir(trial, 2) / "metrics.csv"
    bad_csv.write_text("iteration,wall_time\n1,2\n")
    gone = copy.run_dir(0, 0)
    shutil.rmtree(gone)

    data = load_study(open_readonly(copy.url), copy.name, copy.results_dir)

    text = "\n".join(data.warnings)
    assert len(data.warnings) == 4
    assert f"{corrupt} is unreadable" in text
    assert f"{missing} is missing" in text
    assert f"{bad_csv} is unreadable" in text
    assert f"run folder {gone} is missing" in text
    # the report goes on from the storage: every run is still there, with the storage's values
    clean = load_study(open_readonly(sweep.url), sweep.name)
    pd.testing.assert_frame_equal(data.runs, clean.runs)


def test_list_studies_has_env_counts_best_and_last_update(sweep, tmp_path):
    copy = copy_of(sweep, tmp_path)
    build_study(copy.results_dir, "second", rnn_types=("lstm",), extras=False)
    listing = list_studies(open_readonly(copy.url)).set_index("study")
    assert list(listing.index) == [sweep.name, "second"]
    first = listing.loc[sweep.name]
    assert (first["complete"], first["failed"], first["running"], first["pruned"]) == (12, 1, 1, 1)
    assert first["env"] == "rnnppo/CueRecall-v0"
    study = optuna.load_study(study_name=sweep.name, storage=copy.url)
    assert first["highest trial score"] == pytest.approx(study.best_value)
    assert listing.loc["second", "last_update"] >= first["last_update"]


def test_pick_study_takes_the_named_the_only_or_the_latest_one(sweep, tmp_path):
    assert pick_study(open_readonly(sweep.url), None) == sweep.name
    copy = copy_of(sweep, tmp_path)
    build_study(copy.results_dir, "later", rnn_types=("lstm",), extras=False)
    storage = open_readonly(copy.url)
    assert pick_study(storage, None) == "later"
    assert pick_study(storage, sweep.name) == sweep.name
    with pytest.raises(ReportError, match="did you mean 'cue-seqlen'"):
        pick_study(storage, "cue-seqlne")
    with pytest.raises(ReportError, match="the studies are: cue-seqlen, later"):
        pick_study(storage, "zzz")


def test_absent_or_empty_results_folder_and_missing_storage_file_are_report_errors(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        storage_for_results(tmp_path / "absent")
    with pytest.raises(ReportError, match="nothing to report"):
        storage_for_results(tmp_path)
    with pytest.raises(ReportError, match="does not exist"):
        open_readonly(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.storages.RDBStorage(empty)
    with pytest.raises(ReportError, match="holds no study"):
        pick_study(open_readonly(empty), None)


def test_list_valued_params_are_decoded_and_named_in_brackets(tmp_path):
    url = f"sqlite:///{tmp_path / 'rnnppo.db'}"
    study = optuna.create_study(study_name="widths", storage=url, direction="maximize")
    study.set_user_attr("rnnppo_spec", {"version": 1, "env": "x", "swept": ["fcnet_hiddens"], "seeds": [0]})
    choices = CategoricalDistribution(["[64]", "[64,64]"])
    for number, widths in enumerate(["[64]", "[64,64]"]):
        run = {"final_return": float(number), "auc": 0.5, "run_dir": f"widths/{number}/0"}
        attrs = {"run_0": run, "curve_0": [[10, 0.1], [20, 0.2]], "seeds_done": 1}
        study.add_trial(
            create_trial(
                value=float(number),
                params={"fcnet_hiddens": widths},
                distributions={"fcnet_hiddens": choices},
                user_attrs=attrs,
            )
        )
    data = load_study(open_readonly(url), "widths")
    assert list(data.runs["config"]) == ["fcnet_hiddens=[64]", "fcnet_hiddens=[64,64]"]
    assert list(data.runs["fcnet_hiddens"]) == [(64,), (64, 64)]
    assert data.runs["steps_per_s"].isna().all()  # absent fields are NaN, not errors
    assert len(data.curves) == 4


def test_a_none_valued_param_stays_none_and_ints_stay_ints(tmp_path):
    url = f"sqlite:///{tmp_path / 'rnnppo.db'}"
    study = optuna.create_study(study_name="emb", storage=url, direction="maximize")
    study.set_user_attr("rnnppo_spec", {"version": 1, "env": "x", "swept": ["encoder_out_size"], "seeds": [0]})
    choices = CategoricalDistribution(["none", 32])
    for number, size in enumerate(["none", 32]):
        study.add_trial(
            create_trial(
                value=float(number),
                params={"encoder_out_size": size},
                distributions={"encoder_out_size": choices},
                user_attrs={"run_0": {"final_return": float(number)}},
            )
        )
    data = load_study(open_readonly(url), "emb")
    assert list(data.runs["config"]) == ["encoder_out_size=none", "encoder_out_size=32"]
    assert list(data.runs["encoder_out_size"]) == [None, 32]
