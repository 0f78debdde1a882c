"""Checkpoint and resume of one run: what checkpoint.pt restores, metrics.csv continuing without gap or
repeat, and a checkpointed run's trajectory equal to an unchecked one's."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
import torch

from rnnppo.core.config import ConfigError, build_config, checkpoint_interval
from rnnppo.core.optim import Adam
from rnnppo.core.runs import checkpoint
from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.trainer import train
from tests.shared import Stop, stop_at

TIMING = {"wall_time", "steps_per_s", "time_rollout", "time_rollout_env", "time_rollout_policy"}
TIMING |= {"time_chunking", "time_update", "cpu_s_per_step"}


def tiny(**changes):
    settings = dict(
        env="tests.sweeps.constant_env:ConstantReward",
        num_envs=2,
        rollout_len=10,  # episodes are 5 steps: every rollout ends with every env's episode
        fcnet_hiddens=(8,),
        lstm_cell_size=8,
        max_seq_len=4,
        minibatch_size=8,
        num_epochs=2,
        eval_episodes=1,
        total_steps=160,  # 8 iterations
        checkpoint_every="3",
        entropy_coeff=0.01,
    )
    settings.update(changes)
    return build_config({}, **settings)


def learning(rows):
    """The rows without their timings (which differ run to run)."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def killed_run(tmp_path, config, at: int):
    run_dir = tmp_path / "run"
    with pytest.raises(Stop):
        train(config, out_dir=run_dir, on_iteration=stop_at(at))
    return run_dir


CURIOSITY = dict(
    curiosity=True, curiosity_feature_dim=8, curiosity_inverse_hiddens=(8,), curiosity_forward_hiddens=(8,)
)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        CURIOSITY,
        pytest.param({**CURIOSITY, "device": "cuda"}, marks=CUDA),
    ],
)
def test_a_resumed_run_repeats_the_uninterrupted_run_when_its_episodes_end_at_the_checkpoint(tmp_path, changes):
    # ConstantReward ignores its seed and every episode ends with a rollout: the envs' restart is then no
    # change, so policy, both Adam moments, lr position, every RNG and the counters must all be restored.
    config = tiny(**changes)  # observation_filter=mean_std: the restarted episodes' first observations count once
    whole = train(config)
    run_dir = killed_run(tmp_path, config, at=5)
    resumed = train(config, out_dir=run_dir, resume=True, keep_metrics=True)
    assert resumed.summary["resumed_from_iterations"] == [3]
    pd.testing.assert_frame_equal(pd.DataFrame(learning(resumed.metrics)), pd.DataFrame(learning(whole.metrics)))
    for key, value in whole.policy.state_dict().items():
        torch.testing.assert_close(resumed.policy.state_dict()[key], value, rtol=0, atol=0)


def test_metrics_csv_continues_with_no_gap_and_no_iteration_twice(tmp_path):
    config = tiny(env="rnnppo/CueRecall-v0", env_kwargs={"cue_distance": 2})
    run_dir = killed_run(tmp_path, config, at=5)  # checkpoint at 3, rows 4 and 5 written after it
    assert len(pd.read_csv(run_dir / "metrics.csv")) == 5
    with open(run_dir / "metrics.csv", "a") as handle:
        handle.write("6,120,0.1")  # a row torn by a kill mid-append
    seen = []
    result = train(config, out_dir=run_dir, resume=True, on_iteration=lambda row: seen.append(row["iteration"]))
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert list(metrics["iteration"]) == list(range(1, 9))
    assert list(metrics["env_steps"]) == [20 * i for i in range(1, 9)]
    assert metrics["wall_time"].is_monotonic_increasing
    assert seen == list(range(1, 9)), "the callback sees the kept rows again, then the new ones"
    summary = run_files.read_json(run_dir / "summary.json")
    assert summary["env_steps"] == config.total_steps == result.summary["env_steps"]
    assert summary["iterations"] == 8
    assert summary["resumed_from_iterations"] == [3]
    assert not (run_dir / checkpoint.CHECKPOINT_FILE).exists(), "a finished run drops its checkpoint"


