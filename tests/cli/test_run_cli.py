"""End to end through the CLI: train, then eval and inspect; every bad input exits 2 and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from rnnppo.cli.app import app
from tests.shared import TINY as SHARED_TINY
from tests.shared import runner

TINY = [*SHARED_TINY, "cell=8", "seq_len=4"]


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    result = invoke(
        "train",
        *TINY,
        "--env",
        "rnnppo/StatelessCartPole-v0",
        "--steps",
        "64",
        "--seed",
        "3",
        "--out",
        str(out),
        "--name",
        "tiny",
    )
    assert result.exit_code == 0, result.output
    return out / "runs" / "tiny"


def test_train_writes_a_complete_run_folder(trained_run):
    assert {p.name for p in trained_run.iterdir()} >= {"config.json", "metrics.csv", "summary.json", "model.pt"}
    metrics = pd.read_csv(trained_run / "metrics.csv")
    assert list(metrics["iteration"]) == [1, 2]
    for column in (
        "num_seqs",
        "seq_len_mean",
        "seq_len_max",
        "pad_frac",
        "cut_by_episode_end",
        "cut_by_max_seq_len",
        "cut_by_rollout_end",
        "steps_per_s",
        "return_mean_100",
    ):
        assert column in metrics.columns
    assert (metrics["seq_len_max"] <= 4).all()
    meta = json.loads((trained_run / "config.json").read_text())
    assert meta["config"]["max_seq_len"] == 4 and meta["seed"] == 3
    assert {"command", "versions", "git", "device"} <= set(meta)
    summary = json.loads((trained_run / "summary.json").read_text())
    assert len(summary["eval_returns"]) == 1 and summary["env_steps"] == 64


def test_checkpoint_loads_with_weights_only(trained_run):
    payload = torch.load(trained_run / "model.pt", weights_only=True)
    assert payload["format"] == 1 and "state_dict" in payload


def test_eval_replays_the_trained_policy(trained_run):
    result = invoke("eval", str(trained_run), "--episodes", "3")
    assert result.exit_code == 0, result.output
    assert "±" in result.output and "over 3 episodes" in result.output


def test_eval_of_a_corrupt_checkpoint_names_the_file(trained_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "summary.json"):
        (broken / name).write_bytes((trained_run / name).read_bytes())
    (broken / "model.pt").write_bytes((trained_run / "model.pt").read_bytes()[:100])
    result = runner.invoke(app, ["eval", str(broken)])
    assert result.exit_code == 2
    assert "model.pt" in result.output and "Traceback" not in result.output


def test_inspect_answers_the_seed_thread_question():
    result = invoke("inspect", "--obs-shape", "640", "--actions", "5", "fcnet_hiddens=[64]", "cell=20", "seq_len=8")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "[8, 640]" in text and "[8, 64]" in text and "[S, L, 64]" in text
    assert "never split into 8 pieces" in text
    assert "not a look-back window" in text


def test_inspect_with_env_reports_a_probe_rollout():
    result = invoke("inspect", "--env", "rnnppo/CueRecall-v0", "seq_len=4", "num_envs=2", "rollout_len=24")
    assert result.exit_code == 0, result.output
    assert "probe rollout" in result.output and "sequences" in result.output


def test_inspect_refuses_an_env_together_with_an_obs_shape():
    result = runner.invoke(app, ["inspect", "--env", "rnnppo/CueRecall-v0", "--obs-shape", "640"])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "not both" in result.output


def test_envs_lists_the_built_in_environments():
    result = invoke("envs")
    assert result.exit_code == 0
    for env_id in ("rnnppo/StatelessCartPole-v0", "rnnppo/RepeatPrevious-v0", "rnnppo/CueRecall-v0"):
        assert env_id in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seq_lne=4"], "did you mean 'seq_len'"),
        (["max_seq_len=0"], "max_seq_len=0 is invalid"),
        (["cell=-3"], "lstm_cell_size=-3 is invalid"),
        (["lr=abc"], "not a number"),
        (["fcnet_hiddens=64"], "bracketed list"),
        (["--env", "NoSuchEnv-v9"], "unknown environment 'NoSuchEnv-v9'"),
        (["--env", "CartPol-v1"], "did you mean 'CartPole-v1'"),
        (["--env", "nosuchmodule:Env"], "cannot import module"),
        (["--env", "rnnppo/CueRecall-v0", "env.no_such_kwarg=3"], "could not create environment"),
        (["--device", "cuda:0"] if not torch.cuda.is_available() else ["--device", "tpu"], "device="),
    ],
)
def test_train_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "results"
    full = ["train", *args, "--steps", "64", "--out", str(out)]
    if "--env" not in args:
        full += ["--env", "CartPole-v1"]
    result = runner.invoke(app, full)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_unsupported_spaces_are_named(tmp_path):
    result = runner.invoke(app, ["train", "--env", "tests.cli.odd_envs:GraphObsEnv", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "observation space" in result.output and "Graph" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sweep", "seq_len=2,4", "--jobs", "0"], ["--jobs", "1"]),  # the wording varies with the typer version
        (["sweep", "--bogus"], ["--bogus", "rnnppo sweep --help"]),
        (["train", "--steps", "abc"], ["--steps", "integer"]),
        (["nosuch"], ["nosuch"]),
    ],
)
def test_usage_errors_of_the_console_script_are_one_line_and_exit_2(tmp_path, args, words):
    command = [sys.executable, "-c", "from rnnppo.cli.app import main; main()", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_console_script_keeps_the_commands_exit_codes(tmp_path):
    command = [sys.executable, "-c", "from rnnppo.cli.app import main; main()"]
    assert subprocess.run([*command, "envs"], capture_output=True, cwd=tmp_path).returncode == 0
    bad = subprocess.run([*command, "train", "--env", "NoSuchEnv-v9"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "unknown environment" in bad.stderr
    assert subprocess.run(command, capture_output=True, cwd=tmp_path).returncode == 2  # no arguments: the help
