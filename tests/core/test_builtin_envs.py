"""The built-in environments: gymnasium's checker, the batched VectorEnv's autoreset contract, and
the dynamics each one promises (what a memory task must and must not reveal)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from rnnppo.core.config import build_config
from rnnppo.core.envs import builtin as builtin_envs
from rnnppo.core.envs.make import EnvError, ended_successes, make_vector_env
from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.rollout import Collector
from rnnppo.core.runs.evaluation import evaluate
from rnnppo.core.spaces import ActionHead

IDS = list(builtin_envs.BUILTIN_ENVS)


@pytest.mark.parametrize("env_id", IDS)
def test_every_builtin_env_passes_gymnasiums_checker(env_id):
    builtin_envs.register()
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_batched_env_autoresets_on_the_same_step_and_keeps_the_final_observation(env_id):
    env = builtin_envs.make_batched(env_id, 3, seed=0)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(700):
        obs, reward, terminated, truncated, infos = env.step(rng.integers(2, size=3))
        assert obs.shape == (3, *env.single_observation_space.shape) and reward.shape == (3,)
        assert not (terminated & truncated).any()
        done = terminated | truncated
        if done.any():
            ended += int(done.sum())
            assert (infos["_final_obs"] == done).all()
            for i in np.flatnonzero(done):
                assert infos["final_obs"][i].shape == env.single_observation_space.shape
        else:
            assert "final_obs" not in infos
    assert ended > 0


@pytest.mark.parametrize("env_id", IDS)
def test_the_same_seed_gives_the_same_episodes(env_id):
    def trace(seed):
        env = builtin_envs.make_batched(env_id, 2, seed=seed)
        actions = np.random.default_rng(1).integers(2, size=(200, 2))
        return np.concatenate([np.concatenate([env.step(a)[0].ravel(), env.step(a)[1]]) for a in actions])

    assert np.array_equal(trace(5), trace(5))
    if env_id != "rnnppo/SparseChain-v0":  # the chain has no randomness at all
        assert not np.array_equal(trace(5), trace(6))


def test_stateless_cartpole_hides_the_velocities_and_truncates_at_500():
    env = builtin_envs.make_batched("rnnppo/StatelessCartPole-v0", 1, seed=0)
    assert env.single_observation_space.shape == (2,)
    core = env.core
    steps = 0
    while True:
        core.state[:] = 0.0  # hold the pole upright so only the step limit can end the episode
        _, reward, terminated, truncated, _ = env.step(np.array([steps % 2]))
        steps += 1
        assert reward[0] == 1.0
        if terminated[0] or truncated[0]:
            break
    assert steps == 500 and truncated[0] and not terminated[0]


def test_stateless_cartpole_terminates_when_the_pole_falls():
    env = builtin_envs.make_batched("rnnppo/StatelessCartPole-v0", 1, seed=0)
    steps = 0
    while steps < 200:
        steps += 1
        _, _, terminated, truncated, _ = env.step(np.array([1]))  # always push right: the pole falls left
        if terminated[0]:
            break
    assert terminated[0] and not truncated[0] and steps < 100


@pytest.mark.parametrize("distance", [1, 4, 10])
def test_cue_recall_shows_the_cue_only_first_and_rewards_the_cued_turn(distance):
    env = builtin_envs.make_batched("rnnppo/CueRecall-v0", 64, seed=3, cue_distance=distance)
    obs, _ = env.reset(seed=3)
    cue = obs[:, :2].argmax(axis=1)
    assert (obs[:, :2].sum(axis=1) == 1).all() and set(cue) == {0, 1}
    for k in range(1, distance + 1):  # walk the corridor; the last step arrives at the junction
        obs, reward, terminated, _, _ = env.step(np.zeros(64, dtype=np.int64))
        assert not terminated.any() and (reward == 0).all() and (obs[:, :2] == 0).all()
        assert (obs[:, 2 if k < distance else 3] == 1).all()
    turn = np.where(np.arange(64) % 2 == 0, cue, 1 - cue)  # half right, half wrong
    _, reward, terminated, _, infos = env.step(turn)
    assert terminated.all()
    assert np.array_equal(reward, (np.arange(64) % 2 == 0).astype(float))
    assert np.array_equal(infos["success"], reward)


def test_sparse_chain_pays_the_distractor_on_the_left_and_one_on_the_right():
    env = builtin_envs.make_batched("rnnppo/SparseChain-v0", 2, seed=0, length=5)
    _, reward, terminated, _, _ = env.step(np.array([0, 1]))
    assert reward[0] == pytest.approx(0.01) and terminated[0] and not terminated[1]
    for _ in range(2):
        _, reward, terminated, _, _ = env.step(np.array([1, 1]))
    assert reward[1] == 1.0 and terminated[1]


def test_bad_kwargs_for_a_builtin_env_name_the_env():
    config = build_config(env="rnnppo/CueRecall-v0", env_kwargs={"cue_distance": 0})
    with pytest.raises(EnvError, match="CueRecall-v0.*cue_distance"):
        make_vector_env(config, 2, seed=0)


def test_stateless_cartpole_follows_gymnasiums_cartpole_dynamics():
    reference = gym.make("CartPole-v1").unwrapped
    reference.reset(seed=0)
    env = builtin_envs.make_batched("rnnppo/StatelessCartPole-v0", 3, seed=0)
    core = env.core
    core.state[:] = reference.state  # the same start in every copy
    actions = np.random.default_rng(0).integers(2, size=60)
    for t, action in enumerate(actions):
        reference_obs, _, reference_terminated, _, _ = reference.step(int(action))
        obs, _, terminated, _, infos = env.step(np.full(3, action))
        if terminated.any():  # autoreset: the last observation is the final one
            obs = np.stack(infos["final_obs"])
        assert np.allclose(obs, reference_obs[[0, 2]], rtol=0, atol=1e-6), t
        assert (terminated == reference_terminated).all(), t
        if reference_terminated:
            break


@pytest.mark.parametrize("wrapped", [False, True], ids=["batched", "gymnasium-sync-vector-env"])
def test_success_flags_reach_training_and_evaluation_metrics(wrapped):
    """CueRecall reports info['success'] on an episode's last step. A wrapper sends it through
    gymnasium's SyncVectorEnv, which files that info under 'final_info'; both routes must count it."""
    settings = {
        "env": "rnnppo/CueRecall-v0",
        "env_kwargs": {"cue_distance": 2},
        "lstm_cell_size": 8,
        "fcnet_hiddens": [8],
        "seed": 0,
    }
    if wrapped:
        settings["wrappers"] = ["gymnasium.wrappers:RecordEpisodeStatistics"]
    config = build_config(settings)
    env = make_vector_env(config, 4, 0)
    assert isinstance(env, gym.vector.SyncVectorEnv) == wrapped
    head = ActionHead.for_space(env.single_action_space)
    policy = RecurrentPolicy(env.single_observation_space.shape[0], head, config)
    rollout = Collector(env, policy, head, 1, torch.device("cpu")).collect(24)
    ended = int(rollout.dones.sum())
    assert ended >= 8  # 3-step episodes
    assert len(rollout.episode_successes) == ended
    assert rollout.episode_successes == rollout.rewards[rollout.dones].tolist()  # success == the turn's reward
    result = evaluate(policy, config, episodes=6, seed=1)
    assert result["eval_success_mean"] == pytest.approx(np.mean(result["eval_returns"]))


