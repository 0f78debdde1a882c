"""The Collector's fast paths give what the plain ones would: the merged one-step forward equals
policy.step, and episode totals summed at episode ends equal a step-by-step tally across rollouts."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnppo.core.config import TrainConfig
from rnnppo.core.envs import builtin as builtin_envs
from rnnppo.core.model import RecurrentPolicy, RolloutStep
from rnnppo.core.rollout import Collector, EpisodeTotals
from rnnppo.core.spaces import ActionHead, flat_obs_size, obs_parts
from tests.core.space_envs import IMAGE_FILTERS, OBSERVATION_SPACES

SPACES = [spaces.Discrete(3), spaces.MultiDiscrete([2, 3]), spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)]
IMAGE_OBS = {"image": spaces.Box(0, 255, (5, 5, 2), dtype=np.uint8), "dict_image": OBSERVATION_SPACES["dict_image"]}


@settings(max_examples=80, deadline=None)
@given(
    rnn_type=st.sampled_from(["lstm", "gru", "none"]),
    vf_share_layers=st.booleans(),
    use_prev_action=st.booleans(),
    use_prev_reward=st.booleans(),
    widths=st.sampled_from([(), (7,), (7, 5), (7, 5, 3)]),
    head_widths=st.sampled_from([(), (4,), (4, 3)]),
    activation=st.sampled_from(["tanh", "relu", "elu", "linear"]),
    space=st.sampled_from(SPACES),
    use_sde=st.booleans(),
    obs_name=st.sampled_from(["flat", "flat", "image", "dict_image"]),
    seed=st.integers(0, 2**16),
)
def test_rollout_step_equals_policy_step(
    rnn_type,
    vf_share_layers,
    use_prev_action,
    use_prev_reward,
    widths,
    head_widths,
    activation,
    space,
    use_sde,
    obs_name,
    seed,
):
    """RolloutStep = policy.step, the MLP encoder's unrolled layers and the conv encoder (image, Dict) alike."""
    torch.manual_seed(seed)
    config = TrainConfig(
        rnn_type=rnn_type,
        vf_share_layers=vf_share_layers,
        lstm_use_prev_action=use_prev_action,
        lstm_use_prev_reward=use_prev_reward,
        fcnet_hiddens=widths,
        head_fcnet_hiddens=head_widths,
        fcnet_activation=activation,
        lstm_cell_size=6,
        use_sde=use_sde,
        conv_filters=IMAGE_FILTERS,
        conv_activation=activation,
    )
    head = ActionHead.for_space(space, free_log_std=config.uses_free_log_std())  # as the trainer builds it
    obs_space = IMAGE_OBS.get(obs_name)
    obs_dim = 5 if obs_space is None else flat_obs_size(obs_space)
    policy = RecurrentPolicy(obs_dim, head, config, None if obs_space is None else obs_parts(obs_space))
    for param in policy.parameters():  # not the near-zero head init: every weight must matter
        torch.nn.init.normal_(param)
    step = RolloutStep(policy)
    inputs = (
        torch.randn(4, obs_dim),
        torch.randn(4, head.prev_action_dim),
        torch.randn(4),
        torch.randn(4, policy.state_size),
    )
    with torch.no_grad():
        for expected, got in zip(policy.step(*inputs), step(*inputs), strict=True):
            assert got.shape == expected.shape
            # float32 sums in another order: a few ulps of the value's size (N(0, 1) weights reach tens)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        if policy.use_sde:  # gSDE's noise reads the actor's features: the head MLP's output when there is one
            obs, prev_action, prev_reward = (x.unsqueeze(1) for x in inputs[:3])
            state = inputs[3]
            features, _ = policy.actor(obs, prev_action, prev_reward, state[:, : policy.actor.state_size])
            assert step.last_features is not None and features.shape[-1] == (head_widths or (6,))[-1]
            torch.testing.assert_close(step.last_features, features[:, 0], rtol=1e-5, atol=1e-5)


