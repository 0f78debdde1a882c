"""Run files that are corrupt, truncated, the wrong thing, or hostile: `report` names the file in a
warning and goes on with the storage's copy; `eval` names the file and stops with exit 2; neither ever
shows a traceback. A crafted pickle in model.pt cannot run code (checkpoints load with weights_only)."""

from __future__ import annotations

import contextlib
import io
import pickle
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from rnnppo.cli.app import app
from rnnppo.core.config import build_config
from rnnppo.core.runs.trainer import train
from tests.faults.harness import runner
from tests.results.fixtures import build_study

STUDY = "files"


@pytest.fixture
def results(tmp_path) -> Path:
    """A finished sweep's storage and run files (written as a sweep writes them, without training)."""
    build_study(tmp_path / "results", STUDY, seeds=(0,), seq_lens=(4, 8), cells=(16,), rnn_types=("lstm",))
    return tmp_path / "results"


def run_dir(results: Path) -> Path:
    return results / STUDY / "0" / "0"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trained") / "run"
    config = build_config(
        {"env": "rnnppo/CueRecall-v0", "total_steps": 32, "num_envs": 2, "rollout_len": 16},
        fcnet_hiddens=(8,),
        lstm_cell_size=4,
        minibatch_size=16,
        num_epochs=1,
        eval_episodes=0,
    )
    train(config, out_dir=folder)
    return folder


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of a trained run folder to break."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def report(results: Path, *options: str):
    result = runner.invoke(app, ["report", str(results), "--study", STUDY, *options])
    assert "Traceback" not in result.output
    return result