def test_runs_with_neighbouring_seeds_share_no_episodes_of_gymnasium_envs():
    """gymnasium seeds copy i with seed + i unless given one seed per copy; then run seed 1 would replay
    run seed 0's copies 1..7. Each copy's first observation comes from its own seed."""
    config = build_config({"env": "CartPole-v1"})

    def first_observations(seed: int) -> np.ndarray:
        env = make_vector_env(config, 8, seed)
        try:
            return env.reset()[0]  # the Collector's reset, after make_vector_env's seeded one
        finally:
            env.close()

    run0, run1 = first_observations(0), first_observations(1)
    assert np.array_equal(run0, first_observations(0))
    assert len({row.tobytes() for row in np.concatenate([run0, run1])}) == 16


class _SuccessAtResetOnly(gym.Env):
    """Reports info['success'] when reset, never on an episode's last step (2-step episodes)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {"success": 1.0}

    def step(self, action):
        self.t += 1
        return np.zeros(1, dtype=np.float32), 0.0, self.t == 2, False, {}


def test_an_ended_envs_success_is_never_read_from_its_reset_info():
    env = gym.vector.SyncVectorEnv([_SuccessAtResetOnly] * 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    env.reset(seed=0)
    env.step(np.zeros(2, dtype=np.int64))
    _, _, terminated, _, infos = env.step(np.zeros(2, dtype=np.int64))
    assert terminated.all() and infos["success"].tolist() == [1.0, 1.0]  # the reset's info, at the top level
    assert ended_successes(infos, terminated) == []
