"""`--env` forms: gymnasium's `module:EnvId` on real packages (minigrid, ale_py), class paths, the
did-you-mean for a known package's bare id, and modules importable from the current folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

from rnnppo.core.config import TrainConfig
from rnnppo.core.envs.make import EnvError, describe_spaces, env_factory, make_vector_env
from rnnppo.core.runs.trainer import train

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(
    num_envs=2, rollout_len=16, fcnet_hiddens=(8,), lstm_cell_size=8, max_seq_len=4, minibatch_size=16, num_epochs=1
)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A fresh process, as a user's shell would start it; -P keeps the current folder off sys.path, as the
    `rnnppo` console script does."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    code = "from rnnppo.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-P", "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_module_colon_id_makes_the_env_the_import_registers():
    env = env_factory(TrainConfig(env="minigrid:MiniGrid-MemoryS7-v0"))()
    try:
        assert type(env.unwrapped).__name__ == "MemoryEnv"
        assert isinstance(env.observation_space, gym.spaces.Dict) and "image" in env.observation_space.spaces
    finally:
        env.close()


def test_an_ale_ram_game_trains_a_few_steps_by_its_module_colon_id():
    config = TrainConfig(env="ale_py:ALE/Pong-v5", env_kwargs={"obs_type": "ram"}, total_steps=32, eval_episodes=0)
    result = train(config.replace(**TINY))
    assert result.summary["env_steps"] == 32 and result.summary["env"] == "ale_py:ALE/Pong-v5"


def test_a_class_path_still_makes_the_class():
    env = make_vector_env(TrainConfig(env="tests.faults.faulty_env:Faulty"), 2, seed=0)
    try:
        assert type(env.envs[0].unwrapped).__name__ == "Faulty"
    finally:
        env.close()


def test_a_module_that_neither_holds_nor_registers_the_name_says_so_with_a_did_you_mean():
    with pytest.raises(EnvError, match=r"registers no env id 'MiniGrid-MemoryS7-v9'.*minigrid:MiniGrid-MemoryS7-v0"):
        describe_spaces(TrainConfig(env="minigrid:MiniGrid-MemoryS7-v9"))


def test_a_missing_module_is_named():
    with pytest.raises(EnvError, match="cannot import module 'no_such_pkg'"):
        describe_spaces(TrainConfig(env="no_such_pkg:Thing-v0"))


def test_a_known_packages_bare_id_gets_the_module_form_as_did_you_mean(tmp_path):
    result = cli("inspect", "--env", "MiniGrid-MemoryS7-v0", "--no-probe")
    assert result.returncode == 2, result.stderr
    assert "did you mean 'minigrid:MiniGrid-MemoryS7-v0'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


MY_ENV = textwrap.dedent(
    """
    import gymnasium as gym
    import numpy as np

    class Cue(gym.Env):
        observation_space = gym.spaces.Box(0, 1, (3,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(3, np.float32), {}

        def step(self, action):
            return np.zeros(3, np.float32), 1.0, True, False, {}

    gym.register(id="MyCue-v0", entry_point=Cue)
    """
)


@pytest.mark.parametrize("env", ["myenv:Cue", "myenv:MyCue-v0"])
def test_a_module_in_the_current_folder_is_importable_as_a_class_or_an_id(tmp_path, env):
    (tmp_path / "myenv.py").write_text(MY_ENV)
    result = cli("inspect", "--env", env, "--no-probe", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "flattened from Box(0.0, 1.0, (3,), float32)" in result.stdout


def test_train_records_the_env_id_as_given_and_eval_makes_it_again(tmp_path):
    words = ["num_envs=2", "rollout_len=16", "fcnet_hiddens=[8]", "cell=8", "seq_len=4", "minibatch_size=16"]
    words += ["num_epochs=1", "eval_episodes=1"]
    wrappers = ["--wrapper", "minigrid.wrappers:ImgObsWrapper"]
    wrappers += ["--wrapper", "gymnasium.wrappers:TimeLimit(max_episode_steps=10)"]
    result = cli(
        "train", *words, "--env", "minigrid:MiniGrid-MemoryS7-v0", *wrappers, "--steps", "64", "--out", str(tmp_path),
        "--name", "mg",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "runs" / "mg" / "config.json").read_text())["config"]
    assert config["env"] == "minigrid:MiniGrid-MemoryS7-v0"
    assert config["wrappers"] == [wrappers[1], wrappers[3]]
    evaluated = cli("eval", str(tmp_path / "runs" / "mg"), "--episodes", "2")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "minigrid:MiniGrid-MemoryS7-v0: return" in evaluated.stdout
