"""vector_mode=async: env_workers processes each step a slice of the envs; the same seed gives the same
trajectories as sync mode (final observations, successes and all), and the process count is bounded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnppo.core import env_workers as workers_module
from rnnppo.core.config import TrainConfig
from rnnppo.core.envs import EnvError, describe_spaces, env_workers, make_vector_env
from rnnppo.core.model import build_policy
from rnnppo.core.rollout import Collector

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