def test_checkpointing_does_not_change_a_runs_trajectory(tmp_path):
    checked = train(tiny(checkpoint_every="1"), out_dir=tmp_path / "checked")
    unchecked = train(tiny(checkpoint_every="none"), out_dir=tmp_path / "unchecked")
    pd.testing.assert_frame_equal(pd.DataFrame(learning(checked.metrics)), pd.DataFrame(learning(unchecked.metrics)))


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path):
    config = tiny(checkpoint_every="10m")
    run_dir = killed_run(tmp_path, config, at=2)
    assert not (run_dir / checkpoint.CHECKPOINT_FILE).exists()
    result = train(config, out_dir=run_dir, resume=True, keep_metrics=True)
    assert list(pd.read_csv(run_dir / "metrics.csv")["iteration"]) == list(range(1, 9))
    assert result.summary["resumed_from_iterations"] == [0]


def test_resume_refuses_a_finished_run_and_another_configuration(tmp_path):
    config = tiny()
    run_dir = killed_run(tmp_path, config, at=4)
    with pytest.raises(run_files.RunFileError, match="another configuration"):
        train(config.replace(lr=0.01), out_dir=run_dir, resume=True)
    train(config, out_dir=run_dir, resume=True, keep_metrics=True)
    with pytest.raises(run_files.RunFileError, match="finished run"):
        train(config, out_dir=run_dir, resume=True, keep_metrics=True)


def test_a_checkpoint_is_loaded_without_running_code(tmp_path):
    config = tiny()
    run_dir = killed_run(tmp_path, config, at=4)

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": 1, "x": Boom()}, run_dir / checkpoint.CHECKPOINT_FILE, pickle_module=pickle)
    with pytest.raises(run_files.RunFileError, match="not an rnnppo checkpoint; refusing to unpickle it") as err:
        train(config, out_dir=run_dir, resume=True, keep_metrics=True)
    assert "weights_only" not in str(err.value), "torch's advice to load it anyway is not repeated"


def test_adam_state_round_trips():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(4))]
    twin = [torch.nn.Parameter(p.detach().clone()) for p in params]
    first, second = Adam(params, lr=0.1), Adam(twin, lr=0.1)
    for _ in range(3):
        for p, q in zip(params, twin, strict=True):
            p.grad = torch.ones_like(p)
            q.grad = torch.ones_like(q)
        first.step()
        second.step()
    restored = Adam([torch.nn.Parameter(p.detach().clone()) for p in params], lr=1.0)
    restored.load_state_dict(first.state_dict())
    grads = [torch.randn_like(p) for p in params]
    for optimizer, group in ((second, twin), (restored, restored.params)):
        for p, g in zip(group, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for p, q in zip(twin, restored.params, strict=True):
        torch.testing.assert_close(p, q)


def test_adam_state_is_a_snapshot_that_later_steps_leave_alone():
    """state_dict() copies: a dict taken (and an optimizer loaded from it) does not move when the optimizer
    it came from steps on, with the step counters shared while every parameter takes every step."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(4))]

    def step(optimizer):
        for p in optimizer.params:
            p.grad = torch.ones_like(p)
        optimizer.step()

    first = Adam(params, lr=0.1)
    step(first)
    state = first.state_dict()
    restored = Adam([torch.nn.Parameter(p.detach().clone()) for p in params], lr=0.1)
    restored.load_state_dict(state)
    step(first)
    assert [float(t) for t in state["step_tensors"]] == [1.0, 1.0]
    assert [float(t) for t in restored.step_tensors] == [1.0, 1.0]
    assert [float(t) for t in first.step_tensors] == [2.0, 2.0]
    assert not torch.equal(state["exp_avg"][0], first.exp_avg[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("50", (50, None)), ("10m", (None, 600.0)), ("90s", (None, 90.0)), ("1h", (None, 3600.0)), ("none", (None, None))],
)
def test_checkpoint_every_takes_iterations_or_a_time(text, expected):
    assert checkpoint_interval(text) == expected


@pytest.mark.parametrize("text", ["-3", "10x", "m", "1.5"])
def test_a_bad_checkpoint_every_is_one_clear_error(text):
    with pytest.raises(ConfigError, match="checkpoint_every"):
        build_config({}, checkpoint_every=text)
