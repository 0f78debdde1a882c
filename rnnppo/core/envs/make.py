"""Making environments: gymnasium ids or `package.module:ClassName`, wrappers, and vector envs.

Vector envs use gymnasium's SAME_STEP autoreset: every step is a real transition, and when env i
ends, `obs[i]` is already the next episode's first observation while the final observation sits
in `infos["final_obs"][i]` (needed to bootstrap a truncated episode).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from rnnppo.core.config import ConfigError, TrainConfig, format_value
from rnnppo.core.conv_plan import check_parts
from rnnppo.core.envs import builtin as builtin_envs
from rnnppo.core.envs.ids import EnvError, base_env_maker
from rnnppo.core.envs.workers import WorkerVectorEnv, default_env_workers
from rnnppo.core.envs.wrapping import wrapper_builders
from rnnppo.core.spaces import ActionHead, flat_obs_size, obs_parts

__all__ = ["EnvError", "env_factory", "make_vector_env", "describe_spaces", "copy_seeds", "env_workers"]


def env_factory(config: TrainConfig) -> Callable[[], gym.Env]:
    """A zero-argument function that makes one wrapped env for this config (wrappers applied in order)."""
    make_base = base_env_maker(config.env, config.env_kwargs)
    builders = wrapper_builders(config.wrappers)

    def make() -> gym.Env:
        env = make_base()
        for build in builders:
            env = build(env)
        return env

    return make


def env_workers(config: TrainConfig, num_envs: int) -> int:
    """How many worker processes step the envs in async mode (env_workers=0: one per usable core)."""
    return min(num_envs, config.env_workers or default_env_workers(num_envs))


def make_vector_env(config: TrainConfig, num_envs: int, seed: int | None) -> VectorEnv:
    """N copies of the env with SAME_STEP autoreset; the built-in envs use batched numpy versions (one
    numpy call steps them all: worker processes would only add the round trips). vector_mode=async
    steps the others in `env_workers` processes; when the automatic count (env_workers=0) comes to one
    (one core, or as many runs as cores), they step in this process as in sync mode."""
    if not config.wrappers and ":" not in config.env:
        batched = builtin_envs.make_batched(config.env, num_envs, seed, **config.env_kwargs)
        if batched is not None:
            batched.reset(seed=seed)
            return batched
    factory = env_factory(config)
    workers = env_workers(config, num_envs)
    # async on one core (auto): a single worker would only add round trips, so step here instead
    if config.vector_mode != "sync" and (workers > 1 or config.env_workers == 1):
        env: WorkerVectorEnv | SyncVectorEnv = _constructed(config, lambda: WorkerVectorEnv(factory, num_envs, workers))
    else:
        env = _constructed(config, lambda: SyncVectorEnv([factory] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP))
    # list[int | None]: the type SyncVectorEnv.reset takes (list is invariant: list[int] is not one)
    seeds: list[int | None] | None = None if seed is None else list(copy_seeds(seed, num_envs))
    env.reset(seed=seeds)
    return env


def make_env_halves(config: TrainConfig, num_envs: int, seed: int | None) -> Sequence[VectorEnv]:
    """The vector envs one training collector steps: two halves of the N envs, each stepped by its own env
    worker processes, for vector_mode=overlap (the built-in envs, one numpy batch, stay whole); else one
    vector env. Env copy i gets the same seed as in one vector env of N, so its episodes are the same."""
    workers = env_workers(config, num_envs)
    batched = not config.wrappers and ":" not in config.env and builtin_envs.has_batched(config.env)
    if config.vector_mode != "overlap" or num_envs < 2 or batched:
        return [make_vector_env(config, num_envs, seed)]
    factory = env_factory(config)
    seeds: list[int | None] | None = None if seed is None else list(copy_seeds(seed, num_envs))
    halves: list[WorkerVectorEnv] = []

    def half(size: int) -> WorkerVectorEnv:
        return WorkerVectorEnv(factory, size, max(1, workers // 2))

    try:
        for lo, hi in ((0, num_envs // 2), (num_envs // 2, num_envs)):
            halves.append(_constructed(config, partial(half, hi - lo)))
            halves[-1].reset(seed=None if seeds is None else seeds[lo:hi])
    except BaseException:
        for made in halves:
            made.close()
        raise
    return halves


Made = TypeVar("Made", bound=VectorEnv)


def _constructed(config: TrainConfig, make: Callable[[], Made]) -> Made:
    """make(), with a failure of the user's env constructor as one EnvError line."""
    try:
        return make()
    except EnvError:
        raise
    except Exception as err:
        raise EnvError(f"could not create environment '{config.env}': {type(err).__name__}: {err}") from err


