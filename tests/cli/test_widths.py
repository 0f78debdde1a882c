"""At 80 columns the report, the study comparison and the live sweep table fit without splitting a number
or a word, and the verdict names configurations in full."""

from __future__ import annotations

import io

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from rnnppo.cli.sweep_cmd import _progress_table
from rnnppo.results.render import Section, compare_sections, fit, print_report, print_sections, sections
from rnnppo.results.report import build_report, compare_studies
from rnnppo.results.studies import load_study, open_readonly
from rnnppo.storage.backend import default_storage_url
from rnnppo.sweeps.spec import SweepRequest, build_spec
from tests.results.fixtures import build_two_studies

optuna.logging.set_verbosity(optuna.logging.ERROR)
WIDTH = 80


def printed(render) -> str:
    buffer = io.StringIO()
    render(Console(file=buffer, width=WIDTH, color_system=None, highlight=False))
    return buffer.getvalue()


def assert_fits_whole(text: str, parts: list[Section]) -> None:
    """No line is wider than the terminal, and every word of every cell and header is printed whole."""
    assert max(len(line) for line in text.splitlines()) <= WIDTH, text
    words = {word for part in parts for row in [part.header, *part.rows] for cell in row for word in cell.split()}
    missing = sorted(word for word in words if word not in text)
    assert not missing, f"split or lost: {missing}\n{text}"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return build_two_studies(tmp_path_factory.mktemp("results"))


def test_the_report_fits_80_columns_and_names_configurations_in_full(results):
    report = build_report(load_study(open_readonly(default_storage_url(results)), "cue-seqlen", results))
    text = printed(lambda console: print_report(report, console))
    assert_fits_whole(text, sections(report))
    verdict = " ".join(text[text.index("verdict:") :].split())
    assert "highest IQM: (max_seq_len=20, lstm_cell_size=64, rnn_type=lstm)" in verdict
    assert "not separable from: (max_seq_len=8, lstm_cell_size=64, rnn_type=lstm)" in verdict


def test_the_study_comparison_fits_80_columns(results):
    storage = open_readonly(default_storage_url(results))
    frame = compare_studies([load_study(storage, "cue-seqlen"), load_study(storage, "night2")])
    parts = compare_sections(frame, ["cue-seqlen", "night2"], "title")
    assert_fits_whole(printed(lambda console: print_sections(console, parts)), parts)


def test_a_table_with_more_columns_than_today_still_fits_between_words():
    header = ["configuration", *(f"statistic number {i} of the report" for i in range(7))]
    rows = [["max_seq_len=20\nlstm_cell_size=64", *(f"[{i}.123, {i}.456]" for i in range(7))]]
    part = Section("wide", header, rows)
    assert_fits_whole(printed(lambda console: print_sections(console, [part])), [part])
    assert fit(part, WIDTH).rows[0][0] == "max_seq_len=20\nlstm_cell_size=64"  # already one word per line


def test_the_live_sweep_table_stacks_the_configuration_and_fits_80_columns():
    words = ["seq_len=2,4", "cell=16,64", "encoder_out_size=32,128", "lstm_use_prev_reward=true,false"]
    spec = build_spec(words, SweepRequest(env="rnnppo/CueRecall-v0", steps=1024, seeds=3))
    names = list(spec.space.swept_names)
    distributions = {name: CategoricalDistribution([2, 4, 16, 64, 32, 128, True, False]) for name in names}
    values = {"max_seq_len": 4, "lstm_cell_size": 64, "encoder_out_size": 128, "lstm_use_prev_reward": False}
    trials = [
        create_trial(
            state=TrialState.COMPLETE,
            value=0.875,
            params={name: values[name] for name in names},
            distributions=distributions,
            user_attrs={"seeds_done": 3},
        )
    ]
    table = _progress_table(spec, trials)
    text = printed(lambda console: console.print(table))
    assert max(len(line) for line in text.splitlines()) <= WIDTH, text
    for word in ("max_seq_len=4", "lstm_cell_size=64", "encoder_out_size=128", "lstm_use_prev_reward=False"):
        assert word in text, text
