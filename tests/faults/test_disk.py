"""A disk that fills up, or a results folder that turns read-only, during a sweep: the sweep stops with a
clear error (exit 1) instead of failing every remaining trial, the storage stays consistent (the trial
that could not be written is failed and queued again), earlier results stay readable, and the same
command finishes the study once the disk is fixed.

Workers are separate processes, so faults in the run files are injected there (tests/faults/inject.py:
the n-th write of a file fails with ENOSPC or EROFS, as the OS would report them; chmod cannot make a
folder read-only for root, which CI is). The storage's own disk filling up is real: RLIMIT_FSIZE stops
the SQLite file from growing, for root as for anyone."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from tests.faults.harness import (
    check_resumed,
    resume,
    runner,
    snapshot,
    start,
    sweep_words,
    trials,
)
from tests.results.fixtures import build_study

PIPES = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=120)
    return output


def report_csv(out: Path, study: str) -> pd.DataFrame:
    result = runner.invoke(app, ["report", str(out), "--study", study, "--format", "csv"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout))


@pytest.mark.parametrize(
    ("errno_name", "file_name", "words"),
    [
        ("ENOSPC", "summary.json", "No space left on device"),
        ("EROFS", "config.json", "Read-only file system"),
    ],
)
def test_a_results_folder_that_cannot_be_written_stops_the_sweep_with_a_clear_error(
    tmp_path, capfd, errno_name, file_name, words
):
    study = errno_name.lower()
    # The third write of the file is trial 1's first seed (trial 0 wrote seeds 0 and 1).
    fault = f"oserror:{errno_name}:{file_name}:3"
    result = runner.invoke(app, sweep_words(tmp_path, study), env={"RNNPPO_TEST_FAULT": fault})
    worker_said = capfd.readouterr().err  # the worker process writes to the inherited stderr
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output + worker_said
    stopped = [line for line in worker_said.splitlines() if "stopped:" in line]
    assert len(stopped) == 1 and file_name in stopped[0] and words in stopped[0], worker_said
    assert f"{file_name}: {words}" in " ".join(result.output.split()), "the summary names the file and the reason"

    everything = trials(tmp_path, study)
    assert [t.state for t in everything].count(TrialState.COMPLETE) == 1, "the worker stopped, not every trial failed"
    (failed,) = [t for t in everything if t.state == TrialState.FAIL]
    assert words in failed.user_attrs["error"]
    retry = [t for t in everything if t.user_attrs.get("retry_of") == failed.number]
    assert [t.state for t in retry] == [TrialState.WAITING], "the trial that could not be written runs again"
    assert not [t for t in everything if t.state == TrialState.RUNNING]
    assert not list(tmp_path.rglob("*.tmp")), "no half-written file is left"
    assert len(report_csv(tmp_path, study)) == 2, "the finished trial stays readable"


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_storage_that_cannot_grow_stops_the_sweep_and_keeps_earlier_results(tmp_path):
    import resource

    build_study(tmp_path, "before", seeds=(0,), seq_lens=(4, 8), cells=(16,), rnn_types=("lstm",))
    before = report_csv(tmp_path, "before")
    limit = (tmp_path / "rnnppo.db").stat().st_size + 8192  # two more SQLite pages, then the disk is "full"

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = start(sweep_words(tmp_path, "after"), preexec_fn=full_disk, **PIPES)
    output = finish(process)
    # Where the storage fills up decides the code: creating the study (2, nothing ran) or mid-sweep (1).
    assert process.returncode in (1, 2), output
    assert "Traceback" not in output
    assert "cannot write to storage" in output or "cannot be written" in output, output
    assert sqlite3.connect(tmp_path / "rnnppo.db").execute("pragma integrity_check").fetchall() == [("ok",)]
    pd.testing.assert_frame_equal(report_csv(tmp_path, "before"), before)

    # Space freed: the same command finishes the study, the trial the full storage interrupted included.
    kept = snapshot(tmp_path, "after")
    resume(tmp_path, "after")
    check_resumed(tmp_path, "after", kept)


def test_a_results_folder_that_is_not_a_folder_or_read_only_for_root_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the results folder's parent should be")
    places = [blocker / "results"]
    if Path("/proc/self").is_dir():
        places.append(Path("/proc/rnnppo-faults/results"))  # nobody, root included, can make a folder there
    for out in places:
        words = sweep_words(out, "ro")
        result = runner.invoke(app, words)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output, result.output
        assert str(out.parent) in result.output


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through chmod")
def test_a_read_only_results_folder_exits_2_for_a_normal_user(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = runner.invoke(app, sweep_words(out, "ro"))
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2 and "not writable" in result.output, result.output
    assert not (out / "rnnppo.db").exists()