def break_file(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "folder":
        path.unlink()
        path.mkdir()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif how == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    else:
        path.write_text(how)  # the text itself


CSV_BREAKS = ["missing", "folder", "empty", "truncated", "garbage", "a,b\n1,2\n", "env_steps,return_mean_100\n32,abc\n"]
JSON_BREAKS = ["missing", "folder", "empty", "truncated", "garbage", "[1, 2]", '{"lstm_saw": "x", "env_steps": "many"}']


@pytest.mark.parametrize("how", CSV_BREAKS)
def test_a_broken_metrics_csv_is_a_warning_naming_it_and_the_report_goes_on(results, how):
    path = run_dir(results) / "metrics.csv"
    break_file(path, how)
    result = report(results, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert str(path) in result.stderr and "warning" in result.stderr
    runs = pd.read_csv(io.StringIO(result.stdout))
    assert sorted(runs["max_seq_len"]) == [4, 8], "every run is still reported, from the storage"


@pytest.mark.parametrize("how", JSON_BREAKS)
def test_a_broken_summary_json_is_a_warning_naming_it_or_harmless(results, how):
    path = run_dir(results) / "summary.json"
    break_file(path, how)
    result = report(results, "--format", "json")
    assert result.exit_code == 0, result.output
    # The storage holds every field of a finished run: a summary.json with wrong values adds nothing.
    if not how.startswith("{"):
        assert str(path) in result.stderr and "warning" in result.stderr
    assert '"max_seq_len": 4' in result.stdout and '"max_seq_len": 8' in result.stdout


def test_infinite_and_garbage_curve_points_still_give_a_table_and_an_html_report(results, tmp_path):
    metrics = run_dir(results) / "metrics.csv"
    frame = pd.read_csv(metrics)
    frame.loc[0, "return_mean_100"] = float("inf")
    frame.loc[1, "return_mean_100"] = float("-inf")
    frame.to_csv(metrics, index=False)
    assert report(results).exit_code == 0
    html = report(results, "--format", "html", "--out", str(tmp_path / "r.html"))
    assert html.exit_code == 0, html.output
    assert "<table>" in (tmp_path / "r.html").read_text()


def test_a_broken_storage_file_is_one_line_exit_2(results):
    db = results / "rnnppo.db"
    db.write_bytes(db.read_bytes()[:1000])
    result = report(results)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "rnnppo.db" in result.output, result.output


def overwrite_middle(path: Path, size: int = 8192) -> None:
    """Overwrite `size` bytes (at most half the file) in the middle with garbage, as a bad disk sector or a
    half-finished copy would."""
    data = bytearray(path.read_bytes())
    size = min(size, len(data) // 2)
    start = len(data) // 2 - size // 2
    data[start : start + size] = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["report", "best"])
def test_a_storage_damaged_mid_file_is_one_line_exit_2(results, command):
    overwrite_middle(results / "rnnppo.db")
    result = runner.invoke(app, [command, str(results)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert "malformed" in result.output and "cannot be read" in result.output


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00"])
def test_report_never_writes_the_storage_it_reads(results, content):
    """An empty file (or a SQLite file without Optuna's tables) is reported as holding no study; the
    file is left byte for byte as it was (Optuna would create its tables in it)."""
    db = results / "rnnppo.db"
    if content:
        db.unlink()
        with contextlib.closing(sqlite3.connect(db)) as other:
            other.execute("CREATE TABLE notes (text)")
    else:
        db.write_bytes(content)
    before = db.read_bytes()
    result = report(results)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert ("holds no study" if not content else "holds no Optuna tables") in result.output
    assert db.read_bytes() == before and sorted(p.name for p in results.iterdir()) == ["files", "rnnppo.db"]


KILLED_MID_COMMIT = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size = 1")  # spill changed pages into the file before the commit
connection.execute("BEGIN")
connection.execute("UPDATE trial_user_attributes SET value_json = value_json || ' '")
os.kill(os.getpid(), 9)
"""


def test_a_storage_whose_writer_was_killed_mid_commit_is_read_as_last_committed(results, tmp_path):
    """A killed writer leaves a hot journal, which a read-only connection cannot roll back: SQLite's own
    recovery runs first, and the report reads the last committed state."""
    db = results / "rnnppo.db"
    expected = report(results, "--format", "csv")
    subprocess.run([sys.executable, "-c", KILLED_MID_COMMIT, str(db)], check=False)
    assert (results / "rnnppo.db-journal").stat().st_size > 0, "the writer left a hot journal"
    result = report(results, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == expected.stdout


def test_a_good_storage_is_read_without_a_byte_changing(results):
    db = results / "rnnppo.db"
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    assert report(results).exit_code == 0
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


MODEL_BREAKS = ["missing", "folder", "empty", "truncated", "garbage", "plain tensor", "other format"]


def test_eval_of_the_unbroken_run_works(run):
    result = runner.invoke(app, ["eval", str(run), "--episodes", "1"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("how", MODEL_BREAKS)
def test_eval_of_a_broken_model_pt_names_it_and_exits_2(run, how):
    path = run / "model.pt"
    if how == "plain tensor":
        torch.save(torch.zeros(3), path)
    elif how == "other format":
        payload = torch.load(path, weights_only=True)
        torch.save({**payload, "format": 99}, path)
    else:
        break_file(path, how)
    result = runner.invoke(app, ["eval", str(path.parent), "--episodes", "1"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert str(path) in result.output


@pytest.mark.parametrize("how", ["8 KB overwritten mid-file", "first bytes zeroed", "truncated", "empty"])
def test_a_corrupt_model_pt_says_corrupt_and_never_advises_weights_only_false(run, how):
    path = run / "model.pt"
    data = path.read_bytes()
    if how == "8 KB overwritten mid-file":
        overwrite_middle(path)
    elif how == "first bytes zeroed":
        path.write_bytes(bytes(100) + data[100:])
    else:
        break_file(path, how)
    result = runner.invoke(app, ["eval", str(path.parent), "--episodes", "1"])
    assert result.exit_code == 2, result.output
    assert "corrupt" in result.output and str(path) in result.output
    assert "weights_only" not in result.output, "torch's advice to load it unsafely"


class Exploit:
    """Unpickling this runs code: it writes `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
def test_a_crafted_pickle_in_model_pt_cannot_run_code(run, results, tmp_path, container):
    marker = tmp_path / "pwned"
    path = run / "model.pt"
    evil = {"format": 1, "state_dict": Exploit(marker), "config_json": "{}", "obs_dim": 2}
    if container == "torch.save":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    # The file is truly hostile: a plain torch.load runs its code (what fails after that does not matter).
    with contextlib.suppress(Exception):
        torch.load(path, weights_only=False)
    assert marker.exists(), "the exploit works when loaded without weights_only"
    marker.unlink()

    result = runner.invoke(app, ["eval", str(path.parent), "--episodes", "1"])
    assert result.exit_code == 2 and str(path) in result.output, result.output
    assert "Traceback" not in result.output
    shutil.copy(path, run_dir(results) / "model.pt")
    assert report(results).exit_code == 0, "the report never loads a checkpoint"
    assert not marker.exists(), "no code ran"
