"""Sync vs async env stepping: rollout steps/s side by side as the env's step gets costlier.

    python benchmarks/async_envs.py                       # 8 envs, 2 env workers
    python benchmarks/async_envs.py --workers 4 --costs 0,100,400

Rows: CartPole-v1 (a cheap step) plus `BusyStep(cost_us=C)`, which keeps the CPU busy for C more
microseconds per step as a costlier simulator would, over --costs; then MiniGrid-MemoryS7-v0 with its
image wrapper (`minigrid:MiniGrid-MemoryS7-v0` + `minigrid.wrappers:ImgObsWrapper`), as it is and with
the largest extra cost. "env step" is one env's step alone, measured (median of 2,000 random steps).
Each speed is the median of --repeats rollouts of --steps steps per env by the untrained policy (the
Collector the trainer uses, 1 torch thread), after one warm-up rollout; sync and async take turns.
`overlap` (vector_mode=overlap) steps the envs in two halves, each with half the env workers, one half's
policy step computed while the other half's envs step; it is set against the tighter of two bounds measured
in the same sitting: the N envs stepped alone (in this process, random actions) and the policy's one-step
forward + sampling alone on a batch of N. Break-even: the cheapest env step from which async is faster on
every costlier row. Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")


class BusyStep(gym.Wrapper):
    """Adds `cost_us` microseconds of CPU work to every step (a spin, not a sleep: a sleeping env would
    leave the core free, a real simulator does not)."""

    def __init__(self, env: gym.Env, cost_us: float = 0.0):
        super().__init__(env)
        self.cost_s = cost_us / 1e6

    def step(self, action):
        until = time.perf_counter() + self.cost_s
        while time.perf_counter() < until:
            pass
        return self.env.step(action)


def config_for(env: str, wrappers: tuple[str, ...], cost_us: float, mode: str, args: argparse.Namespace):
    from rnnppo.core.config import TrainConfig

    return TrainConfig(
        env=env,
        wrappers=(*wrappers, f"benchmarks.async_envs:BusyStep(cost_us={cost_us})"),
        num_envs=args.envs,
        vector_mode=mode,
        env_workers=args.workers,
    )


def step_cost_us(config) -> float:
    from rnnppo.core.envs.make import env_factory

    env = env_factory(config)()
    env.reset(seed=0)
    times = []
    for _ in range(2000):
        action = env.action_space.sample()
        began = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        times.append(time.perf_counter() - began)
        if terminated or truncated:
            env.reset()
    env.close()
    return statistics.median(times) * 1e6


def rollout_speeds(configs: list, args: argparse.Namespace) -> list[float]:
    """Median steps/s of each config's rollouts; the configs take turns, repeat by repeat, so a change in
    the machine's load falls on all of them alike."""
    import torch

    from rnnppo.core.envs.make import describe_spaces, make_env_halves
    from rnnppo.core.model import build_policy
    from rnnppo.core.rollout import collector_for

    torch.set_num_threads(1)
    collectors: list = []
    envs: list = []
    try:
        for config in configs:
            torch.manual_seed(0)
            policy, head, _ = build_policy(config, *describe_spaces(config))
            made = make_env_halves(config, config.num_envs, seed=0)  # the trainer's choice: halves for overlap
            envs += made
            options = dict(frame_stack=config.frame_stack, device=torch.device("cpu"))
            collectors.append(collector_for(made, policy, head, **options))
            collectors[-1].collect(args.steps)  # warm-up
        speeds: list[list[float]] = [[] for _ in configs]
        for _ in range(args.repeats):
            for collector, out in zip(collectors, speeds, strict=True):
                began = time.perf_counter()
                collector.collect(args.steps)
                out.append(args.steps * args.envs / (time.perf_counter() - began))
    finally:
        for env in envs:
            env.close()
    return [statistics.median(out) for out in speeds]


def bounds(config, seconds: float = 2.0) -> tuple[float, float]:
    """(env-only, forward-only) steps/s: the N envs stepped in this process with random actions, and the
    policy's one-step forward + sampling on a batch of N (speed.py's bounds, measured by its functions)."""
    import torch
    from speed import env_only_rate, forward_only_rate  # benchmarks/ is on sys.path (this script's folder)

    from rnnppo.core.envs.make import describe_spaces
    from rnnppo.core.model import RolloutStep, build_policy

    sync = config.replace(vector_mode="sync")
    policy, head, obs_dim = build_policy(sync, *describe_spaces(sync))
    forward = forward_only_rate(RolloutStep(policy), policy, head, obs_dim, sync.num_envs, torch.device("cpu"), seconds)
    return env_only_rate(sync, seconds), forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=128, help="steps per env per rollout")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--costs", default="0,25,50,100,200,400,800", help="extra us per env step")
    args = parser.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])  # `benchmarks.async_envs` importable in the workers
    costs = [float(c) for c in args.costs.split(",")]

    import torch

    print(
        f"machine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} usable cores, "
        f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}; "
        f"{args.envs} envs, async with {args.workers} env workers; "
        f"rollouts of {args.steps} steps per env, median of {args.repeats}\n"
    )
    print(
        "| env | env step (us) | sync steps/s | async steps/s | async / sync | overlap steps/s | overlap / sync "
        "| tighter bound (env, forward) | overlap / tighter |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = [("CartPole-v1", (), cost) for cost in costs]
    rows += [("minigrid:MiniGrid-MemoryS7-v0", ("minigrid.wrappers:ImgObsWrapper",), cost) for cost in (0, costs[-1])]
    wins: list[tuple[float, bool]] = []  # (env step us, async faster?) of the CartPole rows
    for env, wrappers, cost in rows:
        sync_config = config_for(env, wrappers, cost, "sync", args)
        step_us = step_cost_us(sync_config)
        modes = [sync_config, *(config_for(env, wrappers, cost, mode, args) for mode in ("async", "overlap"))]
        sync, async_, overlap = rollout_speeds(modes, args)
        env_rate, forward_rate = bounds(sync_config)
        tighter = min(env_rate, forward_rate)
        if not wrappers:
            wins.append((step_us, async_ > sync))
        label = env.split(":")[-1] + (" + image wrapper" if wrappers else "") + (f" + {cost:g} us" if cost else "")
        print(
            f"| {label} | {step_us:,.0f} | {sync:,.0f} | {async_:,.0f} | {async_ / sync:.2f} | {overlap:,.0f} "
            f"| {overlap / sync:.2f} | {tighter:,.0f} ({env_rate:,.0f}, {forward_rate:,.0f}) "
            f"| {overlap / tighter:.0%} |",
            flush=True,
        )
    # break-even: the cheapest step from which async wins on every costlier CartPole row too
    break_even = next((step for i, (step, _) in enumerate(wins) if all(won for _, won in wins[i:])), None)
    where = "no step cost measured here" if break_even is None else f"an env step of about {break_even:,.0f} us"
    print(f"\nasync is faster from {where} on (the cheapest row from which it wins on every costlier one).")


if __name__ == "__main__":
    main()
