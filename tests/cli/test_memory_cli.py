"""`rnnppo memory` end to end: the table, --json, --plot, --at rewarded, --by-feature; every bad input
exits 2 with one line and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnppo.cli.app import app
from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.evaluation import load_run_policy
from tests.core.cue_latch import cue_latch

runner = CliRunner()
TINY = [
    "num_envs=2",
    "rollout_len=32",
    "fcnet_hiddens=[8]",
    "cell=8",
    "seq_len=2",
    "minibatch_size=16",
    "num_epochs=1",
    "eval_episodes=1",
    "memory_horizon=false",
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    words = ["train", *TINY, "--env", "rnnppo/CueRecall-v0", "env.cue_distance=3", "--steps", "64"]
    result = runner.invoke(app, [*words, "--out", str(out), "--name", "tiny"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out / "runs" / "tiny"


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*")}


def test_memory_prints_influence_by_lag_and_the_horizon(trained_run):
    result = runner.invoke(app, ["memory", str(trained_run), "--episodes", "4", "--pairs", "256"])
    assert result.exit_code == 0, result.output
    assert "memory horizon:" in result.output and "max_seq_len 2" in result.output
    assert "carried" in result.output  # the two sentences on why the horizon can differ from max_seq_len


def test_memory_json_has_one_entry_per_lag_and_valid_json(trained_run):
    result = runner.invoke(app, ["memory", str(trained_run), "--json", "--max-lag", "5", "--pairs", "256"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["lags"] == [0, 1, 2, 3, 4, 5] and data["max_seq_len"] == 2
    assert data["influence"][4] is None  # 4-step episodes: lag 4 reaches before every episode's start
    assert data["pairs"][4] == 0 and data["pairs"][3] > 0
    assert data["horizon"] <= data["horizon_interval"][1]


def test_memory_at_rewarded_with_features_and_a_plot(trained_run, tmp_path):
    plot = tmp_path / "influence.png"
    words = ["memory", str(trained_run), "--at", "rewarded", "--by-feature", "--plot", str(plot), "--json"]
    result = runner.invoke(app, [*words, "--pairs", "256"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["at"] == "rewarded" and len(data["by_feature"][0]) == 4  # CueRecall: 4 observation features
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("lag", ["0", "-3"])
def test_max_lag_below_one_exits_2_and_writes_nothing(trained_run, tmp_path, lag):
    before = files_under(trained_run.parent)
    plot = tmp_path / "p.png"
    result = runner.invoke(app, ["memory", str(trained_run), "--max-lag", lag, "--plot", str(plot)])
    assert result.exit_code == 2
    assert "--max-lag" in result.output and len(result.output.strip().splitlines()) == 1
    assert files_under(trained_run.parent) == before and not plot.exists()


@pytest.fixture(scope="module")
def latch_run(tmp_path_factory) -> Path:
    """A run folder holding the hand-built policy that remembers CueRecall's cue 10 steps back (max_seq_len 2)."""
    folder = tmp_path_factory.mktemp("latch")
    config, policy, obs_dim = cue_latch(cue_distance=10, max_seq_len=2)
    run_files.save_checkpoint(folder / "model.pt", policy, config.to_dict(), obs_dim)
    return folder


def test_memory_looks_back_past_3_x_max_seq_len_to_the_longest_episode_and_says_so(latch_run):
    result = runner.invoke(app, ["memory", str(latch_run), "--json", "--pairs", "512"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["lags"][-1] == 10 and data["lag_cap"] == 10 and data["max_seq_len"] == 2
    assert data["horizon"] == 10 and data["horizon_text"] == ">= 10" and data["horizon_at_cap"]
    table = runner.invoke(app, ["memory", str(latch_run), "--pairs", "512", "--max-lag", "7"])
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "memory horizon: >= 7 steps" in text and "lag cap is 7" in text and "raise --max-lag" in text


def test_a_folder_without_a_model_exits_2(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = runner.invoke(app, ["memory", str(tmp_path), "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 2 and "model.pt" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "p.png").exists()


def test_a_damaged_model_exits_2_naming_the_file(trained_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.pt").write_bytes((trained_run / "model.pt").read_bytes()[:100])
    result = runner.invoke(app, ["memory", str(broken)])
    assert result.exit_code == 2 and "model.pt" in result.output and "Traceback" not in result.output
    assert {path.name for path in broken.iterdir()} == {"model.pt"}


def test_an_env_that_cannot_be_recreated_exits_2(trained_run, tmp_path):
    config, policy = load_run_policy(trained_run)
    moved = tmp_path / "moved"
    moved.mkdir()
    data = {**config.to_dict(), "env": "rnnppo/NoSuchEnv-v0"}
    run_files.save_checkpoint(moved / "model.pt", policy, data, policy.shapes.obs)
    result = runner.invoke(app, ["memory", str(moved)])
    assert result.exit_code == 2 and "NoSuchEnv" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_unknown_target_set_exits_2(trained_run):
    result = runner.invoke(app, ["memory", str(trained_run), "--at", "sometimes"])
    assert result.exit_code == 2 and "--at" in result.output
