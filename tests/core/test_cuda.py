"""`device=cuda`: the cuDNN training forward matches the rollout's one-step path, CPU and GPU agree,
and a GPU run trains, saves and replays. Skipped where torch sees no CUDA GPU (CI has none); run on a
GPU machine with `python -m pytest tests/core/test_cuda.py`.

resolve_device("cuda") turns TF32 off for cuDNN (with it, the cuDNN forward drifted 1-2e-4 from the
rollout's cell on an H100); the GPU comparisons allow 2e-5 where the CPU tests allow 1e-5.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rnnppo.cli.app import app
from rnnppo.core.config import TrainConfig
from rnnppo.core.model import RecurrentPolicy, RolloutStep
from rnnppo.core.ppo import gae, normalize_advantages
from rnnppo.core.rollout import Collector
from rnnppo.core.runs.files import load_checkpoint
from rnnppo.core.runs.trainer import make_batch, refresh_state_in, resolve_device, train
from rnnppo.core.spaces import ActionHead
from tests.core.test_model_equivalence import RandomLengthEnv, vector_env
from tests.shared import runner

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
GPU_TOL = dict(rtol=0.0, atol=2e-5)
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def cuda_as_the_trainer_sets_it_up():
    resolve_device("cuda")
    assert not torch.backends.cudnn.allow_tf32


def small_config(**changes) -> TrainConfig:
    base = dict(fcnet_hiddens=(16,), lstm_cell_size=12, max_seq_len=5, minibatch_size=32, num_epochs=1)
    return TrainConfig(**{**base, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        dict(rnn_type="lstm"),
        dict(rnn_type="gru", vf_share_layers=False),
        dict(rnn_type="lstm", lstm_use_prev_action=True, lstm_use_prev_reward=True, vf_share_layers=False),
    ],
)
def test_gpu_rollout_and_cudnn_training_forward_agree(changes):
    """The rollout (fused cell kernels, one step at a time) and the training forward (cuDNN over
    [S, L]) give the same log-probs and values on every valid step, across episode boundaries."""
    torch.manual_seed(0)
    config = small_config(**changes)
    space = spaces.Discrete(3)
    env = vector_env(lambda: RandomLengthEnv(space), 4, seed=5)
    head = ActionHead.for_space(space)
    policy = RecurrentPolicy(int(np.prod(env.single_observation_space.shape)), head, config).to(CUDA)
    collector = Collector(env, policy, head, 1, CUDA)
    for _ in range(2):  # the second rollout continues episodes from carried states
        rollout = collector.collect(40)
        assert rollout.obs.device.type == "cuda"
        advantages, targets = gae(
            rollout.rewards, rollout.values, rollout.dones, rollout.bootstrap, config.gamma, config.lambda_
        )
        batch = make_batch(rollout, normalize_advantages(advantages), targets, config.max_seq_len)
        mask = batch.seqs.mask
        assert batch.continues.any() and not mask.all()
        with torch.no_grad():
            dist_inputs, values, _ = policy(batch.obs, batch.prev_actions, batch.prev_rewards, batch.state_in)
            new_logp = head.log_prob(dist_inputs, policy.log_std, batch.actions)
            refreshed = refresh_state_in(policy, batch)
        torch.testing.assert_close(new_logp[mask], batch.old_logp[mask], **GPU_TOL)
        torch.testing.assert_close(values[mask], batch.seqs.pad(rollout.values.reshape(-1))[mask], **GPU_TOL)
        torch.testing.assert_close(refreshed, batch.state_in, **GPU_TOL)
    env.close()


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_cpu_and_gpu_forward_agree(rnn_type):
    torch.manual_seed(1)
    config = small_config(rnn_type=rnn_type, vf_share_layers=False)
    cpu_policy = RecurrentPolicy(7, ActionHead.for_space(spaces.Discrete(4)), config)
    gpu_policy = RecurrentPolicy(7, ActionHead.for_space(spaces.Discrete(4)), config).to(CUDA)
    gpu_policy.load_state_dict(cpu_policy.state_dict())
    obs, prev_a, prev_r = torch.randn(6, 9, 7), torch.zeros(6, 9, 4), torch.zeros(6, 9)
    state = torch.randn(6, cpu_policy.state_size)
    with torch.no_grad():
        cpu_out = cpu_policy(obs, prev_a, prev_r, state)
        gpu_out = gpu_policy(obs.to(CUDA), prev_a.to(CUDA), prev_r.to(CUDA), state.to(CUDA))
        cpu_step = cpu_policy.step(obs[:, 0], prev_a[:, 0], prev_r[:, 0], state)
        gpu_step = gpu_policy.step(obs[:, 0].to(CUDA), prev_a[:, 0].to(CUDA), prev_r[:, 0].to(CUDA), state.to(CUDA))
    for cpu_t, gpu_t in zip((*cpu_out, *cpu_step), (*gpu_out, *gpu_step), strict=True):
        torch.testing.assert_close(gpu_t.cpu(), cpu_t, **GPU_TOL)


@pytest.mark.parametrize(
    "changes",
    [
        dict(rnn_type="lstm"),
        dict(rnn_type="lstm", vf_share_layers=False, lstm_use_prev_action=True, lstm_use_prev_reward=True),
        dict(rnn_type="gru", vf_share_layers=False, fcnet_hiddens=(16, 8)),
    ],
)
def test_rollout_step_on_the_gpu_equals_policy_step(changes):
    """The rollout's merged one-step forward, built from CUDA weights, gives policy.step's numbers."""
    torch.manual_seed(2)
    head = ActionHead.for_space(spaces.Discrete(4))
    policy = RecurrentPolicy(7, head, small_config(**changes)).to(CUDA)
    for param in policy.parameters():  # not the near-zero head init: every weight must matter
        torch.nn.init.normal_(param)
    inputs = (
        torch.randn(6, 7, device=CUDA),
        torch.randn(6, head.prev_action_dim, device=CUDA),
        torch.randn(6, device=CUDA),
        torch.randn(6, policy.state_size, device=CUDA),
    )
    with torch.no_grad():
        for expected, got in zip(policy.step(*inputs), RolloutStep(policy)(*inputs), strict=True):
            assert got.device.type == "cuda"
            torch.testing.assert_close(got, expected, **GPU_TOL)


def test_gae_on_gpu_tensors_matches_the_cpu_and_stays_on_the_gpu():
    torch.manual_seed(3)
    rewards, values, bootstrap = torch.randn(3, 33, 8).unbind(0)
    dones = torch.rand(33, 8) < 0.1
    expected = gae(rewards, values, dones, bootstrap, 0.99, 0.95)
    got = gae(rewards.to(CUDA), values.to(CUDA), dones.to(CUDA), bootstrap.to(CUDA), 0.99, 0.95)
    for e, g in zip(expected, got, strict=True):
        assert g.device.type == "cuda"
        torch.testing.assert_close(g.cpu(), e, rtol=0.0, atol=0.0)


@pytest.mark.parametrize(
    ("env", "changes"),
    [
        ("rnnppo/StatelessCartPole-v0", dict(state_in="refresh", vf_share_layers=False)),
        ("rnnppo/SparseChain-v0", dict(curiosity=True, lstm_use_prev_action=True, lstm_use_prev_reward=True)),
        ("Pendulum-v1", dict(rnn_type="gru", kl_target=0.01, anneal_lr=True)),
    ],
)
def test_training_on_the_gpu_runs_and_learns_finite_numbers(env, changes):
    config = small_config(env=env, device="cuda", total_steps=1024, num_envs=4, rollout_len=64, eval_episodes=2)
    config = config.replace(**changes)
    result = train(config)
    assert next(result.policy.parameters()).device.type == "cuda"
    assert len(result.metrics) == 4
    for row in result.metrics:
        assert np.isfinite(row["policy_loss"]) and np.isfinite(row["value_loss"])
    assert np.isfinite(result.summary["final_return"])


def test_cli_train_on_cuda_then_eval_and_load_on_the_cpu(tmp_path):
    args = ["train", "--env", "rnnppo/StatelessCartPole-v0", "--steps", "2048", "--device", "cuda"]
    args += ["--out", str(tmp_path), "--name", "gpu", "num_envs=4", "rollout_len=64", "eval_episodes=2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "gpu"
    meta = json.loads((run_dir / "config.json").read_text())
    assert meta["device"].startswith("cuda")
    payload = load_checkpoint(run_dir / "model.pt")  # map_location=cpu, weights_only=True
    assert all(t.device.type == "cpu" for t in payload["state_dict"].values())
    result = runner.invoke(app, ["eval", str(run_dir), "--episodes", "3"])
    assert result.exit_code == 0, result.output
    assert "±" in result.output or "+/-" in result.output
