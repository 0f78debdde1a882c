"""observation_filter=mean_std: running statistics equal a one-shot mean/variance, the rollout stores
what the policy saw, evaluation leaves the statistics alone, and model.pt carries them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnppo.core.config import TrainConfig
from rnnppo.core.obs_filter import CLIP, MeanStdFilter
from rnnppo.core.runs.evaluation import evaluate, load_run_policy
from rnnppo.core.runs.trainer import train
from tests.core.test_model_equivalence import batch_for, collect, recompute, tiny_config

TOL = dict(rtol=0.0, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=6),
    width=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_running_statistics_equal_the_statistics_of_everything_seen(sizes, width, seed):
    rng = np.random.default_rng(seed)
    batches = [rng.normal(3.0, 5.0, (n, width)) * rng.uniform(0.1, 10, width) for n in sizes]
    running = MeanStdFilter.fresh(width)
    for batch in batches:
        running.update(batch)
    everything = np.concatenate(batches)
    assert running.count == len(everything)
    np.testing.assert_allclose(running.mean, everything.mean(axis=0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(running.var, everything.var(axis=0), rtol=1e-9, atol=1e-9)


def test_normalised_values_are_standardised_then_clipped():
    running = MeanStdFilter(np.array([1.0, 0.0]), np.array([4.0, 1e-12]), count=10)
    out = running(np.array([[5.0, 0.0], [-1.0, 1.0]]), update=False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], [2.0, -1.0], rtol=1e-6)
    assert out[0, 1] == 0.0 and out[1, 1] == CLIP  # a constant feature that moves: clipped, not inf
    assert running.count == 10  # update=False leaves the statistics alone


@pytest.mark.parametrize("changes", [dict(), dict(rnn_type="gru", frame_stack=2, lstm_use_prev_reward=True)])
def test_rollout_stores_the_normalised_observations_the_policy_saw(changes):
    torch.manual_seed(0)
    config = tiny_config(observation_filter="mean_std", **changes)
    policy, _, rollouts = collect("CartPole-v1", config, steps=32)
    assert float(policy.obs_count) == 3 * (1 + 2 * 32)  # the reset batch, then every step of 3 envs
    frame = policy.obs_mean.shape[0]
    assert frame == 4
    for rollout in rollouts:
        # raw CartPole positions are far from standardised; the stored ones are within the clip
        assert rollout.obs.abs().max() <= CLIP
        batch = batch_for(rollout, config)
        mask = batch.seqs.mask
        with torch.no_grad():
            new_logp, _, values = recompute(policy, batch, batch.state_in)
        torch.testing.assert_close(new_logp[mask], batch.old_logp[mask], **TOL)
        torch.testing.assert_close(values[mask], batch.seqs.pad(rollout.values.reshape(-1))[mask], **TOL)
    # late observations are roughly standardised by the statistics gathered so far
    last = rollouts[-1].obs[..., -frame:].reshape(-1, frame)
    assert last.mean(0).abs().max() < 1.0 and (last.std(0) - 1).abs().max() < 0.6


def test_without_the_filter_the_policy_has_no_statistics():
    policy, _, rollouts = collect("CartPole-v1", tiny_config(observation_filter="none"), steps=8, iterations=1)
    assert rollouts[0].obs.abs().max() > 0.0
    assert policy.obs_mean is None and "obs_mean" not in policy.state_dict()


def short_cartpole_run(**changes) -> TrainConfig:
    """A few iterations of a tiny network on 4 CartPole-v1 envs."""
    base = dict(env="CartPole-v1", num_envs=4, rollout_len=64, fcnet_hiddens=(8,), lstm_cell_size=8)
    return TrainConfig(**{**base, "minibatch_size": 64, "num_epochs": 1, **changes})


def test_evaluation_uses_but_does_not_change_the_statistics_and_checkpoints_carry_them(tmp_path):
    config = short_cartpole_run(observation_filter="mean_std", total_steps=512, eval_episodes=2)
    result = train(config, out_dir=tmp_path / "run")
    policy = result.policy
    count, mean = float(policy.obs_count), policy.obs_mean.clone()
    assert count == 4 + 512
    evaluate(policy, config, episodes=3, seed=5)
    assert float(policy.obs_count) == count and torch.equal(policy.obs_mean, mean)
    _, loaded = load_run_policy(tmp_path / "run")
    assert float(loaded.obs_count) == count
    torch.testing.assert_close(loaded.obs_mean, mean)
    torch.testing.assert_close(loaded.obs_var, policy.obs_var)
    # the statistics matter: the same weights without them act on other inputs
    first = evaluate(loaded, config, episodes=4, seed=9)
    loaded.obs_mean.fill_(100.0)
    second = evaluate(loaded, config, episodes=4, seed=9)
    assert first["eval_returns"] != second["eval_returns"]


def test_a_run_saved_before_the_filter_existed_still_loads_and_replays(tmp_path):
    """Old model.pt files hold a config without observation_filter and no statistics buffers."""
    config = short_cartpole_run(observation_filter="none", total_steps=256, eval_episodes=0)
    train(config, out_dir=tmp_path / "run")
    path = tmp_path / "run" / "model.pt"
    payload = torch.load(path, weights_only=True)
    old_config = json.loads(payload["config_json"])
    del old_config["observation_filter"]
    payload["config_json"] = json.dumps(old_config)
    torch.save(payload, path)
    loaded_config, policy = load_run_policy(tmp_path / "run")
    assert loaded_config.observation_filter == "none" and policy.obs_mean is None
    assert len(evaluate(policy, loaded_config, episodes=2, seed=1)["eval_returns"]) == 2