def copy_seeds(seed: int, num_envs: int) -> list[int]:
    """One seed per env copy, drawn from the run's seed. gymnasium's own choice, `seed + i` for copy i,
    would give run seed s + 1's copy i the same stream as run seed s's copy i + 1: a trial's seeds
    would share most of their episodes."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(num_envs)]


def describe_spaces(config: TrainConfig) -> tuple[gym.Space, gym.Space]:
    """Make one env, check its spaces are supported, and return (observation_space, action_space)."""
    factory = env_factory(config)
    try:
        env = factory()
    except (EnvError, ConfigError):  # ConfigError: a wrapper's own settings (e.g. a mask index) do not fit
        raise
    except TypeError as err:
        raise EnvError(f"could not create environment '{config.env}' with {dict(config.env_kwargs)}: {err}") from None
    except Exception as err:
        raise EnvError(f"could not create environment '{config.env}': {type(err).__name__}: {err}") from None
    try:
        obs_space, action_space = env.observation_space, env.action_space
        flat_obs_size(obs_space)
        check_parts(config, obs_parts(obs_space))  # an image without usable conv filters: one line, exit 2
        head = ActionHead.for_space(action_space)
        check_action_settings(config, head.kind)
        if config.uses_reward_scaling(head.kind == "box"):
            _check_scalar_reward(config, env)
    except ConfigError:
        raise
    except ValueError as err:
        raise EnvError(str(err)) from None
    finally:
        env.close()
    return obs_space, action_space


def check_action_settings(config: TrainConfig, action_kind: str) -> None:
    """Settings that only mean something for Box actions must not be set for other action spaces."""
    if action_kind == "box":
        return
    box_only = {"free_log_std": config.free_log_std is not None, "use_sde": config.use_sde}
    box_only["log_std_init"] = config.log_std_init != 0.0
    for name, is_set in box_only.items():
        if is_set:
            value = format_value(getattr(config, name))
            raise ConfigError(
                f"{name}={value} is invalid: {config.env} has {action_kind} actions and a log-std or "
                "exploration noise only exists for Box (continuous) actions; remove the setting"
            )


def _check_scalar_reward(config: TrainConfig, env: gym.Env) -> None:
    """reward_scaling keeps one running return per env: one reset and one step show the reward is a number."""
    env.reset(seed=0)
    reward: Any  # typed a number, but an env may return an array: that is what this checks
    _, reward, _, _, _ = env.step(env.action_space.sample())
    if np.ndim(reward) != 0:
        raise ConfigError(
            f"reward_scaling=true is invalid: {config.env} returns a reward of shape {np.shape(reward)}, and "
            "reward scaling needs one number per step; set reward_scaling=false or make the reward a scalar"
        )


def final_observations(infos: dict, done: np.ndarray) -> list[tuple[int, Any]]:
    """(env index, final observation) for every env that ended this step (SAME_STEP autoreset)."""
    if "final_obs" not in infos:
        return []
    final = infos["final_obs"]
    present = infos.get("_final_obs", done)
    return [(int(i), final[i]) for i in np.flatnonzero(present)]


def ended_successes(infos: dict, done: np.ndarray) -> list[tuple[int, float]]:
    """(env index, success flag) for every env that ended this step and reported `info["success"]` on
    its last step. gymnasium's SyncVectorEnv (SAME_STEP) files the last step's info under
    `final_info` (the top level then holds the reset's info, which is not read for the envs that ended);
    the batched built-ins report it at the top level."""
    final_info = infos.get("final_info")
    source = final_info if isinstance(final_info, dict) else infos  # never the reset's info of an ended env
    success = source.get("success")
    if success is None:
        return []
    present = source.get("_success")
    return [(int(i), float(success[i])) for i in np.flatnonzero(done) if present is None or present[i]]
