"""`rnnppo report` and `rnnppo best` through the command line, on the fixture study: the study list and
every section, every format to a file and to stdout, plots, storage-only reports, comparison, the
best-config round trip through `rnnppo train`, and the robustness cases (one line, exit 2, nothing
written)."""

from __future__ import annotations

import io
import json
import shutil
import stat
import subprocess
import sys
from html.parser import HTMLParser

import matplotlib.image
import optuna
import pandas as pd
import pytest
import typer

from rnnppo.cli import report_cmd, train_cmd
from rnnppo.core.config import TrainConfig, load_toml
from tests.results.fixtures import SEEDS, build_two_studies
from tests.shared import runner

optuna.logging.set_verbosity(optuna.logging.ERROR)
app = typer.Typer()
app.command("report")(report_cmd.report)
app.command("best")(report_cmd.best)
app.command("train")(train_cmd.train)
BEST = "max_seq_len=20, lstm_cell_size=64, rnn_type=lstm"


pytestmark = pytest.mark.usefixtures("wide_terminal")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return build_two_studies(tmp_path_factory.mktemp("results"))


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_report_lists_the_studies_and_prints_every_section(results):
    result = invoke("report", results, "--study", "cue-seqlen")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in (
        "studies in this storage",
        "night2",
        "comparison (highest IQM first)",
        "IQM final return",
        "exact sign-flip test",
        "max_seq_len (averaged over everything else)",
        "lstm_cell_size (averaged",
        "parameter importance",
        "what the LSTM saw",
        "gain over the memory-off control",
        f"verdict: highest IQM: ({BEST})",
    ):
        assert expected in text, expected
    assert "12 trials complete (1 failed, 1 running, 1 pruned" in text


