"""The memory measurement (core/analysis/memory.py): truth checks on policies whose memory is known by
construction, the frame-stack bookkeeping, the distances, the horizon rule and the trainer hook."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnppo.core.analysis import memory
from rnnppo.core.config import build_config
from rnnppo.core.envs.make import describe_spaces
from rnnppo.core.model import build_policy
from rnnppo.core.runs.files import read_json
from rnnppo.core.runs.trainer import train
from rnnppo.core.spaces import ActionHead
from tests.core.cue_latch import cue_latch

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


def test_box_distance_with_a_per_step_std_is_the_2_wasserstein_distance_of_the_gaussians():
    """free_log_std=false and use_sde: dist_inputs are [mean, log-std]; W2^2 = |mu - mu'|^2 + |sigma - sigma'|^2
    per dim (in units of the range), the log-std itself never added; any number of action dims."""
    low, high = np.array([-1.0, 0.0], np.float32), np.array([1.0, 4.0], np.float32)
    head = ActionHead("box", (), (2,), low=low, high=high, free_log_std=False)
    factual = torch.tensor([[0.0, 1.0, 0.0, math.log(1.0)]])
    counter = torch.tensor([[0.6, 1.0, 0.0, math.log(3.0)]])  # mean of dim 0 +0.6, std of dim 1 from 1 to 3
    change = memory.distribution_change(head, factual, counter)
    assert change.item() == pytest.approx(math.hypot(0.6 / 2, 2.0 / 4))
    same_std = memory.distribution_change(
        head, torch.tensor([[0.0, 1.0, 5.0, 5.0]]), torch.tensor([[0.0, 1.0, 5.0, 5.0]])
    )
    assert same_std.item() == 0.0  # equal Gaussians: distance 0, however large their log-std
    six = ActionHead("box", (), (2, 3), low=-np.ones(6, np.float32), high=np.ones(6, np.float32), free_log_std=False)
    p, q = torch.zeros(5, 7, 12), torch.zeros(5, 7, 12)
    q[..., 0] = 0.4  # one mean moved by 0.4 (0.2 of the range)
    assert memory.distribution_change(six, p, q).shape == (5, 7)
    torch.testing.assert_close(memory.distribution_change(six, p, q), torch.full((5, 7), 0.2))


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
    assert summary["memory"]["lag_cap"] == 3 and summary["memory"]["longest_episode"] == 4
    at_cap = summary["memory_horizon_at_cap"]
    assert summary["memory"]["horizon_text"] == (
        f">= {summary['memory_horizon']}" if at_cap else str(summary["memory_horizon"])
    )
    train(build_config({**tiny, "memory_horizon": False}), out_dir=tmp_path / "off")
    assert "memory_horizon" not in read_json(tmp_path / "off" / "summary.json")


# --- no hidden cap: the look-back, censored horizons, the episode bootstrap, the replacements --------------


def test_a_policy_that_holds_the_cue_10_steps_back_gets_a_horizon_of_at_least_10_past_3_x_max_seq_len():
    config, policy, _ = cue_latch(cue_distance=10, max_seq_len=2)  # 10 > 3 x max_seq_len
    traj = memory.record(policy, config, episodes=16, seed=0)
    result = memory.measure(policy, config, traj, pairs=512)
    assert result.lag_cap == 10 and result.longest_episode == 11  # the default looks back to the longest episode
    assert result.influence_lo[10] > 0.3  # the cue decides the turn at the junction
    assert result.horizon >= 10 and result.horizon_text == ">= 10"
    # lag 10 is the largest lag an 11-step episode has: nothing past it was seen, and the result says so
    assert result.horizon_at_cap and "longest episode" in result.horizon_limit


def test_a_horizon_at_the_asked_max_lag_is_printed_as_at_least_the_cap():
    config, policy, _ = cue_latch(cue_distance=10)
    traj = memory.record(policy, config, episodes=16, seed=0)
    result = memory.measure(policy, config, traj, max_lag=6, pairs=512)
    assert result.horizon == 6 and result.horizon_text == ">= 6" and result.horizon_interval == (6, 6)
    assert result.horizon_at_cap and "lag cap is 6" in result.horizon_limit and "11 steps" in result.horizon_limit
    assert result.to_dict()["horizon_text"] == ">= 6"


def test_the_default_look_back_stops_at_the_stated_lag_cap(monkeypatch):
    config, policy, _ = cue_latch(cue_distance=10)
    traj = memory.record(policy, config, episodes=16, seed=0)
    monkeypatch.setattr(memory, "LAG_CAP", 4)
    result = memory.measure(policy, config, traj, pairs=512)
    assert result.lags == [0, 1, 2, 3, 4] and result.lag_cap == 4
    assert result.horizon_text == ">= 4" and "lag cap is 4" in result.horizon_limit


def test_a_horizon_below_the_last_measured_lag_is_not_censored():
    lo = [0.5, 0.2, 0.005, 0.0]
    assert memory.horizon_limit(lo, 0.01, horizon=1, lag_cap=3, longest_episode=50) == ""
    assert memory.horizon_limit([0.005, 0.001], 0.01, horizon=0, lag_cap=1, longest_episode=2) == ""  # no memory
    # a lag past the horizon without an interval did not show the influence gone: censored, with the reason
    limit = memory.horizon_limit([0.5, 0.2, math.nan], 0.01, horizon=1, lag_cap=2, longest_episode=50)
    assert "fewer than" in limit


def test_the_bootstrap_resamples_episodes_so_duplicated_draws_do_not_narrow_the_interval():
    rng = np.random.default_rng(3)
    episode_values = rng.normal(1.0, 0.5, (20, 1))  # [episodes, 1 lag]
    single = memory.bootstrap_lags(episode_values, np.ones((20, 1), bool), np.random.default_rng(0))
    copies = np.repeat(episode_values, 50, axis=0)  # every episode gives 50 alike draws
    groups = np.repeat(np.arange(20), 50)
    by_episode = memory.bootstrap_lags(copies, np.ones((1000, 1), bool), np.random.default_rng(0), groups=groups)
    assert by_episode[1][0] == pytest.approx(single[1][0]) and by_episode[2][0] == pytest.approx(single[2][0])
    by_draw = memory.bootstrap_lags(copies, np.ones((1000, 1), bool), np.random.default_rng(0))
    assert by_draw[2][0] - by_draw[1][0] < 0.3 * (single[2][0] - single[1][0])  # what resampling draws did


def test_a_lag_seen_in_fewer_than_min_episodes_episodes_gets_no_interval():
    values = np.ones((100, 2))
    counted = np.ones((100, 2), bool)
    groups = np.repeat(np.arange(10), 10)
    counted[groups >= memory.MIN_EPISODES - 1, 1] = False  # lag 1: 40 draws, but from 4 episodes
    _, lo, hi = memory.bootstrap_lags(values, counted, np.random.default_rng(0), groups=groups)
    assert lo[0] == 1.0 and hi[0] == 1.0
    assert math.isnan(lo[1]) and math.isnan(hi[1])


def test_replacements_come_from_every_other_step_never_the_factual_one():
    rng = np.random.default_rng(0)
    own = rng.integers(0, 7, 5000)
    picked = memory.other_steps(own, 7, rng)
    assert (picked != own).all() and set(picked.tolist()) == set(range(7))
    assert (memory.other_steps(np.array([0, 1, 1]), 2, rng) == [1, 0, 0]).all()
    with pytest.raises(memory.MeasureError, match="only one step"):
        memory.other_steps(np.array([0]), 1, rng)


def test_episode_ids_are_unique_per_episode_and_env():
    starts = torch.tensor([[True, True], [False, True], [True, False], [False, False]])
    zeros = torch.zeros(4, 2)  # only episode_start matters here
    traj = memory.Trajectories(zeros, zeros, zeros, zeros, zeros, zeros, episode_start=starts, episodes=2)
    ids = traj.episode
    assert ids[0, 0] == ids[1, 0] != ids[2, 0] == ids[3, 0]
    assert ids[0, 1] != ids[1, 1] == ids[2, 1] == ids[3, 1]
    assert len({*ids[:, 0].tolist()} & {*ids[:, 1].tolist()}) == 0


def test_the_trimmed_rerun_gives_the_full_reruns_numbers_on_every_valid_step():
    config, policy = untrained(rnn_type="lstm", frame_stack=2, lstm_use_prev_action=True)
    traj = memory.record(policy, config, episodes=8, seed=2)
    steps, envs = traj.rewards.shape
    start_t = np.array([0, 5, 9, steps - 3, steps - 1, 2])
    env = np.array([0, 1, 2, 3, 0, envs - 1])
    win = memory.windows(traj, start_t, env, length=30)
    replacement = torch.randn(len(start_t), traj.obs.shape[-1] // config.frame_stack)
    full = memory.rerun(policy, win, replacement, config.frame_stack)
    trimmed = memory.rerun_trimmed(policy, win, replacement, config.frame_stack, chunk=2)
    assert win.valid.sum() < win.valid.numel()  # some windows run past their episode: there is something to trim
    for whole, cut in zip(full, trimmed, strict=True):
        assert cut.shape == whole.shape
        torch.testing.assert_close(cut[win.valid], whole[win.valid], atol=1e-5, rtol=1e-5)


def test_a_horizon_that_ends_before_the_longest_episode_is_exact_not_censored():
    config, policy = untrained(rnn_type="none", frame_stack=3)  # memory: the 3 stacked frames, lags 0-2
    traj = memory.record(policy, config, episodes=16, seed=0)
    result = memory.measure(policy, config, traj, pairs=512)
    assert result.lag_cap == traj.longest_episode - 1 > 3
    assert result.horizon == 2 and result.horizon_text == "2"
    assert not result.horizon_at_cap and result.horizon_limit == ""


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
