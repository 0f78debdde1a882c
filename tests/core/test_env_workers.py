"""vector_mode=async: env_workers processes each step a slice of the envs; the same seed gives the same
trajectories as sync mode (final observations, successes and all), and the process count is bounded.
vector_mode=overlap: the same in two halves, one half's policy step computed while the other's envs step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnppo.core.config import TrainConfig
from rnnppo.core.envs import workers as workers_module
from rnnppo.core.envs.make import EnvError, describe_spaces, env_workers, make_env_halves, make_vector_env
from rnnppo.core.model import build_policy
from rnnppo.core.rollout import Collector, collector_for
from rnnppo.core.runs.trainer import train

TINY = dict(fcnet_hiddens=(8,), lstm_cell_size=8, max_seq_len=4, minibatch_size=16, num_epochs=1)


def rollout(config: TrainConfig, steps: int = 40):
    torch.manual_seed(0)
    obs_space, action_space = describe_spaces(config)
    policy, head, _ = build_policy(config, obs_space, action_space)
    env = make_vector_env(config, config.num_envs, config.seed)
    try:
        collector = Collector(env, policy, head, config.frame_stack, torch.device("cpu"))
        first = collector.collect(steps)
        second = collector.collect(steps)
    finally:
        env.close()
    return first, second


@pytest.mark.parametrize(
    ("env", "wrappers"),
    [
        # truncations every 9 steps: final observations bootstrap, so they must come back in the right order
        ("CartPole-v1", ("gymnasium.wrappers:TimeLimit(max_episode_steps=9)",)),
        # the gymnasium-registered CueRecall reports info["success"] on its last step (final_info)
        ("rnnppo/CueRecall-v0", ("gymnasium.wrappers:TimeLimit(max_episode_steps=500)",)),
    ],
)
def test_async_gives_the_same_trajectories_as_sync_for_the_same_seed(env, wrappers):
    sync = TrainConfig(env=env, wrappers=wrappers, num_envs=5, seed=3, env_kwargs={}, **TINY)
    if env.startswith("rnnppo/"):
        sync = sync.replace(env_kwargs={"cue_distance": 2})
    async_ = sync.replace(vector_mode="async", env_workers=2)  # uneven slices: 3 + 2 envs
    for a, b in zip(rollout(sync), rollout(async_), strict=True):
        for name in ("obs", "actions", "rewards", "terminated", "truncated", "bootstrap", "values"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert a.episode_returns == b.episode_returns and a.episode_successes == b.episode_successes
        assert int(a.dones.sum()) > 0


def test_async_starts_env_workers_processes_not_one_per_env():
    config = TrainConfig(env="CartPole-v1", vector_mode="async", env_workers=2, num_envs=8, **TINY)
    env = make_vector_env(config, 8, seed=0)
    try:
        assert len(env.processes) == 2 and all(p.is_alive() for p in env.processes)
        assert env.sizes == [4, 4]
    finally:
        env.close()
    assert not any(p.is_alive() for p in env.processes)


def test_the_default_divides_the_cores_between_the_runs_sharing_the_machine(monkeypatch):
    cores = workers_module.usable_cores()
    config = TrainConfig(env="CartPole-v1", vector_mode="async", num_envs=64, **TINY)
    monkeypatch.delenv(workers_module.CONCURRENT_RUNS_ENV, raising=False)
    assert env_workers(config, 64) == cores
    monkeypatch.setenv(workers_module.CONCURRENT_RUNS_ENV, str(cores * 4))  # more runs than cores
    assert env_workers(config, 64) == 1
    assert env_workers(config.replace(env_workers=3), 64) == 3
    assert env_workers(config.replace(env_workers=3), 2) == 2


def test_async_with_an_automatic_single_worker_steps_in_this_process(monkeypatch):
    monkeypatch.setenv(workers_module.CONCURRENT_RUNS_ENV, str(workers_module.usable_cores()))
    config = TrainConfig(env="CartPole-v1", vector_mode="async", num_envs=4, **TINY)
    env = make_vector_env(config, 4, seed=0)
    env.close()
    assert not hasattr(env, "processes")
    env = make_vector_env(config.replace(env_workers=1), 4, seed=0)  # asked for: one worker process
    env.close()
    assert len(env.processes) == 1


def test_an_env_that_fails_in_a_worker_is_one_env_error_naming_the_wrapper():
    config = TrainConfig(
        env="CartPole-v1",
        wrappers=("gymnasium.wrappers:TimeLimit(max_episode_steps=-1)",),
        vector_mode="async",
        env_workers=2,
        **TINY,
    )
    with pytest.raises(EnvError, match="wrapper 'gymnasium.wrappers:TimeLimit"):
        make_vector_env(config, 2, seed=0)


def test_merged_infos_fill_what_a_slice_lacks():
    merged = workers_module._merge_infos([{"success": np.array([1.0]), "_success": np.array([True])}, {}], sizes=[1, 2])
    assert merged["success"].tolist() == [1.0, 0.0, 0.0] and merged["_success"].tolist() == [True, False, False]


# --- vector_mode=overlap: two halves, one half's policy step while the other half's envs step ----------


def overlap_rollouts(config: TrainConfig, steps: int = 30, always_left: bool = True):
    """Two rollouts by a Collector (sync) or an OverlapCollector (overlap). `always_left`: the policy's
    logits make action 0 certain, so both modes take the same actions though they draw differently."""
    torch.manual_seed(0)
    obs_space, action_space = describe_spaces(config)
    policy, head, _ = build_policy(config, obs_space, action_space)
    if always_left:
        with torch.no_grad():
            policy.pi.weight.zero_()
            policy.pi.bias.copy_(torch.tensor([40.0, -40.0]))
    envs = make_env_halves(config, config.num_envs, config.seed)
    options = dict(frame_stack=config.frame_stack, device=torch.device("cpu"))
    try:
        collector = collector_for(envs, policy, head, **options)
        return [collector.collect(steps) for _ in range(2)], policy
    finally:
        for env in envs:
            env.close()


def test_overlap_gives_every_env_the_steps_it_has_in_sync_mode():
    # truncations after 10 steps and terminations (always pushing left) in both rollouts; 5 envs: halves of 2 + 3
    wrappers = ("gymnasium.wrappers:TimeLimit(max_episode_steps=10)",)
    sync = TrainConfig(env="CartPole-v1", wrappers=wrappers, num_envs=5, seed=3, observation_filter="none", **TINY)
    overlap = sync.replace(vector_mode="overlap", env_workers=2)
    (sync_rollouts, _), (overlap_rollouts_, _) = overlap_rollouts(sync), overlap_rollouts(overlap)
    for a, b in zip(sync_rollouts, overlap_rollouts_, strict=True):
        for name in ("obs", "actions", "rewards", "terminated", "truncated", "episode_start", "prev_actions"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        for name in ("states", "values", "logp", "bootstrap", "final_state"):
            assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-6), name
        assert a.episode_returns == b.episode_returns and a.episode_lengths == b.episode_lengths
        assert bool(a.terminated.any()) and bool(a.truncated.any())
        assert not b.obs.is_inference() and not b.states.is_inference()  # ordinary tensors, as sync makes
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()  # left as it found it


def test_overlap_steps_both_halves_in_worker_processes_and_shares_one_observation_filter():
    config = TrainConfig(env="CartPole-v1", num_envs=6, seed=1, vector_mode="overlap", env_workers=2, **TINY)
    envs = make_env_halves(config, 6, seed=1)
    try:
        assert [type(env).__name__ for env in envs] == ["WorkerVectorEnv"] * 2
        assert [env.num_envs for env in envs] == [3, 3] and [len(env.processes) for env in envs] == [1, 1]
    finally:
        for env in envs:
            env.close()
    (_, overlap_policy), (_, sync_policy) = (
        overlap_rollouts(config, always_left=False),
        overlap_rollouts(config.replace(vector_mode="sync"), always_left=False),
    )
    # the filter took in all 6 envs' observations (reset + 2 x 30 steps), as in sync mode
    assert float(overlap_policy.obs_count) == float(sync_policy.obs_count) == 6 * 61


def test_overlap_with_a_batched_built_in_env_steps_it_whole():
    config = TrainConfig(env="rnnppo/CueRecall-v0", num_envs=4, vector_mode="overlap", **TINY)
    envs = make_env_halves(config, 4, seed=0)
    assert len(envs) == 1 and envs[0].num_envs == 4
    envs[0].close()


def test_a_training_run_in_overlap_mode_trains():
    config = TrainConfig(
        env="CartPole-v1", num_envs=4, rollout_len=32, total_steps=256, vector_mode="overlap", env_workers=2, **TINY
    ).replace(memory_horizon=False, eval_episodes=2)
    result = train(config)
    assert result.summary["env_steps"] == 256 and len(result.metrics) == 2
    assert all(row["time_rollout_env"] > 0 for row in result.metrics)


def _no_env():
    raise RuntimeError("this env cannot be made")


def test_an_env_that_cannot_be_made_leaves_no_error_behind_when_collected(monkeypatch):
    """WorkerVectorEnv's constructor fails on the env itself, before any worker starts: the error is
    raised, and the half-made object's clean-up finds nothing to close instead of raising into the
    unraisable-exception hook. (gymnasium 1.1, the declared floor that CI's floors run tests, closes a
    collected VectorEnv from __del__; 1.4 does not, so there the test passes either way.)"""
    import gc
    import sys

    unraisable: list = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(RuntimeError, match="cannot be made"):
        workers_module.WorkerVectorEnv(_no_env, 2, 1)
    gc.collect()
    assert unraisable == []
