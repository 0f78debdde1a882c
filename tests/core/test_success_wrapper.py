"""SuccessIfRewarded: an env that only pays for reaching its goal gets a success rate from that reward."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from rnnppo.core.config import ConfigError, TrainConfig
from rnnppo.core.runs.trainer import train
from rnnppo.wrappers import SuccessIfRewarded
from tests.shared import TINY_SETTINGS


class PaysAtTheEnd(gym.Env):
    """Three steps; the last pays `final` (0 when the goal was missed), the others pay `step_reward`."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, final: float = 1.0, step_reward: float = 0.0, truncate: bool = False):
        self.final, self.step_reward, self.truncate = final, step_reward, truncate
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        last = self.t == 3
        reward = self.final if last else self.step_reward
        return np.zeros(1, np.float32), reward, last and not self.truncate, last and self.truncate, {"kept": 1}


def run_episode(env: gym.Env) -> list[dict]:
    env.reset(seed=0)
    infos, done = [], False
    while not done:
        _, _, terminated, truncated, info = env.step(0)
        infos.append(info)
        done = terminated or truncated
    return infos


@pytest.mark.parametrize(
    ("final", "step_reward", "threshold", "success"),
    [(0.7, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0, 0.0), (0.4, 0.0, 0.5, 0.0), (0.4, 0.1, 0.5, 1.0)],
)
def test_the_last_step_says_success_when_the_episodes_summed_reward_is_above_the_threshold(
    final, step_reward, threshold, success
):
    infos = run_episode(SuccessIfRewarded(PaysAtTheEnd(final, step_reward), threshold=threshold))
    assert infos[-1]["success"] == success and infos[-1]["kept"] == 1
    assert all("success" not in info for info in infos[:-1])


def test_a_truncated_episode_counts_and_the_sum_starts_again_at_each_reset():
    env = SuccessIfRewarded(PaysAtTheEnd(0.0, 1.0, truncate=True))
    assert run_episode(env)[-1]["success"] == 1.0  # 1 + 1 + 0 > 0
    env.env.step_reward = 0.0
    assert run_episode(env)[-1]["success"] == 0.0  # the first episode's sum is not carried over


def test_a_threshold_that_is_not_a_number_is_refused_with_an_example():
    with pytest.raises(ConfigError, match=r"threshold='high' must be a number, e\.g\. 0\.5"):
        SuccessIfRewarded(PaysAtTheEnd(), threshold="high")


def test_a_minigrid_run_reports_a_success_rate_through_the_wrapper(tmp_path):
    pytest.importorskip("minigrid")
    config = TrainConfig(
        env="minigrid:MiniGrid-Empty-5x5-v0",
        wrappers=("rnnppo.wrappers:SuccessIfRewarded",),
        total_steps=64,
        **{**TINY_SETTINGS, "eval_episodes": 2},
        max_seq_len=8,
    )
    summary = train(config, out_dir=tmp_path).summary
    assert summary["eval_success_mean"] in (0.0, 0.5, 1.0)
