"""What a policy that learned nothing scores on an env: a uniformly random policy's episode returns.

A sweep measures this once per study (the same env, kwargs and wrappers as its runs) so that a report
can say "nothing learned" when no configuration scores above it. Like evaluation, each env copy's
first episode counts (short episodes are not favoured); env copies are seeded from `seed`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from rnnppo.core.config import TrainConfig
from rnnppo.core.envs.make import ended_successes, make_vector_env

EPISODES = 100
MAX_STEPS = 10_000
"""Steps per env copy: episodes still running then are not counted (the count says so)."""
BATCH = 64
ACTION_STREAM = 1
"""Spawn key of the random actions' seed, apart from the env's."""
TIME_BUDGET_S = 20.0
"""A slow env gets fewer episodes rather than a slow sweep start (the count says how many)."""


def random_policy_returns(
    config: TrainConfig,
    episodes: int = EPISODES,
    seed: int = 2_718_281,
    max_steps: int = MAX_STEPS,
    time_budget_s: float = TIME_BUDGET_S,
) -> dict[str, Any]:
    """Mean (and standard error) of the episode return of uniformly random actions over `episodes`
    episodes (fewer when `time_budget_s` runs out), with the success rate where the env reports
    `info["success"]`."""
    returns: list[float] = []
    successes: list[float] = []
    unfinished = 0
    rounds = 0
    deadline = time.monotonic() + time_budget_s
    while len(returns) + unfinished < episodes and time.monotonic() < deadline:
        n = min(episodes - len(returns) - unfinished, BATCH)
        env = make_vector_env(config, n, seed + 7919 * rounds)
        try:
            space = env.single_action_space
            # Not the env's seed: a built-in env draws its symbols from default_rng(seed) too, and actions from
            # the same stream copy its symbols (RepeatPrevious's "random" policy scored 39.6 of 49, not 24.5).
            space.seed(int(np.random.SeedSequence([seed, rounds, ACTION_STREAM]).generate_state(1)[0]))
            total = np.zeros(n)  # [n] return of each copy's first episode so far
            finished = np.zeros(n, dtype=bool)
            for _ in range(max_steps):
                actions = np.stack([np.asarray(space.sample()) for _ in range(n)])  # [n, ...]
                _, reward, terminated, truncated, infos = env.step(actions)
                done = np.logical_or(terminated, truncated)
                total += np.where(finished, 0.0, np.asarray(reward, dtype=float))
                success = dict(ended_successes(infos, done))
                for i in np.flatnonzero(done & ~finished).tolist():
                    returns.append(float(total[i]))
                    if i in success:
                        successes.append(float(success[i]))
                finished |= done
                if finished.all() or time.monotonic() > deadline:
                    break
            unfinished += int((~finished).sum())
        finally:
            env.close()
        rounds += 1
    values = np.asarray(returns, dtype=float)
    return {
        "policy": "uniform random",
        "episodes": int(values.size),
        "unfinished": unfinished,
        "mean_return": float(values.mean()) if values.size else None,
        "sem_return": float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else None,
        "success_mean": float(np.mean(successes)) if successes else None,
        "seed": seed,
    }
