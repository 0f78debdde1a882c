"""Continuous PPO settings: the per-step log-std head (free_log_std=false) and reward scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch.distributions import Normal

from rnnppo.core.config import ConfigError, build_config
from rnnppo.core.envs.make import describe_spaces
from rnnppo.core.model import build_policy
from rnnppo.core.reward_scaling import RewardScaler
from rnnppo.core.runs.evaluation import evaluate, load_run_policy
from rnnppo.core.runs.trainer import train
from rnnppo.core.sde import SdeNoise
from rnnppo.core.spaces import ActionHead

BOX = spaces.Box(-2, 2, (2,), np.float32)
OBS = spaces.Box(-1, 1, (3,), np.float32)
TINY = {
    "num_envs": 2,
    "rollout_len": 100,
    "total_steps": 400,
    "lstm_cell_size": 8,
    "fcnet_hiddens": (8,),
    "minibatch_size": 32,
    "max_seq_len": 8,
    "num_epochs": 1,
    "eval_episodes": 1,
}


@pytest.mark.parametrize("free", [True, False])
def test_box_log_prob_and_entropy_match_torch_normal(free):
    head = ActionHead.for_space(BOX, free_log_std=free)
    torch.manual_seed(0)
    dist_inputs = torch.randn(5, 4, head.dist_dim)
    log_std = torch.randn(2) if free else None
    mean, std_log = (dist_inputs, log_std.expand(5, 4, 2)) if free else dist_inputs.chunk(2, dim=-1)
    reference = Normal(mean, std_log.exp())
    actions, logp = head.sample(dist_inputs, log_std)
    torch.testing.assert_close(logp, reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(head.entropy(dist_inputs, log_std), reference.entropy().sum(-1))
    greedy, _ = head.sample(dist_inputs, log_std, deterministic=True)
    torch.testing.assert_close(greedy, mean)


def test_free_log_std_false_makes_the_head_output_the_log_std_per_step():
    config = build_config({"env": "Pendulum-v1", "free_log_std": False, **TINY})
    policy, head, _ = build_policy(config, OBS, BOX)
    assert policy.log_std is None and head.dist_dim == 4 and policy.pi.out_features == 4
    vector = build_config({"env": "Pendulum-v1", **TINY})
    policy, head, _ = build_policy(vector, OBS, BOX)  # the Box default: one learned vector
    assert policy.log_std is not None and policy.log_std.shape == (2,) and policy.pi.out_features == 2


def test_reward_scaling_divides_by_the_running_std_of_the_discounted_return():
    config = build_config({"env": "Pendulum-v1", "gamma": 0.5, **TINY})
    policy, _, _ = build_policy(config, OBS, BOX)
    scaler = RewardScaler(policy, num_envs=2, gamma=0.5)
    rewards = torch.tensor([[1.0, -2.0], [3.0, 0.5], [-1.0, 4.0]])
    dones = torch.tensor([[False, False], [True, False], [False, False]])
    scaled = scaler.scale(rewards, dones)
    # sb3's VecNormalize by hand: R_t = gamma R_{t-1} + r_t, reset after a done; every R_t enters the variance
    returns = [1.0, -2.0, 3.5, -0.5, -1.0, 3.75]
    std = np.sqrt(np.var(returns) + 1e-8)
    torch.testing.assert_close(scaled, torch.clamp(rewards / std, -10, 10).float())
    assert float(policy.ret_var) == pytest.approx(np.var(returns))
    assert float(policy.ret_count) == 6
    next_rollout = scaler.scale(torch.tensor([[2.0, 0.0]]), torch.tensor([[False, False]]))
    returns += [0.5 * -1.0 + 2.0, 0.5 * 3.75]  # both envs carry their open episode's return on
    torch.testing.assert_close(next_rollout, (torch.tensor([[2.0, 0.0]]) / np.sqrt(np.var(returns) + 1e-8)).float())


def test_a_box_run_scales_rewards_for_training_only_and_saves_the_statistics(tmp_path):
    config = build_config({"env": "rnnppo/PendulumNoVel-v0", **TINY})
    result = train(config, out_dir=tmp_path, keep_metrics=True)
    policy = result.policy
    assert float(policy.ret_count) == 400 and float(policy.ret_var) > 0
    # reported returns are raw: a 200-step Pendulum episode of an untrained policy is far below -100
    assert all(row["episode_return_mean"] < -100 for row in result.metrics if row["episodes"])
    assert result.summary["eval_return_mean"] < -100
    assert "return_std" in result.metrics[-1]
    _, loaded = load_run_policy(tmp_path)  # model.pt carries the statistics
    assert float(loaded.ret_var) == pytest.approx(float(policy.ret_var))
    before = policy.ret_var.clone()
    evaluate(policy, config, episodes=1, seed=3)  # evaluation leaves them frozen
    assert torch.equal(policy.ret_var, before)


def test_reward_scaling_off_trains_on_raw_rewards_and_keeps_no_statistics():
    config = build_config({"env": "Pendulum-v1", "reward_scaling": False, **TINY})
    result = train(config)
    assert "ret_var" not in result.policy.state_dict()
    assert "return_std" not in result.metrics[-1]


def test_a_log_std_setting_on_discrete_actions_is_refused():
    with pytest.raises(ConfigError, match="free_log_std=false is invalid.*Box"):
        describe_spaces(build_config({"env": "CartPole-v1", "free_log_std": False}))


def test_reward_scaling_on_a_non_scalar_reward_is_refused():
    with pytest.raises(ConfigError, match=r"reward_scaling=true is invalid.*shape \(2,\)"):
        describe_spaces(build_config({"env": "tests.cli.odd_envs:VectorRewardEnv"}))
    describe_spaces(build_config({"env": "tests.cli.odd_envs:VectorRewardEnv", "reward_scaling": False}))


def test_sde_noise_has_the_std_the_log_probs_assume_and_holds_between_redraws():
    config = build_config({"env": "Pendulum-v1", "use_sde": True, **TINY, "lstm_cell_size": 6})
    policy, head, _ = build_policy(config, OBS, BOX)
    assert policy.sde_log_std.shape == (6, 2) and policy.log_std is None and not head.free_log_std
    with torch.no_grad():
        policy.sde_log_std.copy_(torch.linspace(-1.0, 0.5, 12).reshape(6, 2))
    n = 20_000
    noise = SdeNoise(policy.sde_log_std, num_envs=n, sample_freq=2)
    noise.start_rollout()
    features = torch.tensor([[0.5, -0.2, 0.9, 0.1, -0.7, 0.3]]).expand(n, 6)
    dist_inputs = policy.sde_dist_inputs(features, torch.zeros(n, 2))
    actions, logp = noise.sample(0, dist_inputs, features)
    claimed_std = dist_inputs[0, 2:].exp()
    torch.testing.assert_close(actions.std(0), claimed_std, rtol=0.03, atol=0)
    torch.testing.assert_close(logp, head.log_prob(dist_inputs, None, actions))
    again, _ = noise.sample(1, dist_inputs, features)  # same matrices until step 2
    torch.testing.assert_close(again, actions)
    redrawn, _ = noise.sample(2, dist_inputs, features)
    assert not torch.allclose(redrawn, actions)


def test_use_sde_on_discrete_actions_or_with_free_log_std_is_refused():
    with pytest.raises(ConfigError, match="use_sde=true is invalid.*Box"):
        describe_spaces(build_config({"env": "CartPole-v1", "use_sde": True}))
    with pytest.raises(ConfigError, match="leave free_log_std unset"):
        build_config({"env": "Pendulum-v1", "use_sde": True, "free_log_std": True})
    with pytest.raises(ConfigError, match="sde_sample_freq=0 is invalid"):
        build_config({"env": "Pendulum-v1", "sde_sample_freq": 0})
