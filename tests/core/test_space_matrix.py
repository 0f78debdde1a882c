"""Every action space x every option, end to end: train (killed after its first iteration) -> resume ->
the end-of-training memory measurement -> `memory` -> `eval` -> `export` -> `--resume` of the finished run;
and every combination rnnppo cannot run is refused at the start with one line (exit 2), writing nothing.

The full product (5 action spaces x 3 Box log-stds x 3 cells x 2^4 on/off options x 6 observation spaces) is
thousands of runs. The rows below are a covering design instead: every value of every option meets every
action space, and on Box actions every log-std mode (a learned vector, a per-step output, gSDE) meets every
value of every other option; `test_the_rows_cover_every_option_value_with_every_action_space` checks it.
A real multi-dimensional continuous env (gymnasium's MuJoCo Reacher-v5) runs as one more row.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from rnnppo.cli.app import app
from rnnppo.core.config import build_config
from rnnppo.core.runs.evaluation import load_run_policy
from rnnppo.core.runs.export import policy_step
from rnnppo.core.runs.trainer import train
from tests.core.space_envs import ACTION_SPACES
from tests.shared import Stop, runner, stop_at

BOX_STDS = ("free", "per_step", "sde")
STD_SETTINGS = {"free": {}, "per_step": {"free_log_std": False}, "sde": {"use_sde": True}}
TINY = {
    "num_envs": 2,
    "rollout_len": 16,
    "total_steps": 64,  # two iterations: killed after the first, resumed for the second
    "checkpoint_every": "1",
    "fcnet_hiddens": (8,),
    "lstm_cell_size": 8,
    "max_seq_len": 4,
    "minibatch_size": 16,
    "num_epochs": 1,
    "eval_episodes": 1,
    "memory_horizon": True,
    "memory_episodes": 2,
    "curiosity_feature_dim": 4,
    "curiosity_feature_hiddens": (8,),
    "curiosity_inverse_hiddens": (8,),
    "curiosity_forward_hiddens": (8,),
}


@dataclass(frozen=True)
class Row:
    act: str  # an ACTION_SPACES name
    obs: str  # an OBSERVATION_SPACES name
    rnn: str  # rnn_type
    separate_critic: bool  # vf_share_layers=false
    frame_stack: int
    prev: bool  # lstm_use_prev_action and lstm_use_prev_reward
    curiosity: bool
    std: str | None = None  # Box actions: BOX_STDS

    @property
    def name(self) -> str:
        parts = [self.act, self.obs, self.rnn, "separate" if self.separate_critic else "shared"]
        parts += [f"stack{self.frame_stack}", "prev" if self.prev else "noprev"]
        parts += ["curiosity"] * self.curiosity + ([self.std] if self.std else [])
        return "-".join(parts)

    def settings(self) -> dict:
        return {
            "rnn_type": self.rnn,
            "vf_share_layers": not self.separate_critic,
            "frame_stack": self.frame_stack,
            "lstm_use_prev_action": self.prev,
            "lstm_use_prev_reward": self.prev,
            "curiosity": self.curiosity,
            **STD_SETTINGS.get(self.std or "free", {}),
        }


ROWS = [
    Row("discrete", "dict", "lstm", True, 1, True, False),
    Row("discrete", "tuple", "gru", False, 2, False, True),
    Row("discrete", "multi_binary", "none", True, 2, True, False),
    Row("multi_discrete", "box_image", "gru", True, 2, False, False),
    Row("multi_discrete", "discrete", "none", False, 1, True, True),
    Row("multi_discrete", "multi_discrete", "lstm", False, 1, True, False),
    Row("box_1d", "dict", "lstm", True, 1, False, True, "free"),
    Row("box_1d", "box_image", "gru", False, 2, True, True, "per_step"),
    Row("box_1d", "tuple", "none", True, 2, False, False, "sde"),
    Row("box", "multi_binary", "gru", False, 2, False, False, "free"),
    Row("box", "discrete", "none", True, 1, True, False, "per_step"),
    Row("box", "dict", "lstm", False, 1, True, True, "sde"),
    Row("box_matrix", "tuple", "none", True, 2, True, False, "free"),
    Row("box_matrix", "multi_discrete", "lstm", False, 1, False, True, "per_step"),
    Row("box_matrix", "box_image", "gru", True, 2, False, True, "sde"),
]
OPTIONS = {
    "rnn": ("lstm", "gru", "none"),
    "separate_critic": (False, True),
    "frame_stack": (1, 2),
    "prev": (False, True),
    "curiosity": (False, True),
}


def test_the_rows_cover_every_option_value_with_every_action_space():
    for act in ACTION_SPACES:
        rows = [row for row in ROWS if row.act == act]
        for option, values in OPTIONS.items():
            assert {getattr(row, option) for row in rows} == set(values), (act, option)
        if act.startswith("box"):
            assert {row.std for row in rows} == set(BOX_STDS), act
    for std in BOX_STDS:
        rows = [row for row in ROWS if row.std == std]
        for option, values in OPTIONS.items():
            assert {getattr(row, option) for row in rows} == set(values), (std, option)


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def run_through_every_step(run_dir: Path, config) -> dict:
    """Kill after iteration 1, resume through the CLI, then memory, eval, export and a second resume; returns
    summary.json."""
    with pytest.raises(Stop):
        train(config, out_dir=run_dir, on_iteration=stop_at(1))
    assert (run_dir / "checkpoint.pt").exists()

    resumed = invoke("train", "--resume", str(run_dir))
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["after_training_errors"] == []
    assert summary["resumed_from_iterations"] == [1] and summary["env_steps"] == config.total_steps
    assert math.isfinite(summary["memory_influence"][0]) and (run_dir / "model.pt").exists()
    assert not (run_dir / "checkpoint.pt").exists()

    measured = invoke("memory", str(run_dir), "--episodes", "2", "--pairs", "64", "--json")
    assert measured.exit_code == 0, measured.output
    assert math.isfinite(json.loads(measured.output)["influence"][0])

    evaluated = invoke("eval", str(run_dir), "--episodes", "1")
    assert evaluated.exit_code == 0 and "return" in evaluated.output, evaluated.output

    check_export(run_dir, config)

    again = invoke("train", "--resume", str(run_dir))
    assert again.exit_code == 2 and "nothing to resume" in one_line(again)
    return summary


def _randomized(example):
    """Random values of an example input's kind: float inputs drawn anew, integer ones (an image's pixels, a
    Discrete part) kept as the valid example values; a Dict/image observation's parts one by one."""
    if isinstance(example, tuple | list):
        return type(example)(_randomized(part) for part in example)
    return torch.randn_like(example) if example.is_floating_point() else example.clone()


