"""`rnnppo report` and `rnnppo best` on a real tiny sweep: tables, every export format, plots, the
storage-only path, study comparison, and the robustness cases."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from rnnppo.cli.app import app

runner = CliRunner()
TINY = [
    "num_envs=2",
    "rollout_len=32",
    "fcnet_hiddens=[8]",
    "cell=4",
    "minibatch_size=16",
    "num_epochs=1",
    "eval_episodes=2",
]
ENV = ["--env", "rnnppo/CueRecall-v0", "env.cue_distance=3", "--steps", "256", "--seeds", "3"]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    from rnnppo.cli import common

    # rich wraps at 80 columns when not on a terminal, splitting the words we look for
    monkeypatch.setattr(common.console, "width", 250)


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    for study, words in (("night1", ["seq_len=2,4", "rnn_type=lstm,none"]), ("night2", ["seq_len=2,4"])):
        result = invoke("sweep", *words, *TINY, *ENV, "--out", out, "--study", study)
        assert result.exit_code == 0, result.output
    return out


def test_report_prints_the_study_list_comparison_marginals_controls_and_verdict(results):
    result = invoke("report", results, "--study", "night1")
    assert result.exit_code == 0, result.output
    text = result.output
    for expected in (
        "studies in this storage",
        "night2",
        "comparison",
        "IQM final return",
        "95% CI",
        "max_seq_len (averaged",
        "rnn_type (averaged",
        "what the LSTM saw",
        "gain over the memory-off control",
        "verdict:",
    ):
        assert expected in text, expected
    assert "4 trials complete" in text


def test_csv_and_json_carry_one_row_per_configuration_and_seed(results, tmp_path):
    assert invoke("report", results, "--study", "night1", "--format", "csv", "--out", tmp_path / "r.csv").exit_code == 0
    runs = pd.read_csv(tmp_path / "r.csv")
    assert len(runs) == 4 * 3 and set(runs["seed"]) == {0, 1, 2}
    assert {"config", "max_seq_len", "rnn_type", "final_return", "auc", "steps_per_s", "seq_len_mean"} <= set(runs)
    assert (
        invoke("report", results, "--study", "night1", "--format", "json", "--out", tmp_path / "r.json").exit_code == 0
    )
    payload = json.loads((tmp_path / "r.json").read_text())
    assert len(payload["runs"]) == 12 and len(payload["comparison"]) == 4 and payload["verdict"]
    assert pd.DataFrame(payload["runs"]).groupby("config")["seed"].nunique().eq(3).all()


def test_markdown_and_self_contained_html(results, tmp_path):
    assert (
        invoke("report", results, "--study", "night1", "--format", "markdown", "--out", tmp_path / "r.md").exit_code
        == 0
    )
    markdown = (tmp_path / "r.md").read_text()
    assert "| rank | configuration |" in markdown and "**verdict:**" in markdown
    result = invoke("report", results, "--study", "night1", "--format", "html", "--out", tmp_path / "r.html")
    assert result.exit_code == 0, result.output

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.sources = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self.sources += [v for k, v in attrs if k in ("src", "href")]

    parser = Collect()
    parser.feed((tmp_path / "r.html").read_text())
    assert "table" in parser.tags and "img" in parser.tags
    assert parser.sources and all(s.startswith("data:image/png;base64,") for s in parser.sources), "no network"


def test_plots_are_written_and_open(results, tmp_path):
    result = invoke("report", results, "--study", "night1", "--plots", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    names = {p.name for p in (tmp_path / "plots").glob("*.png")}
    assert {"learning_curves.png", "heatmap.png", "score_vs_cost.png"} <= names
    for path in (tmp_path / "plots").glob("*.png"):
        assert matplotlib.image.imread(path).ndim == 3


def test_the_report_from_the_storage_alone_matches_the_one_with_files(results, tmp_path):
    url = f"sqlite:///{results / 'rnnppo.db'}"
    with_files = invoke("report", results, "--study", "night1", "--format", "csv", "--out", tmp_path / "a.csv")
    alone = invoke("report", "--storage", url, "--study", "night1", "--format", "csv", "--out", tmp_path / "b.csv")
    assert with_files.exit_code == alone.exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_a_corrupt_run_file_is_named_in_a_warning_and_the_report_goes_on(results, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    victim = next((copy / "night2").rglob("summary.json"))
    victim.write_text("{not json")
    missing = sorted((copy / "night2").rglob("summary.json"))[-1]
    missing.unlink()
    result = invoke("report", copy, "--study", "night2")
    assert result.exit_code == 0, result.output
    assert str(victim) in result.output.replace("\n", "") or victim.name in result.output
    assert "unreadable" in result.output and "missing" in result.output
    assert "verdict:" in result.output


def test_compare_puts_the_shared_configurations_side_by_side(results):
    result = invoke("report", results, "--compare", "night1", "--compare", "night2")
    assert result.exit_code == 0, result.output
    # night2 swept only max_seq_len, so its configurations are named differently: none shared
    assert "night1" in result.output and "night2" in result.output


def test_best_exports_a_config_that_train_accepts_unchanged(results, tmp_path):
    result = invoke("best", results, "--study", "night2", "--export", tmp_path / "best.toml")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "best.toml").read_text()
    assert "max_seq_len" in text and "CueRecall" in text
    run = invoke("train", "--config", tmp_path / "best.toml", "--steps", "64", "--out", tmp_path / "run")
    assert run.exit_code == 0, run.output
    saved = json.loads(next((tmp_path / "run").rglob("config.json")).read_text())["config"]
    study = optuna.load_study(study_name="night2", storage=f"sqlite:///{results / 'rnnppo.db'}")
    assert saved["max_seq_len"] == study.best_trial.params["max_seq_len"] or saved["max_seq_len"] in (2, 4)
    assert saved["env_kwargs"] == {"cue_distance": 3}


def test_running_and_failed_trials_are_counted_not_reported(results, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    study = optuna.load_study(study_name="night2", storage=f"sqlite:///{copy / 'rnnppo.db'}")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    study.enqueue_trial({"max_seq_len": 2})
    study.ask()  # a RUNNING trial
    result = invoke("report", copy, "--study", "night2")
    assert result.exit_code == 0, result.output
    assert "1 failed" in result.output and "1 running" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "{missing}"], "does not exist"),
        (["report", "{empty}"], "nothing to report"),
        (["report", "{results}", "--study", "night3"], "did you mean 'night"),
        (["report", "{results}", "--format", "pdf"], "--format"),
        (["report", "{results}", "--compare", "night1"], "two or more"),
        (["best", "{results}", "--study", "nope"], "no study named"),
    ],
)
def test_bad_report_input_exits_2_with_one_line(results, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "results": results}
    result = invoke(*[a.format(**paths) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "missing").exists()
