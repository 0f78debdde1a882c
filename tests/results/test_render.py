"""Every output format parses (CSV with pandas, JSON with json, HTML with html.parser, PNG with
matplotlib) and carries what it promises: every run for CSV/JSON, embedded figures for HTML."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import optuna
import pandas as pd
import pytest

from rnnppo.results import plots
from rnnppo.results import verdict as claims
from rnnppo.results.render import FORMATS, NOT_MEANINGFUL, render, render_frame, sections
from rnnppo.results.report import build_report, compare_studies
from rnnppo.results.stats import bootstrap_ci, iqm
from rnnppo.results.studies import load_study, open_readonly
from rnnppo.storage.backend import default_storage_url
from tests.results.fixtures import SEEDS, build_study

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    build_study(folder)
    build_study(folder, "two-seeds", seeds=(0, 1), cells=(64,), rnn_types=("lstm",), extras=False)
    return folder


def report_of(results, name="cue-seqlen"):
    return build_report(load_study(open_readonly(default_storage_url(results)), name, results))


@pytest.fixture(scope="module")
def report(results):
    return report_of(results)


@pytest.fixture(scope="module")
def figures(report, tmp_path_factory):
    return plots.write_all(report, tmp_path_factory.mktemp("plots"))


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.sources += [value for name, value in attrs if name in ("src", "href")]

    def handle_data(self, data):
        self.text.append(data)


def test_csv_has_one_row_per_configuration_and_seed(report):
    runs = pd.read_csv(io.StringIO(render(report, "csv")))
    assert len(runs) == 12 * len(SEEDS)
    assert runs.groupby("config")["seed"].nunique().eq(len(SEEDS)).all()
    expected = {
        "study",
        "trial",
        "config",
        "max_seq_len",
        "lstm_cell_size",
        "rnn_type",
        "seed",
        "final_return",
    }
    expected |= {"auc", "steps_per_s", "train_time_s", "seq_len_mean", "pad_frac", "run_dir"}
    assert expected <= set(runs.columns)
    assert (runs["study"] == "cue-seqlen").all()


def test_json_carries_runs_tables_and_verdict_without_nan(report):
    text = render(report, "json")

    def no_constants(name):
        raise AssertionError(f"JSON must not contain {name}")

    payload = json.loads(text, parse_constant=no_constants)
    assert len(payload["runs"]) == 12 * len(SEEDS) and len(payload["comparison"]) == 12
    assert payload["verdict"] == report.verdict
    assert payload["counts"]["failed"] == 1 and payload["counts"]["running"] == 1
    assert set(payload["marginals"]) == {"max_seq_len", "lstm_cell_size", "rnn_type"}
    assert payload["cheapest_not_worse"] == report.cheapest
    assert len(payload["controls"]) == 6 and payload["importance"]
    frame = pd.DataFrame(payload["runs"])
    assert frame.groupby("config")["seed"].nunique().eq(len(SEEDS)).all()


def test_markdown_has_every_table_and_the_verdict(report):
    text = render(report, "markdown")
    for section in sections(report):
        assert f"## {section.title}" in text
    assert "| rank | configuration | seeds | IQM final return | 95% CI |" in text
    assert text.rstrip().endswith(f"**verdict:** {report.verdict}")


def test_plain_table_text_has_the_sections_and_the_verdict(report):
    text = render(report, "table")
    for title in (
        "comparison (highest IQM first)",
        "max_seq_len (averaged",
        "parameter importance",
        "what the LSTM saw",
    ):
        assert title in text
    flat = " ".join(text.split())  # the notes wrap at the terminal's width
    assert "gain over the memory-off control" in flat and "'not shown worse'" in flat
    assert "a seed's score: the success share of 2 greedy evaluation episodes after training" in flat
    assert "verdict:" in text and "\x1b[" not in text  # no terminal colour codes in a file


def test_html_is_self_contained_with_tables_and_embedded_figures(report, figures):
    parser = Collect()
    parser.feed(render(report, "html", figures))
    assert parser.tags.count("table") == len([section for section in sections(report) if section.rows])
    assert parser.tags.count("img") == len(figures) == 5
    assert parser.sources and all(src.startswith("data:image/png;base64,") for src in parser.sources)
    assert "link" not in parser.tags and "script" not in parser.tags  # nothing fetched when opened
    assert report.verdict in "".join(parser.text)


def test_every_figure_is_a_readable_png(figures):
    assert sorted(p.name for p in figures) == sorted(plots.FILES)
    for path in figures:
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300


def test_a_single_swept_parameter_gives_no_heatmap_and_small_studies_no_importance(results, tmp_path):
    made = {p.name for p in plots.write_all(report_of(results, "two-seeds"), tmp_path)}
    assert made == {"learning_curves.png", "score_vs_cost.png", "memory.png"}


def test_tables_say_an_interval_is_not_meaningful_below_three_seeds(results):
    report = report_of(results, "two-seeds")
    by_title = {section.title: section for section in sections(report)}
    comparison = by_title["comparison (highest IQM first)"]
    assert all(row[4] == NOT_MEANINGFUL for row in comparison.rows)
    assert all(row[5] == "not compared" for row in comparison.rows[1:])
    assert all(row[3] == NOT_MEANINGFUL for row in by_title["max_seq_len (averaged over everything else)"].rows)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_study_comparison_renders_in_every_format(results, fmt):
    storage = open_readonly(default_storage_url(results))
    frame = compare_studies([load_study(storage, "cue-seqlen"), load_study(storage, "two-seeds")])
    text = render_frame(frame, "cue-seqlen against two-seeds", fmt)
    if fmt == "csv":
        assert len(pd.read_csv(io.StringIO(text))) == len(frame) == 3
    elif fmt == "json":
        assert len(json.loads(text)) == 3
    elif fmt == "html":
        parser = Collect()
        parser.feed(text)
        assert parser.tags.count("tr") == 1 + 3
    else:
        assert "cue-seqlen against two-seeds" in text and "significant (two-seeds)" in text


def test_the_end_of_sweep_summary_prints_the_comparison_and_verdict(results):
    from rich.console import Console

    from rnnppo.cli.study_report import print_study_report

    buffer = io.StringIO()
    print_study_report(default_storage_url(results), "cue-seqlen", results, Console(file=buffer, width=250))
    text = buffer.getvalue()
    assert (
        "comparison (highest IQM first)" in text and "verdict: highest IQM: (max_seq_len=20, lstm_cell_size=64" in text
    )
    assert "what the LSTM saw" not in text
    assert f"full report (marginals, importance, plots): rnnppo report {results} --study cue-seqlen" in text


def test_the_end_of_sweep_summary_never_fails_the_sweep(results):
    from rich.console import Console

    from rnnppo.cli.study_report import print_study_report

    buffer = io.StringIO()
    print_study_report(default_storage_url(results), "no-such-study", results, Console(file=buffer, width=250))
    assert "warning: no report for study no-such-study" in buffer.getvalue()


def test_the_report_command_prints_no_optuna_log_lines(results):
    """The importance study made in memory must not announce itself on stderr (a fresh process: this
    module quiets optuna for itself)."""
    command = [sys.executable, "-c", "from rnnppo.cli.app import main; main()", "report", str(results)]
    done = subprocess.run([*command, "--study", "cue-seqlen", "--format", "csv"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "A new study created" not in done.stderr and "[I " not in done.stderr, done.stderr


def test_curve_bands_are_the_tables_bootstrap_intervals():
    rng = np.random.default_rng(3)
    values = np.clip(rng.normal(0.6, 0.3, size=(5, 40)), 0.0, 1.0)  # [seeds, points] of a 0-1 score
    centre, low, high = plots.curve_band(values)
    for point in (0, 17, 39):
        table = bootstrap_ci(values[:, point])  # what the comparison table reports for these seeds
        assert centre[point] == pytest.approx(iqm(values[:, point]))
        assert (low[point], high[point]) == pytest.approx((table.low, table.high), abs=0.04)
    assert plots.curve_band(values[:2]) is None  # below 3 seeds the tables show no interval either


def test_memory_png_draws_each_configurations_iqm_over_seeds_and_the_tables_interval_per_lag(report, tmp_path):
    drawn = {}

    def keep_axes(fig, ax, path, *labels):
        drawn["ax"] = ax
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots, "_finish_curves", keep_axes)
        plots.memory_by_lag(report, tmp_path / "memory.png")
    ax = drawn["ax"]
    memory = report.data.memory.dropna(subset=["influence"])
    lines = [line for line in ax.get_lines() if line.get_label().endswith("seeds)")]
    assert len(lines) == len(ax.collections) >= 2
    for line, band in zip(lines, ax.collections, strict=True):
        key = line.get_label().rsplit(" (", 1)[0]
        by_lag = memory[memory["config"] == key].groupby("lag")["influence"]
        vertices = band.get_paths()[0].vertices
        for lag, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
            seeds = by_lag.get_group(lag).to_numpy()
            assert len(seeds) == len(SEEDS) and y == pytest.approx(iqm(seeds))
            table = bootstrap_ci(seeds)  # the interval the memory table reports for these seeds
            at = vertices[np.isclose(vertices[:, 0], lag), 1]
            if np.ptp(seeds) == 0:  # no spread: no interval in the table, a band of no width
                assert at.min() == at.max() == y
            else:
                assert (at.min(), at.max()) == pytest.approx((table.low, table.high), abs=0.04 * np.ptp(seeds))


def test_the_pareto_front_keeps_what_nothing_beats_on_both_score_and_cost():
    table = pd.DataFrame(
        {"config": list("abcd"), "iqm": [0.9, 0.8, 0.85, 0.5], "cpu_s_per_step": [3e-4, 1e-4, 4e-4, 0.5e-4]}
    )
    front = plots.pareto_front(table, "cpu_s_per_step")
    assert list(front["config"]) == ["d", "b", "a"]  # c costs more than a and scores less


def test_the_heatmap_writes_n_in_every_cell(report, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    texts = []
    original = plt.Axes.text

    def record(self, x, y, s, *args, **kwargs):
        texts.append(s)
        return original(self, x, y, s, *args, **kwargs)

    monkeypatch.setattr(plt.Axes, "text", record)
    assert plots.heatmap(report, tmp_path / "heatmap.png") is not None
    cells = [text for text in texts if "\nn=" in text]
    assert len(cells) >= 4 and all(text.endswith(f"n={len(SEEDS)}") for text in cells)


def test_the_json_uses_the_verdicts_words_best_set_min_effect_and_what_the_score_is(report):
    payload = json.loads(render(report, "json"))
    assert payload["best"] is None  # 8/64 is not separable from the highest
    assert payload["best_set"] == [
        "max_seq_len=20, lstm_cell_size=64, rnn_type=lstm",
        "max_seq_len=8, lstm_cell_size=64, rnn_type=lstm",
    ]
    assert payload["min_effect"] == 0.1 and payload["min_effect_source"] == "default for a success rate"
    assert payload["score_text"] == "a seed's score: the success share of 2 greedy evaluation episodes after training"
    statuses = {row["vs_best"] for row in payload["comparison"]}
    assert statuses == {claims.TOP, claims.EQUIVALENT, claims.WORSE}
    assert all("prob_improvement" in row for row in payload["comparison"])