def check_export(run_dir: Path, config) -> None:
    """torch.export's program computes what the policy's step computes, a Box policy's mean and log-std as two
    [B, action dims] outputs."""
    target = run_dir / "policy.pt2"
    exported = invoke("export", str(run_dir), "--format", "torch-export", "--out", str(target))
    if config.rnn_type == "none" and config.frame_stack == 1:
        assert exported.exit_code == 2 and "has no state" in one_line(exported)
        return
    assert exported.exit_code == 0, exported.output
    program = torch.export.load(str(target)).module()
    _, policy = load_run_policy(run_dir)
    step = policy_step(policy)
    inputs = [_randomized(x) for x in step.example_inputs(batch=2)]
    outputs = program(*inputs)
    with torch.no_grad():
        for got, want in zip(outputs, step(*inputs), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    head = policy.action_head
    if head.kind == "box":
        mean, log_std = outputs[0], outputs[1]
        assert mean.shape == log_std.shape == (2, head.action_dim)
    else:
        assert outputs[0].shape == (2, head.dist_dim)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_every_step_works_for_the_row(tmp_path, row):
    config = build_config(
        {},
        env="tests.core.space_envs:AnySpaceEnv",
        env_kwargs={"obs": row.obs, "act": row.act},
        **TINY,
        **row.settings(),
        # the 4x3x2 image goes through a conv encoder (no default filters for that size)
        conv_filters=((4, (2, 2), 1),) if row.obs == "box_image" else None,
    )
    run_through_every_step(tmp_path / "runs" / "run", config)


@pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="needs mujoco: pip install 'rnnppo[envs]'")
def test_every_step_works_on_a_real_mujoco_env_with_gsde_and_curiosity(tmp_path):
    """Reacher-v5: 2 action dims, 10 observation features, 50-step episodes."""
    config = build_config(
        {}, env="Reacher-v5", **{**TINY, "total_steps": 64, "memory_episodes": 1}, use_sde=True, curiosity=True
    )
    summary = run_through_every_step(tmp_path / "runs" / "run", config)
    assert len(summary["memory_influence"]) > 1


@pytest.mark.parametrize(
    ("act", "settings", "words"),
    [
        ("discrete", ["use_sde=true"], ["use_sde=true is invalid", "Box"]),
        ("multi_discrete", ["use_sde=true"], ["use_sde=true is invalid", "Box"]),
        ("discrete", ["free_log_std=false"], ["free_log_std=false is invalid", "Box"]),
        ("multi_discrete", ["free_log_std=true"], ["free_log_std=true is invalid", "Box"]),
        ("box_matrix", ["use_sde=true", "free_log_std=true"], ["leave free_log_std unset"]),
    ],
)
def test_settings_that_do_not_fit_the_action_space_are_refused_at_the_start(tmp_path, act, settings, words):
    out = tmp_path / "results"
    env = ["--env", "tests.core.space_envs:AnySpaceEnv", "env.obs=dict", f"env.act={act}"]
    result = runner.invoke(app, ["train", *env, *settings, "--steps", "64", "--out", str(out)])
    assert result.exit_code == 2
    line = one_line(result)
    assert all(word in line for word in words), line
    assert not out.exists()
