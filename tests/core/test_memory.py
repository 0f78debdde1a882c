"""The memory measurement (core/memory.py): truth checks on policies whose memory is known by
construction, the frame-stack bookkeeping, the distances, the horizon rule and the trainer hook."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnppo.core import memory
from rnnppo.core.config import build_config
from rnnppo.core.envs import describe_spaces
from rnnppo.core.model import build_policy
from rnnppo.core.run_files import read_json
from rnnppo.core.spaces import ActionHead
from rnnppo.core.trainer import train

SMALL = {"fcnet_hiddens": [8], "lstm_cell_size": 8}


def untrained(env: str = "rnnppo/StatelessCartPole-v0", **settings):
    config = build_config({"env": env, **SMALL, **settings})
    obs_space, action_space = describe_spaces(config)
    torch.manual_seed(0)  # the same network whatever ran before
    policy, _, _ = build_policy(config, obs_space, action_space)
    with torch.no_grad():  # a bigger policy head than the init's 0.01 gain: the inputs move the actions visibly
        policy.pi.weight.normal_(0.0, 1.0)
    return config, policy.eval()


def influence(config, policy, max_lag: int, **options) -> memory.MemoryResult:
    traj = memory.record(policy, config, episodes=8, seed=0)
    return memory.measure(policy, config, traj, max_lag=max_lag, pairs=256, **options)


def test_memory_off_control_has_exactly_zero_influence_beyond_lag_0():
    config, policy = untrained(rnn_type="none", frame_stack=1)
    result = influence(config, policy, max_lag=5)
    assert result.influence[0] > 0.0
    assert result.influence[1:] == [0.0] * 5
    assert result.value_change[1:] == [0.0] * 5
    assert result.horizon == 0


def test_frame_stack_k_without_rnn_gives_influence_only_below_lag_k():
    config, policy = untrained(rnn_type="none", frame_stack=3)
    result = influence(config, policy, max_lag=6)
    assert all(value > 0.0 for value in result.influence[:3])
    assert result.influence[3:] == [0.0] * 4


def test_lstm_carries_influence_past_lag_0():
    config, policy = untrained(rnn_type="lstm")
    result = influence(config, policy, max_lag=4)
    assert all(value > 0.0 for value in result.influence)


def test_factual_rerun_from_the_stored_state_reproduces_the_recorded_values():
    """The re-run starts from the state recorded *before* step t-k and reads that step's inputs: the
    factual windows must give the values the rollout computed, step for step."""
    config, policy = untrained(rnn_type="lstm", frame_stack=2, lstm_use_prev_action=True, lstm_use_prev_reward=True)
    traj = memory.record(policy, config, episodes=8, seed=1)
    steps, envs = traj.rewards.shape
    start_t = np.array([0, 3, 7, steps - 2])
    env = np.array([0, 1, envs - 1, 2])
    win = memory.windows(traj, start_t, env, length=5)
    frame = traj.obs.shape[-1] // config.frame_stack
    _, _, factual = memory.rerun(policy, win, torch.zeros(len(start_t), frame), config.frame_stack)
    checked = 0
    for row, (t0, n) in enumerate(zip(start_t, env, strict=True)):
        for j in range(5):
            if win.valid[row, j]:
                assert factual[row, j] == pytest.approx(float(traj.values[t0 + j, n]), abs=1e-5)
                checked += 1
    assert checked >= 8


def test_replacement_reaches_every_stacked_slot_that_holds_the_frame():
    obs = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)  # [P=2, L=4, 3 frames of 2]
    out = memory.replace_observation(obs, torch.full((2, 2), -1.0), frame_stack=3)
    # step s holds frame s in the last slot, step s+1 in the middle one, step s+2 in the first one
    assert (out[:, 0, 4:] == -1).all() and (out[:, 1, 2:4] == -1).all() and (out[:, 2, 0:2] == -1).all()
    changed = (out != obs).sum().item()
    assert changed == 2 * 3 * 2  # nothing else moved; step s+3 no longer holds frame s
    one_feature = memory.replace_observation(obs, torch.full((2, 2), -1.0), frame_stack=3, features=1)
    assert (one_feature != obs).sum().item() == 2 * 3


def test_lags_before_the_episode_start_are_not_counted():
    config, policy = untrained(env="rnnppo/CueRecall-v0", env_kwargs={"cue_distance": 3})
    result = influence(config, policy, max_lag=6)
    assert result.pairs[3] > 0 and result.pairs[4:] == [0, 0, 0]  # episodes last 4 steps
    assert all(math.isnan(value) for value in result.influence[4:])


def test_rewarded_targets_are_the_junction_steps_only():
    config, policy = untrained(env="rnnppo/CueRecall-v0", env_kwargs={"cue_distance": 3})
    traj = memory.record(policy, config, episodes=8, seed=0)
    rewarded = memory.measure(policy, config, traj, max_lag=3, pairs=512, at="rewarded")
    # the junction is the 4th step: every lag 0..3 reaches back into the episode from it, and a start at
    # position p can only reach it at lag 3 - p, so each lag gets about a quarter of the draws
    assert all(count > 64 for count in rewarded.pairs)
    assert sum(rewarded.pairs) == 512


def test_rewarded_without_rewards_is_a_clear_error():
    config, policy = untrained(env="rnnppo/CueRecall-v0", env_kwargs={"cue_distance": 3})
    traj = memory.record(policy, config, episodes=4, seed=0)
    traj.rewards.zero_()
    with pytest.raises(memory.MeasureError, match="no non-zero reward"):
        memory.measure(policy, config, traj, max_lag=3, at="rewarded")


def test_by_feature_splits_the_influence_onto_the_features_that_carry_it():
    config, policy = untrained(rnn_type="none", frame_stack=1)
    result = influence(config, policy, max_lag=2, by_feature=True)
    assert len(result.by_feature) == 3 and len(result.by_feature[0]) == 2  # StatelessCartPole: 2 features
    assert all(value > 0.0 for value in result.by_feature[0])
    assert result.by_feature[1] == [0.0, 0.0] and result.by_feature[2] == [0.0, 0.0]


def test_total_variation_of_known_distributions():
    head = ActionHead("discrete", (2,), ())
    p = torch.log(torch.tensor([[0.9, 0.1]]))
    q = torch.log(torch.tensor([[0.6, 0.4]]))
    assert memory.distribution_change(head, p, q).item() == pytest.approx(0.3, abs=1e-6)
    two = ActionHead("multi_discrete", (2, 2), (2,))
    assert memory.distribution_change(two, torch.cat([p, p], -1), torch.cat([p, q], -1)).item() == pytest.approx(0.3)


def test_box_distance_is_the_mean_shift_in_units_of_the_action_range():
    head = ActionHead("box", (), (2,), low=np.array([-1.0, 0.0], np.float32), high=np.array([1.0, 4.0], np.float32))
    change = memory.distribution_change(head, torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    assert change.item() == pytest.approx(0.5)  # 1 / range 2
    both = memory.distribution_change(head, torch.tensor([[0.0, 0.0]]), torch.tensor([[0.6, 3.2]]))
    assert both.item() == pytest.approx(math.hypot(0.3, 0.8))


def test_threshold_is_one_hundredth_or_five_percent_of_lag_0():
    assert memory.horizon_threshold(0.1) == 0.01
    assert memory.horizon_threshold(0.6) == pytest.approx(0.03)
    assert memory.horizon_threshold(math.nan) == 0.01


def test_horizon_is_the_largest_lag_whose_lower_bound_reaches_the_threshold():
    lo = [0.5, 0.2, 0.005, 0.03, 0.0, math.nan]
    hi = [0.6, 0.3, 0.02, 0.05, 0.011, math.nan]
    # lag 2 dips below, lag 3 is back above: the largest lag counts, not the first gap
    assert memory.memory_horizon(lo, hi, 0.01) == (3, (3, 4))  # lag 5 has no interval (too few pairs): no say
    assert memory.memory_horizon([0.005, 0.001], [0.02, 0.002], 0.01) == (0, (0, 0))
    assert memory.memory_horizon(lo, hi, 0.04) == (1, (1, 3))


def test_bootstrap_interval_holds_the_mean_per_lag_and_needs_enough_pairs():
    rng = np.random.default_rng(0)
    values = np.stack([rng.normal(1.0, 0.1, 400), rng.normal(5.0, 1.0, 400), np.ones(400)], axis=1)  # [P, 3 lags]
    counted = np.ones_like(values, dtype=bool)
    counted[3:, 2] = False  # lag 2: only 3 draws reach a target
    counted[:200, 1] = False
    mean, lo, hi = memory.bootstrap_lags(values, counted, rng)
    assert mean[0] == pytest.approx(values[:, 0].mean()) and mean[1] == pytest.approx(values[200:, 1].mean())
    assert lo[0] < mean[0] < hi[0] and hi[0] - lo[0] < 0.05
    assert 0.1 < hi[1] - lo[1] < 0.5  # half the draws, ten times the spread
    assert mean[2] == 1.0 and math.isnan(lo[2]) and math.isnan(hi[2])


def test_max_lag_below_one_is_refused():
    config, policy = untrained()
    traj = memory.record(policy, config, episodes=2, seed=0)
    with pytest.raises(memory.MeasureError, match="--max-lag 0"):
        memory.measure(policy, config, traj, max_lag=0)


def test_training_stores_the_horizon_in_summary_json_and_the_switch_turns_it_off(tmp_path):
    tiny = {
        "env": "rnnppo/CueRecall-v0",
        "env_kwargs": {"cue_distance": 3},
        "total_steps": 64,
        "num_envs": 2,
        "rollout_len": 32,
        "minibatch_size": 16,
        "num_epochs": 1,
        "eval_episodes": 1,
        **SMALL,
    }
    train(build_config(tiny), out_dir=tmp_path / "on")
    summary = read_json(tmp_path / "on" / "summary.json")
    low, high = summary["memory_horizon_interval"]
    assert 0 <= low <= summary["memory_horizon"] <= high <= 3
    assert len(summary["memory"]["influence"]) == 4  # lags 0..3: capped by the 4-step episodes
    train(build_config({**tiny, "memory_horizon": False}), out_dir=tmp_path / "off")
    assert "memory_horizon" not in read_json(tmp_path / "off" / "summary.json")


def test_by_feature_splits_an_image_observation_by_part():
    """A Dict observation with an image (conv encoder): one column per part, named, not one per pixel."""
    config, policy = untrained(
        "tests.core.space_envs:AnySpaceEnv",
        rnn_type="none",
        conv_filters="[[4,[3,3],1],[6,[2,2],2]]",
        env_kwargs={"obs": "dict_image", "act": "discrete"},
    )
    result = influence(config, policy, max_lag=1, by_feature=True)
    assert result.feature_names == ["flag", "image", "pos"]
    assert len(result.by_feature[0]) == 3 and all(value > 0.0 for value in result.by_feature[0])
    assert result.by_feature[1] == [0.0, 0.0, 0.0]  # no memory: nothing past lag 0
