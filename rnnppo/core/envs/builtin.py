"""Built-in environments that need memory (or exploration), each written once as a batched numpy core.

A core steps N copies at once. `BatchedEnv` exposes a core as a gymnasium VectorEnv with SAME_STEP
autoreset (the fast path the trainer uses); `SingleEnv` exposes one copy as a registered gymnasium
Env (`gym.make("rnnppo/CueRecall-v0")`). Both run the same code, so there is one set of dynamics.

Episodes cut by a step limit are *truncated* (the trainer bootstraps them); episodes that reach a
terminal state are *terminated*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvCreator
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rnnppo.errors import EnvError

BUILTIN_ENVS: dict[str, str] = {
    "rnnppo/StatelessCartPole-v0": "CartPole without the velocities (obs: cart position, pole angle); "
    "memory must infer motion; 500-step limit",
    "rnnppo/RepeatPrevious-v0": "reward 1 for repeating the symbol shown `delay` steps ago (delay=1); 50 steps",
    "rnnppo/CueRecall-v0": "a cue (left/right) at the start, blank corridor steps, and `cue_distance` (10) "
    "steps after the cue a junction: reward 1 for turning to the cued side; info['success']",
    "rnnppo/SparseChain-v0": "a chain of `length` cells (40): reward 1 at the far right end, 0.01 at the left "
    "end; random play almost never reaches the right end in its 60-step limit: an exploration test for curiosity",
}


@dataclass(frozen=True)
class MaskedEnv:
    """A gymnasium env with some observation entries zeroed (rnnppo.wrappers.MaskObservation), as the RL
    Zoo's *NoVel tasks are: the dynamics are gymnasium's own, only what the agent sees changes."""

    base: str  # the gymnasium id it wraps
    indices: tuple[int, ...]  # flat observation entries set to 0
    masked: str  # what those entries are, for `rnnppo envs`
    text: str


MASKED_ENVS: dict[str, MaskedEnv] = {
    "rnnppo/PendulumNoVel-v0": MaskedEnv(
        "Pendulum-v1",
        (2,),
        "angular velocity (obs[2])",
        "Pendulum-v1 swing-up, continuous torque, seeing only cos/sin of the angle (the Zoo's PendulumNoVel); "
        "200 steps",
    ),
    "rnnppo/MountainCarContinuousNoVel-v0": MaskedEnv(
        "MountainCarContinuous-v0",
        (1,),
        "velocity (obs[1])",
        "MountainCarContinuous-v0 seeing only the position (the Zoo's MountainCarContinuousNoVel); reward 100 at "
        "the flag minus the action cost: an exploration task; 999 steps",
    ),
}


def make_masked(env_id: str, **kwargs: Any) -> gym.Env:
    """One masked env: gymnasium's base env (kwargs go to it) under MaskObservation."""
    from rnnppo.core.envs.observation_mask import MaskObservation

    spec = MASKED_ENVS[env_id]
    return MaskObservation(gym.make(spec.base, **kwargs), indices=spec.indices)


