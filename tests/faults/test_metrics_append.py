"""metrics.csv is appended one whole row per iteration: a run never rewrites it, a kill -9 leaves only
whole rows, a row torn by a crash (or a write cut short by a full disk) is dropped, and the file opens
again for appending where it left off."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rnnppo.core.config import TrainConfig
from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.trainer import train

ROW = {"iteration": 1, "env_steps": 32, "return_mean_100": 0.5, "note": None}


def rows(n: int) -> list[dict]:
    return [{**ROW, "iteration": i, "env_steps": 32 * i} for i in range(1, n + 1)]


def append_all(path: Path, items: list[dict]) -> None:
    metrics = run_files.MetricsFile(path)
    try:
        for row in items:
            metrics.append(row)
    finally:
        metrics.close()


def test_rows_read_back_as_written_and_a_reopened_file_continues(tmp_path):
    path = tmp_path / "metrics.csv"
    append_all(path, rows(3))
    append_all(path, rows(5)[3:])
    frame = pd.read_csv(path)
    assert frame["iteration"].tolist() == [1, 2, 3, 4, 5]
    assert frame.columns.tolist() == list(ROW)
    assert frame["note"].isna().all()


@pytest.mark.parametrize("torn", [b"4,128,0.", b"4", b"\r"])
def test_a_torn_last_row_from_a_crash_is_dropped_when_the_file_is_opened_again(tmp_path, torn):
    path = tmp_path / "metrics.csv"
    append_all(path, rows(3))
    with open(path, "ab") as handle:
        handle.write(torn)
    append_all(path, rows(4)[3:])
    text = path.read_text()
    assert text.endswith("\n") and "0.\n" not in text
    assert pd.read_csv(path)["iteration"].tolist() == [1, 2, 3, 4]


def test_a_torn_header_starts_the_file_afresh(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"iteration,env_st")
    append_all(path, rows(1))
    assert pd.read_csv(path).columns.tolist() == list(ROW)


def test_a_row_with_new_columns_widens_the_header_once(tmp_path):
    path = tmp_path / "metrics.csv"
    append_all(path, [*rows(2), {**ROW, "iteration": 3, "icm_loss": 1.5}])
    frame = pd.read_csv(path)
    assert frame["icm_loss"].isna().tolist() == [True, True, False]


def test_a_write_the_disk_cuts_short_leaves_no_part_of_the_row(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse (or cut short) a write past the limit, as a full disk would."""
    path = tmp_path / "metrics.csv"
    append_all(path, rows(2))
    metrics = run_files.MetricsFile(path)
    metrics.append(rows(3)[2])
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 10, limits[1]))
    try:
        with pytest.raises(OSError) as caught:
            metrics.append({**ROW, "iteration": 4, "note": "x" * 50})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
        metrics.close()
    assert caught.value.filename == str(path)
    assert path.read_text().endswith("\n") and pd.read_csv(path)["iteration"].tolist() == [1, 2, 3]


def test_a_run_appends_to_one_file_instead_of_rewriting_it(tmp_path):
    """The file's inode stays the same over the run (the old writer renamed a new copy over it each
    iteration, a cost that grew with the run's length)."""
    inodes = []
    config = TrainConfig(
        num_envs=2, rollout_len=8, total_steps=64, fcnet_hiddens=(4,), lstm_cell_size=4, max_seq_len=4,
        minibatch_size=8, num_epochs=1, eval_episodes=0,
    )  # fmt: skip
    result = train(config, out_dir=tmp_path, on_iteration=lambda row: inodes.append(os.stat(tmp_path / "metrics.csv")))
    assert len(inodes) == 4 and len({stat.st_ino for stat in inodes}) == 1
    assert [stat.st_size for stat in inodes] == sorted({stat.st_size for stat in inodes})  # grows every iteration
    assert result.metrics == []  # with a run folder the rows live in metrics.csv, not in memory
    assert pd.read_csv(tmp_path / "metrics.csv")["iteration"].tolist() == [1, 2, 3, 4]


def test_a_run_killed_at_any_moment_leaves_whole_rows_only(tmp_path):
    out = tmp_path / "r"
    words = ["num_envs=1", "rollout_len=4", "fcnet_hiddens=[4]", "cell=4", "seq_len=4", "minibatch_size=4"]
    words += ["num_epochs=1", "eval_episodes=0", "observation_filter=none"]
    command = [sys.executable, "-c", "from rnnppo.cli.app import main; main()", "train", *words]
    command += ["--env", "CartPole-v1", "--steps", "10000000", "--out", str(out), "--name", "k"]
    metrics = out / "runs" / "k" / "metrics.csv"
    for delay in (0.013,):  # one kill: a process start costs seconds on a loaded machine
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not (metrics.exists() and metrics.stat().st_size > 2000) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(delay)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        data = metrics.read_bytes()
        assert data.endswith(b"\n")
        frame = pd.read_csv(metrics)
        assert frame["iteration"].tolist() == list(range(1, len(frame) + 1))
        assert not frame["env_steps"].isna().any()
        metrics.unlink()
        (out / "runs" / "k" / "config.json").unlink()
        os.rmdir(out / "runs" / "k")