def test_without_a_study_name_the_latest_study_is_reported(results):
    result = invoke("report", results)
    assert result.exit_code == 0, result.output
    assert "study night2:" in result.stdout


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "html"])
def test_every_format_written_with_out_parses(results, tmp_path, fmt):
    out = tmp_path / "deep" / f"report.{fmt}"
    result = invoke("report", results, "--study", "cue-seqlen", "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if fmt == "csv":
        runs = pd.read_csv(out)
        assert len(runs) == 12 * len(SEEDS) and runs.groupby("config")["seed"].nunique().eq(len(SEEDS)).all()
    elif fmt == "json":
        assert len(pd.DataFrame(json.loads(text)["runs"])) == 12 * len(SEEDS)
    elif fmt == "html":
        images = []

        class Images(HTMLParser):
            def handle_starttag(self, tag, attrs):
                images.extend(value for name, value in attrs if tag == "img" and name == "src")

        Images().feed(text)
        assert len(images) == 5 and all(src.startswith("data:image/png;base64,") for src in images)
    else:
        assert "comparison (highest IQM first)" in text and "verdict" in text
    assert f"wrote {out}" in result.stderr


def test_csv_to_stdout_is_clean_for_pandas(results):
    result = invoke("report", results, "--study", "cue-seqlen", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 12 * len(SEEDS)


def test_plots_are_written_and_open(results, tmp_path):
    result = invoke("report", results, "--study", "cue-seqlen", "--plots", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert names == ["heatmap.png", "importance.png", "learning_curves.png", "memory.png", "score_vs_cost.png"]
    for path in (tmp_path / "plots").glob("*.png"):
        assert matplotlib.image.imread(path).ndim == 3


def test_storage_alone_gives_the_same_runs_as_the_results_folder(results, tmp_path):
    url = f"sqlite:///{results / 'rnnppo.db'}"
    with_files = invoke("report", results, "--study", "cue-seqlen", "--format", "csv")
    alone = invoke("report", "--storage", url, "--study", "cue-seqlen", "--format", "csv")
    assert with_files.exit_code == alone.exit_code == 0, alone.output
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(with_files.stdout)), pd.read_csv(io.StringIO(alone.stdout)))


def test_a_corrupt_run_file_is_a_warning_naming_it_and_the_report_goes_on(results, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    victim = copy / "cue-seqlen" / "0" / "1" / "summary.json"
    victim.write_text('{"final_return": ')
    result = invoke("report", copy, "--study", "cue-seqlen")
    assert result.exit_code == 0, result.output
    assert f"warning: run file {victim} is unreadable" in result.stderr
    assert f"verdict: highest IQM: ({BEST})" in result.stdout


def test_compare_shows_the_change_and_its_significance(results):
    result = invoke("report", results, "--compare", "cue-seqlen", "--compare", "night2")
    assert result.exit_code == 0, result.output
    # the table stacks a configuration one setting per line: its first line holds the verdict
    lines = result.stdout.splitlines()
    rows = [i for i, line in enumerate(lines) if "max_seq_len=4" in line and "lstm_cell_size=16" in lines[i + 1]]
    assert len(rows) == 1 and "yes: worse" in lines[rows[0]]
    comma = invoke("report", results, "--compare", "cue-seqlen,night2", "--format", "csv")
    frame = pd.read_csv(io.StringIO(comma.stdout))
    assert len(frame) == 6 and (frame["night2 seeds"] == len(SEEDS)).all()


def test_best_exports_a_config_that_train_accepts_unchanged(results, tmp_path):
    exported = tmp_path / "best.toml"
    result = invoke("best", results, "--study", "cue-seqlen", "--export", exported)
    assert result.exit_code == 0, result.output
    assert f"highest IQM of cue-seqlen: {BEST}" in result.stderr  # not separable from 8/64: no "best"
    config = TrainConfig.from_dict(load_toml(exported))
    stored = optuna.load_study(study_name="cue-seqlen", storage=f"sqlite:///{results / 'rnnppo.db'}")
    trial = next(t for t in stored.trials if t.params == {"max_seq_len": 20, "lstm_cell_size": 64, "rnn_type": "lstm"})
    assert config.to_dict() == trial.user_attrs["config"]

    run = invoke("train", "--config", exported, "--out", tmp_path / "out", "--name", "best")
    assert run.exit_code == 0, run.output
    saved = json.loads((tmp_path / "out" / "runs" / "best" / "config.json").read_text())["config"]
    assert saved == config.to_dict()


def test_best_without_export_prints_the_toml(results):
    result = invoke("best", "--storage", f"sqlite:///{results / 'rnnppo.db'}", "--study", "night2")
    assert result.exit_code == 0, result.output
    assert 'env = "rnnppo/CueRecall-v0"' in result.stdout and "max_seq_len = 20" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "{missing}"], "does not exist"),
        (["report", "{empty}"], "nothing to report"),
        (["report", "--storage", "sqlite:///{empty}/none.db"], "does not exist"),
        (["report", "{results}", "--study", "cue-seqlne"], "did you mean 'cue-seqlen'?"),
        (["report", "{results}", "--format", "pdf"], "--format 'pdf' is unknown"),
        (["report", "{results}", "--compare", "night2"], "two or more studies"),
        (["report", "{results}", "--compare", "night2", "--compare", "nope"], "no study named 'nope'"),
        (["best", "{results}", "--study", "nope"], "no study named 'nope'"),
        (["best", "{missing}"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(results, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "results": results}
    out, figures = tmp_path / "report.md", tmp_path / "plots"
    extra = ["--out", out, "--plots", figures] if args[0] == "report" else ["--export", tmp_path / "b.toml"]
    result = invoke(*[a.format(**paths) for a in args], *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert list((tmp_path / "empty").iterdir()) == []


BOTH_COMMANDS = """
import json, sys
from rnnppo.cli.app import main
for words in json.loads(sys.argv[1]):
    sys.argv = ["rnnppo", *words]
    try:
        main()
    except SystemExit as end:
        if end.code:
            raise
"""
"""The console script's main() for each command in turn, in one process (its start costs more than both)."""


@pytest.mark.slow  # a fresh process per umask (the umask is read once per process)
@pytest.mark.parametrize("umask", [0o027, 0o002])
def test_reports_and_exports_get_the_mode_the_umask_allows_like_any_new_file(results, tmp_path, umask):
    report, export = tmp_path / "report.csv", tmp_path / "best.toml"
    commands = [["report", results, "--format", "csv", "--out", report], ["best", results, "--export", export]]
    words = json.dumps([[str(word) for word in command] for command in commands])
    done = subprocess.run([sys.executable, "-c", BOTH_COMMANDS, words], capture_output=True, text=True, umask=umask)
    assert done.returncode == 0, done.stderr
    for path in (report, export):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_a_file_given_as_the_results_folder_is_named_as_a_file(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# notes")
    result = invoke("report", readme)
    assert result.exit_code == 2, result.output
    assert f"{readme} is a file, not a results folder" in result.output and "does not exist" not in result.output


def test_an_unwritable_export_or_out_names_its_own_option_and_the_file_in_the_way(results, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    export = invoke("best", results, "--study", "cue-seqlen", "--export", blocker / "x.toml")
    assert export.exit_code == 2 and "cannot write --export" in export.stderr, export.output
    train = invoke("train", "--env", "rnnppo/CueRecall-v0", "--out", blocker / "sub")
    assert train.exit_code == 2 and f"cannot be made: {blocker} is a file" in train.stderr, train.output


def _with_budget(results, tmp_path, total_steps: int):
    """A copy of the results whose study night2 claims another budget (as a 60k- vs a 20k-step study)."""
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    study = optuna.load_study(study_name="night2", storage=f"sqlite:///{copy / 'rnnppo.db'}")
    study.set_user_attr("rnnppo_spec", {**study.user_attrs["rnnppo_spec"], "total_steps": total_steps})
    return copy


def test_compare_refuses_studies_of_different_budgets_with_one_line(results, tmp_path):
    copy = _with_budget(results, tmp_path, 60_000)
    result = invoke("report", copy, "--compare", "cue-seqlen", "--compare", "night2")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "total_steps: 256 in cue-seqlen, 60,000 in night2" in result.output and "--allow-mismatch" in result.output


def test_compare_with_allow_mismatch_labels_the_mismatch(results, tmp_path):
    copy = _with_budget(results, tmp_path, 60_000)
    result = invoke("report", copy, "--compare", "cue-seqlen,night2", "--allow-mismatch")
    assert result.exit_code == 0, result.output
    assert "MISMATCHED" in result.stdout and "total_steps" in result.stdout
    csv = invoke("report", copy, "--compare", "cue-seqlen,night2", "--allow-mismatch", "--format", "csv")
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert frame["mismatch"].str.contains("total_steps: 256 in cue-seqlen, 60,000 in night2").all()