class _Core:
    """N copies of one environment's dynamics, stepped together with numpy."""

    observation_space: spaces.Box
    action_space: spaces.Space

    def __init__(self, num_envs: int, max_steps: int):
        if max_steps < 1:
            raise ValueError(f"max_steps={max_steps} must be >= 1")
        self.num_envs = num_envs
        self.max_steps = max_steps
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        self.rng = np.random.default_rng()

    def reset_envs(self, which: np.ndarray) -> None:
        """Start new episodes in the envs where `which` [N] is true."""
        self.elapsed[which] = 0
        self._reset(which)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(reward [N], terminated [N], truncated [N], success [N] or None) for one step of every env."""
        reward, terminated, success = self._step(actions)
        self.elapsed += 1
        truncated = np.logical_and(self.elapsed >= self.max_steps, np.logical_not(terminated))
        return reward.astype(np.float64), terminated, truncated, success

    def observe(self) -> np.ndarray:  # [N, *obs_shape] float32
        raise NotImplementedError

    def _reset(self, which: np.ndarray) -> None:
        raise NotImplementedError

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        raise NotImplementedError


class StatelessCartPoleCore(_Core):
    """Cart-pole balancing (Barto, Sutton & Anderson 1983 dynamics, Euler steps of 0.02 s) where the
    observation is only (cart position, pole angle): velocities must be inferred from history."""

    gravity, cart_mass, pole_mass, half_length, force, dt = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    x_limit, theta_limit = 2.4, 12 * 2 * np.pi / 360

    def __init__(self, num_envs: int, max_steps: int = 500):
        super().__init__(num_envs, max_steps)
        high = np.array([self.x_limit * 2, self.theta_limit * 2], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.state = np.zeros((num_envs, 4))  # x, x_dot, theta, theta_dot; stepped in place
        self.rewards = np.ones(num_envs)

    def _reset(self, which: np.ndarray) -> None:
        self.state[which] = self.rng.uniform(-0.05, 0.05, size=(int(which.sum()), 4))

    def observe(self) -> np.ndarray:
        return self.state[:, [0, 2]].astype(np.float32)

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        state = self.state
        x_dot, theta, theta_dot = state[:, 1], state[:, 2], state[:, 3]
        push = np.where(actions == 1, self.force, -self.force)
        total_mass = self.cart_mass + self.pole_mass
        pole_moment = self.pole_mass * self.half_length
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (push + pole_moment * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.half_length * (4.0 / 3.0 - self.pole_mass * cos**2 / total_mass)
        )
        x_acc = temp - pole_moment * theta_acc * cos / total_mass
        # Euler step from the old values: x += dt x_dot, x_dot += dt x_acc, theta += dt theta_dot, ...
        rates = np.empty_like(state)
        rates[:, 0], rates[:, 1], rates[:, 2], rates[:, 3] = x_dot, x_acc, theta_dot, theta_acc
        rates *= self.dt
        state += rates
        terminated = (np.abs(state[:, 0]) > self.x_limit) | (np.abs(theta) > self.theta_limit)
        return self.rewards, terminated, None


class RepeatPreviousCore(_Core):
    """A random symbol each step; reward 1 when the action names the symbol shown `delay` steps ago."""

    def __init__(self, num_envs: int, symbols: int = 2, delay: int = 1, max_steps: int = 50):
        super().__init__(num_envs, max_steps)
        if symbols < 2 or delay < 0:
            raise ValueError(f"RepeatPrevious needs symbols >= 2 and delay >= 0 (got {symbols}, {delay})")
        self.symbols, self.delay = symbols, delay
        self.observation_space = spaces.Box(0.0, 1.0, (symbols,), dtype=np.float32)
        self.action_space = spaces.Discrete(symbols)
        self.history = np.zeros((num_envs, delay + 1), dtype=np.int64)  # newest symbol last

    def _reset(self, which: np.ndarray) -> None:
        self.history[which] = self.rng.integers(self.symbols, size=(int(which.sum()), self.delay + 1))

    def observe(self) -> np.ndarray:
        return np.eye(self.symbols, dtype=np.float32)[self.history[:, -1]]

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        target = self.history[:, 0]
        scored = self.elapsed >= self.delay  # the first `delay` steps have nothing to repeat
        reward = (scored & (np.asarray(actions) == target)).astype(np.float64)
        self.history = np.roll(self.history, -1, axis=1)
        self.history[:, -1] = self.rng.integers(self.symbols, size=self.num_envs)
        return reward, np.zeros(self.num_envs, dtype=bool), None


class CueRecallCore(_Core):
    """T-maze: step 0 shows a cue (left or right), steps 1 .. cue_distance - 1 show a corridor with
    nothing useful, and step cue_distance the junction: action 0 turns left, 1 right; reward 1 for the
    cued side, 0 otherwise.

    Observation: [cue_left, cue_right, corridor, junction]. An episode lasts cue_distance + 1 steps,
    so a policy can only succeed by carrying the cue across cue_distance steps of its state.
    """

    def __init__(self, num_envs: int, cue_distance: int = 10):
        if cue_distance < 1:
            raise ValueError(f"cue_distance={cue_distance} must be >= 1")
        super().__init__(num_envs, max_steps=cue_distance + 2)  # the junction always ends it first
        self.cue_distance = cue_distance
        self.observation_space = spaces.Box(0.0, 1.0, (4,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.cue = np.zeros(num_envs, dtype=np.int64)

    def _reset(self, which: np.ndarray) -> None:
        self.cue[which] = self.rng.integers(2, size=int(which.sum()))

    def observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, 4), dtype=np.float32)
        at_start = self.elapsed == 0
        at_junction = self.elapsed == self.cue_distance
        obs[at_start, self.cue[at_start]] = 1.0
        obs[~at_start & ~at_junction, 2] = 1.0
        obs[at_junction, 3] = 1.0
        return obs

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        at_junction = self.elapsed == self.cue_distance
        correct = np.asarray(actions) == self.cue
        reward = (at_junction & correct).astype(np.float64)
        return reward, at_junction, correct.astype(np.float64)


class SparseChainCore(_Core):
    """A chain of `length` cells, starting next to the left end. Moving left into cell 0 ends the
    episode with a small `distractor` reward; reaching the right end ends it with reward 1."""

    def __init__(self, num_envs: int, length: int = 40, distractor: float = 0.01, max_steps: int = 60):
        super().__init__(num_envs, max_steps)
        if length < 3:
            raise ValueError(f"length={length} must be >= 3")
        self.length, self.distractor = length, distractor
        self.observation_space = spaces.Box(0.0, 1.0, (length,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.position = np.ones(num_envs, dtype=np.int64)

    def _reset(self, which: np.ndarray) -> None:
        self.position[which] = 1

    def observe(self) -> np.ndarray:
        return np.eye(self.length, dtype=np.float32)[self.position]

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.position = np.clip(self.position + np.where(np.asarray(actions) == 1, 1, -1), 0, self.length - 1)
        at_right = self.position == self.length - 1
        at_left = self.position == 0
        reward = np.where(at_right, 1.0, np.where(at_left, self.distractor, 0.0))
        return reward, at_right | at_left, at_right.astype(np.float64)


_CORES: dict[str, type[_Core]] = {
    "rnnppo/StatelessCartPole-v0": StatelessCartPoleCore,
    "rnnppo/RepeatPrevious-v0": RepeatPreviousCore,
    "rnnppo/CueRecall-v0": CueRecallCore,
    "rnnppo/SparseChain-v0": SparseChainCore,
}


class BatchedEnv(VectorEnv):
    """A core as a gymnasium VectorEnv with SAME_STEP autoreset, like SyncVectorEnv's: when env i
    ends, obs[i] is already its next episode's first observation and the final one is in
    infos["final_obs"][i] (with the mask infos["_final_obs"])."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, core: _Core):
        self.core = core
        self.num_envs = core.num_envs
        self.single_observation_space = core.observation_space
        self.single_action_space = core.action_space
        self.observation_space = batch_space(core.observation_space, core.num_envs)
        self.action_space = batch_space(core.action_space, core.num_envs)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.core.rng = np.random.default_rng(seed)
        self.core.reset_envs(np.ones(self.num_envs, dtype=bool))
        return self.core.observe(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        reward, terminated, truncated, success = self.core.step(np.asarray(actions))
        done = terminated | truncated
        obs = self.core.observe()
        infos: dict[str, Any] = {}
        if done.any():
            final = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final[i] = obs[i].copy()
            infos["final_obs"], infos["_final_obs"] = final, done.copy()
            if success is not None:
                infos["success"], infos["_success"] = np.where(done, success, 0.0), done.copy()
            self.core.reset_envs(done)
            obs = self.core.observe()
        return obs, reward, terminated, truncated, infos


class SingleEnv(gym.Env):
    """One copy of a core as a plain gymnasium Env (what `gym.make` returns for a built-in id)."""

    def __init__(self, core_name: str, **kwargs: Any):
        self.core = _CORES[core_name](1, **kwargs)
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.core.rng = self.np_random
        self.core.reset_envs(np.ones(1, dtype=bool))
        return self.core.observe()[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward, terminated, truncated, success = self.core.step(np.asarray([action]))
        info = {"success": float(success[0])} if success is not None and (terminated | truncated)[0] else {}
        return self.core.observe()[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info


def register() -> None:
    """Register the built-in ids with gymnasium (idempotent)."""
    # gymnasium types an entry point as taking **kwargs only; these take core_name / env_id from `kwargs`
    single, masked = cast(EnvCreator, SingleEnv), cast(EnvCreator, make_masked)
    for env_id in _CORES:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=single, kwargs={"core_name": env_id}, disable_env_checker=True)
    for env_id in MASKED_ENVS:
        if env_id not in gym.registry:
            # the base env brings its own TimeLimit and checker; the wrapper adds neither
            gym.register(id=env_id, entry_point=masked, kwargs={"env_id": env_id}, disable_env_checker=True)


def has_batched(env_id: str) -> bool:
    """Whether make_batched steps this id as one numpy batch."""
    return env_id in _CORES


def make_batched(env_id: str, num_envs: int, seed: int | None, **kwargs: Any) -> VectorEnv | None:
    """A BatchedEnv for a built-in id, or None for any other id. Bad kwargs raise EnvError."""
    core_cls = _CORES.get(env_id)
    if core_cls is None:
        return None
    try:
        core = core_cls(num_envs, **kwargs)
    except (TypeError, ValueError) as err:
        raise EnvError(f"could not create environment '{env_id}' with {kwargs}: {err}") from None
    env = BatchedEnv(core)
    env.reset(seed=seed)
    return env
