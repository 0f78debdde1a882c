"""Curiosity (ICM): transitions never span two episodes, rewards and logs, and refused configurations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnppo.core.config import ConfigError, build_config
from rnnppo.core.curiosity import Curiosity
from rnnppo.core.envs.make import make_vector_env
from rnnppo.core.model import build_policy
from rnnppo.core.rollout import Collector
from rnnppo.core.runs.trainer import train
from rnnppo.core.spaces import ActionHead
from tests.core.space_envs import ACTION_SPACES
from tests.shared import TINY_SETTINGS

CORRIDOR = [0.0, 0.0, 1.0, 0.0]  # CueRecall's observation after the junction (the final observation)


def test_next_observation_at_an_episode_end_is_the_final_one_not_the_next_episodes_first():
    config = build_config(
        env="rnnppo/CueRecall-v0",
        env_kwargs={"cue_distance": 2},
        num_envs=3,
        fcnet_hiddens=(8,),
        lstm_cell_size=8,
        curiosity=True,
        observation_filter="none",  # raw one-hot rows, compared with CORRIDOR below
    )
    env = make_vector_env(config, config.num_envs, seed=0)
    policy, head, _ = build_policy(config, env.single_observation_space, env.single_action_space)
    rollout = Collector(env, policy, head, 1, torch.device("cpu"), keep_next_obs=True).collect(12)
    ends = rollout.dones.nonzero().tolist()
    assert ends, "CueRecall with cue distance 2 ends every 3 steps"
    for t, i in ends:
        assert rollout.next_obs[t, i].tolist() == CORRIDOR
        if t + 1 < 12:
            assert rollout.obs[t + 1, i, :2].sum() == 1.0, "the next row is the new episode's cue step"
    # inside an episode the next observation is the next row's observation
    inside = (~rollout.dones[:-1]).nonzero().tolist()
    for t, i in inside:
        assert torch.equal(rollout.next_obs[t, i], rollout.obs[t + 1, i])


@pytest.mark.parametrize("act", ["discrete", "box"])
def test_intrinsic_reward_is_eta_times_forward_error_and_the_module_learns(act):
    config = build_config(
        curiosity=True,
        curiosity_feature_dim=8,
        curiosity_inverse_hiddens=(16,),
        curiosity_forward_hiddens=(16,),
        curiosity_eta=0.5,
        curiosity_lr=1e-2,
    )
    torch.manual_seed(0)
    head = ActionHead.for_space(ACTION_SPACES[act])
    icm = Curiosity(5, head, config)
    obs, next_obs = torch.randn(64, 5), torch.randn(64, 5)
    actions = torch.randint(0, 3, (64, 1)) if act == "discrete" else torch.randn(64, 2)
    forward_error, _, _ = icm.losses(obs, next_obs, actions)
    first = None
    for _ in range(30):

        class FakeRollout:  # the fields intrinsic_rewards_and_update reads, as [T=8, N=8]
            pass

        rollout = FakeRollout()
        rollout.rewards = torch.zeros(8, 8)
        rollout.obs, rollout.next_obs = obs.reshape(8, 8, 5), next_obs.reshape(8, 8, 5)
        rollout.actions = actions.reshape(8, 8, -1)
        intrinsic, stats = icm.intrinsic_rewards_and_update(rollout)
        if first is None:
            first = stats
            assert torch.allclose(intrinsic.reshape(-1), 0.5 * forward_error.detach(), atol=1e-6)
        assert intrinsic.shape == (8, 8) and (intrinsic >= 0).all()
    assert stats["icm_forward_loss"] < first["icm_forward_loss"]


def test_curiosity_training_logs_extrinsic_and_intrinsic_terms(tmp_path):
    config = build_config(
        env="rnnppo/SparseChain-v0",
        env_kwargs={"length": 6},
        total_steps=128,
        **{**TINY_SETTINGS, "rollout_len": 32, "lstm_cell_size": 8, "max_seq_len": 4},
        curiosity=True,
        curiosity_feature_dim=8,
        curiosity_inverse_hiddens=(8,),
        curiosity_forward_hiddens=(8,),
    )
    train(config, out_dir=tmp_path)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    for column in ("intrinsic_reward_mean", "icm_inverse_loss", "icm_forward_loss", "return_mean_100"):
        assert column in metrics.columns and metrics[column].notna().all(), column
    assert (metrics["intrinsic_reward_mean"] > 0).all()


def test_an_observation_too_large_for_the_feature_net_is_refused_with_the_numbers():
    config = build_config(curiosity=True)
    with pytest.raises(ConfigError, match="curiosity=true is invalid here.*--wrapper"):
        Curiosity(int(np.prod((480, 640, 3))), ActionHead.for_space(ACTION_SPACES["discrete"]), config)


def test_more_icm_updates_per_rollout_fit_the_forward_model_faster():
    """One optimizer step per rollout (RLlib) barely trains the module on small rollouts, so its reward
    never fades on familiar states; curiosity_updates adds minibatch steps on the same rollout."""

    class ChainRollout:  # one-hot positions on a chain of 6 cells, moving right: a fixed, learnable dynamics
        rewards = torch.zeros(8, 8)
        positions = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(0))
        obs = torch.eye(6)[positions].reshape(8, 8, 6)
        next_obs = torch.eye(6)[positions + 1].reshape(8, 8, 6)
        actions = torch.ones(8, 8, 1, dtype=torch.long)

    losses = {}
    for updates in (1, 8):
        torch.manual_seed(0)
        config = build_config(curiosity=True, curiosity_updates=updates, minibatch_size=16)
        icm = Curiosity(6, ActionHead.for_space(ACTION_SPACES["discrete"]), config)
        for _ in range(5):
            _, stats = icm.intrinsic_rewards_and_update(ChainRollout)
        losses[updates] = stats["icm_forward_loss"]
    assert losses[8] < 0.5 * losses[1], losses


@pytest.mark.parametrize("free_log_std", [True, False])
@pytest.mark.parametrize("act", ["box_1d", "box_matrix"])
def test_the_inverse_model_predicts_the_box_action_whatever_the_distribution_inputs_hold(act, free_log_std):
    """free_log_std=false (and use_sde) make the policy head [mean, log-std]; the inverse model still regresses
    the action itself: one output per action dim, and its loss is the squared error of exactly those."""
    config = build_config(curiosity=True, curiosity_feature_dim=4, curiosity_inverse_hiddens=(8,))
    head = ActionHead.for_space(ACTION_SPACES[act], free_log_std=free_log_std)
    icm = Curiosity(5, head, config)
    assert icm.inverse[-1].out_features == head.action_dim
    torch.manual_seed(0)
    obs, next_obs, actions = torch.randn(16, 5), torch.randn(16, 5), torch.randn(16, head.action_dim)
    _, inverse_loss, _ = icm.losses(obs, next_obs, actions)
    predicted = icm.inverse(torch.cat([icm.feature(obs), icm.feature(next_obs)], dim=-1))
    torch.testing.assert_close(inverse_loss, 0.5 * (predicted - actions).pow(2).sum(-1).mean())