def test_rollout_step_uses_the_weights_it_was_built_with_after_an_update():
    torch.manual_seed(0)
    head = ActionHead.for_space(spaces.Discrete(2))
    policy = RecurrentPolicy(4, head, TrainConfig(lstm_cell_size=6, fcnet_hiddens=(8,)))
    inputs = (torch.randn(3, 4), torch.zeros(3, 2), torch.zeros(3), torch.randn(3, policy.state_size))
    before = RolloutStep(policy)
    with torch.no_grad():
        for param in policy.parameters():
            param.add_(0.5)  # what an optimizer step does: in place
        after = RolloutStep(policy)
        torch.testing.assert_close(after(*inputs)[0], policy.step(*inputs)[0], rtol=0.0, atol=1e-5)
        assert not torch.allclose(before(*inputs)[1], after(*inputs)[1])


def test_episode_returns_and_lengths_match_a_step_by_step_tally_across_rollouts():
    """Episodes that span several rollouts, end on a rollout's last step or in two envs at once."""
    torch.manual_seed(0)
    env = builtin_envs.make_batched("rnnppo/RepeatPrevious-v0", 3, seed=4, max_steps=9)
    head = ActionHead.for_space(env.single_action_space)
    policy = RecurrentPolicy(2, head, TrainConfig(lstm_cell_size=6, fcnet_hiddens=(8,)))
    collector = Collector(env, policy, head, 1, torch.device("cpu"))
    rollouts = [collector.collect(steps) for steps in (4, 7, 5, 9, 2, 11)]
    rewards = np.concatenate([r.rewards.numpy() for r in rollouts]).astype(np.float64)  # [T, N]
    dones = np.concatenate([r.dones.numpy() for r in rollouts])
    expected_returns, expected_lengths, _, _ = tally(rewards, dones)
    got_returns = [x for r in rollouts for x in r.episode_returns]
    got_lengths = [x for r in rollouts for x in r.episode_lengths]
    assert len(expected_lengths) >= 6 and len(set(expected_returns)) > 1
    assert got_lengths == expected_lengths
    np.testing.assert_allclose(got_returns, expected_returns, rtol=0, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    num_envs=st.integers(1, 4),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    done_rate=st.sampled_from([0.0, 0.2, 0.6, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_episode_totals_equal_a_step_by_step_tally(num_envs, lengths, done_rate, seed):
    """Rollouts of any lengths, with episodes ending anywhere (several per env in one rollout, on the
    first or last step, or never), give the returns and lengths of a plain running tally, in order."""
    rng = np.random.default_rng(seed)
    totals = EpisodeTotals(num_envs)
    all_rewards, all_dones, got_returns, got_lengths = [], [], [], []
    for steps in lengths:
        rewards = rng.normal(size=(steps, num_envs)).astype(np.float32)
        dones = rng.random((steps, num_envs)) < done_rate
        totals.add_rollout(rewards, dones, got_returns, got_lengths)
        all_rewards.append(rewards)
        all_dones.append(dones)
    expected_returns, expected_lengths, running, length = tally(np.concatenate(all_rewards), np.concatenate(all_dones))
    assert got_lengths == expected_lengths
    np.testing.assert_allclose(got_returns, expected_returns, rtol=0, atol=1e-9)
    np.testing.assert_allclose(totals.carried_return, running, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(totals.carried_length, length)


def tally(rewards: np.ndarray, dones: np.ndarray) -> tuple[list, list, np.ndarray, np.ndarray]:
    """The reference, added up step by step over `[T, N]`: every ended episode's return and length in
    step then env order, and the still-open episodes' running return and length."""
    running, length = np.zeros(rewards.shape[1]), np.zeros(rewards.shape[1], dtype=np.int64)
    returns, lengths = [], []
    for t in range(rewards.shape[0]):
        running += rewards[t]
        length += 1
        for i in np.flatnonzero(dones[t]):
            returns.append(running[i])
            lengths.append(int(length[i]))
        running[dones[t]], length[dones[t]] = 0.0, 0
    return returns, lengths, running, length
