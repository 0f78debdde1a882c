"""No secret on disk: a password in a URL on the command line (--mlflow-uri here; --storage goes the same way)
is masked in every file rnnppo writes, and the files that record such a URL are readable by their owner
only. Run as real processes: config.json records the process's own command line."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from rnnppo.cli.app import app
from rnnppo.core.runs import files as run_files
from tests.faults.harness import CLI, TINY, runner

SECRET = "Pa55w0rdXyz"
URI = f"http://alice:{SECRET}@127.0.0.1:9/"


def files_holding(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def check_private(config_json: Path) -> None:
    mode = stat.S_IMODE(config_json.stat().st_mode)
    assert mode & 0o077 == 0, f"{config_json} is mode {oct(mode)}: others can read the server it names"
    command = run_files.read_json(config_json)["command"]
    assert "http://alice:***@127.0.0.1:9/" in command


def test_train_masks_a_url_password_in_every_file_and_keeps_config_json_private(tmp_path):
    words = ["train", *TINY, "--env", "rnnppo/CueRecall-v0", "--steps", "64", "--out", str(tmp_path)]
    done = subprocess.run(
        [*CLI, *words, "--name", "run", "--mlflow-uri", URI], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert files_holding(tmp_path, SECRET) == []
    check_private(tmp_path / "runs" / "run" / "config.json")
    plain = tmp_path / "plain"  # in this process: the mode, not the recorded command line, is checked here
    made = runner.invoke(app, [*words[:-1], str(plain), "--name", "run"])
    assert made.exit_code == 0, made.output
    mode = stat.S_IMODE((plain / "runs" / "run" / "config.json").stat().st_mode)
    assert mode & 0o044, "without a connection string config.json keeps the umask's mode"


@pytest.mark.slow
def test_a_sweep_masks_a_url_password_in_its_results_folder(tmp_path):
    words = ["sweep", "seq_len=2,4", *TINY, "--env", "rnnppo/CueRecall-v0", "--steps", "64", "--seeds", "1"]
    words += ["--out", str(tmp_path), "--study", "secret", "--mlflow-uri", URI]  # one worker writes both trials
    done = subprocess.run([*CLI, *words], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert files_holding(tmp_path, SECRET) == []
    runs = sorted(tmp_path.glob("secret/*/0/config.json"))
    assert len(runs) == 2
    for config_json in runs:
        check_private(config_json)
