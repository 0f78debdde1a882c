"""Every supported observation and action space: flattening, action heads, and a short real training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from rnnppo.core.config import build_config
from rnnppo.core.runs.trainer import train
from rnnppo.core.spaces import ActionHead, UnsupportedSpaceError, flat_obs_size, flatten_batch, flatten_single
from tests.core.space_envs import ACTION_SPACES, OBSERVATION_SPACES
from tests.shared import TINY_SETTINGS


def test_flat_sizes_count_one_hot_widths_and_every_box_element():
    assert flat_obs_size(OBSERVATION_SPACES["box_image"]) == 24
    assert flat_obs_size(OBSERVATION_SPACES["discrete"]) == 5
    assert flat_obs_size(OBSERVATION_SPACES["multi_discrete"]) == 9
    assert flat_obs_size(OBSERVATION_SPACES["multi_binary"]) == 6
    assert flat_obs_size(OBSERVATION_SPACES["dict"]) == 6
    assert flat_obs_size(OBSERVATION_SPACES["tuple"]) == 6


def test_discrete_observations_become_one_hot_relative_to_start():
    flat = flatten_batch(spaces.Discrete(5, start=2), np.array([2, 6]), 2)
    assert np.array_equal(flat, np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=np.float32))


def test_dict_and_tuple_observations_flatten_in_space_order():
    space = OBSERVATION_SPACES["dict"]
    obs = {"flag": 1, "image": np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32)}
    # gymnasium sorts Dict keys: "flag" then "image"
    assert np.allclose(flatten_single(space, obs), [0, 1, 0.1, 0.2, 0.3, 0.4])
    flat = flatten_single(OBSERVATION_SPACES["tuple"], (2, np.array([0.5, -0.5, 0.0], dtype=np.float32)))
    assert np.allclose(flat, [0, 0, 1, 0.5, -0.5, 0.0])


@pytest.mark.parametrize("name", list(OBSERVATION_SPACES))
def test_sampled_observations_flatten_to_the_declared_size(name):
    space = OBSERVATION_SPACES[name]
    space.seed(0)
    assert flatten_single(space, space.sample()).shape == (flat_obs_size(space),)


def test_box_actions_are_clipped_for_the_env_but_scored_unclipped():
    head = ActionHead.for_space(ACTION_SPACES["box"])
    mean = torch.zeros(1, 2)
    log_std = torch.zeros(2)
    actions = torch.tensor([[3.0, -3.0]])
    assert np.array_equal(head.to_env(actions.numpy()), np.array([[0.5, -0.5]], dtype=np.float32))
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(actions).sum()
    assert torch.allclose(head.log_prob(mean, log_std, actions), expected)


def test_discrete_actions_are_shifted_by_start_and_multi_discrete_log_probs_add():
    head = ActionHead.for_space(ACTION_SPACES["discrete"])
    assert np.array_equal(head.to_env(np.array([[0], [2]])), np.array([-1, 1]))
    multi = ActionHead.for_space(ACTION_SPACES["multi_discrete"])
    logits = torch.randn(4, 5)
    actions = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0]])
    first = torch.log_softmax(logits[:, :2], -1).gather(1, actions[:, :1]).squeeze(1)
    second = torch.log_softmax(logits[:, 2:], -1).gather(1, actions[:, 1:]).squeeze(1)
    assert torch.allclose(multi.log_prob(logits, None, actions), first + second)


@pytest.mark.parametrize(
    "space",
    [
        spaces.Graph(node_space=spaces.Box(0, 1, (2,)), edge_space=None),
        spaces.Text(4),
        spaces.Sequence(spaces.Discrete(2)),
    ],
)
def test_unsupported_observation_spaces_name_the_space(space):
    with pytest.raises(UnsupportedSpaceError, match="observation space .* is not supported"):
        flat_obs_size(space)


@pytest.mark.parametrize("space", [spaces.Text(4), spaces.Box(0, 3, (2,), dtype=np.int64), spaces.MultiBinary(3)])
def test_unsupported_action_spaces_name_the_space(space):
    with pytest.raises(UnsupportedSpaceError, match="action space .* is not supported"):
        ActionHead.for_space(space)


@pytest.mark.parametrize(
    ("obs", "act"),
    [
        ("dict", "box"),
        ("tuple", "multi_discrete"),
        ("discrete", "discrete"),
        ("box_image", "box"),
        ("multi_binary", "multi_discrete"),
        ("multi_discrete", "discrete"),
    ],
)
def test_training_runs_on_every_space_combination(tmp_path, obs, act):
    config = build_config(
        env="tests.core.space_envs:AnySpaceEnv",
        env_kwargs={"obs": obs, "act": act},
        total_steps=96,
        **{**TINY_SETTINGS, "rollout_len": 24, "lstm_cell_size": 8, "max_seq_len": 4},
        lstm_use_prev_action=True,
        lstm_use_prev_reward=True,
        # a 4x3 image has no default conv filters (an image without them is refused: test_encoders.py)
        conv_filters=((4, (2, 2), 1),) if obs == "box_image" else None,
    )
    result = train(config, out_dir=tmp_path)
    assert result.summary["env_steps"] == 96
    assert np.isfinite(result.summary["final_return"])


def test_sampled_discrete_actions_follow_the_softmax_of_the_logits():
    torch.manual_seed(0)
    head = ActionHead.for_space(spaces.MultiDiscrete([3, 2]))
    logits = torch.tensor([0.0, 1.0, 2.0, -1.0, 0.5]).expand(40_000, 5)
    actions, logp = head.sample(logits, None)
    for column, part in enumerate((logits[0, :3], logits[0, 3:])):
        expected = torch.softmax(part, dim=-1)
        seen = torch.bincount(actions[:, column].long(), minlength=len(part)).float() / len(actions)
        assert torch.allclose(seen, expected, atol=0.01), (seen, expected)
    assert torch.allclose(logp, head.log_prob(logits, None, actions))


@pytest.mark.parametrize("kind", sorted(ACTION_SPACES))
@pytest.mark.parametrize("entropy_grad", [False, True])
def test_the_updates_log_prob_and_entropy_are_the_two_calls_values(kind, entropy_grad):
    """log_prob_and_entropy (the update's one call) gives exactly log_prob's and entropy's values for every
    head, and the entropy carries a gradient only when asked to, the log-prob always."""
    head = ActionHead.for_space(ACTION_SPACES[kind], free_log_std=True)
    torch.manual_seed(0)
    dist_inputs = torch.randn(4, 5, head.dist_dim, requires_grad=True)
    log_std = torch.zeros(head.action_dim, requires_grad=True) if head.kind == "box" else None
    actions, _ = head.sample(dist_inputs.detach(), log_std)
    logp, entropy = head.log_prob_and_entropy(dist_inputs, log_std, actions, entropy_grad)
    assert torch.equal(logp, head.log_prob(dist_inputs, log_std, actions))
    assert torch.equal(entropy, head.entropy(dist_inputs, log_std))
    assert logp.requires_grad
    assert entropy.requires_grad == entropy_grad
