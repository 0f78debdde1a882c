"""The update's conv encoder on real steps only, against every padded row: one epoch of the update's
forward and backward (train_outputs, a loss over real steps, backward) on a MiniGrid-MemoryS7-shaped
rollout, the two ways alternating in one process.

    python benchmarks/update_padding.py [--rounds 7] [--episode 5,8]

The policy is the `minigrid-memory` preset's (Dict observation: 7x7x3 image one-hot into 33 planes and a
direction; conv, encoder [64], LSTM 128, head [64], separate critic); the rollout is 16 envs x 128 steps
cut at max_seq_len 16 with episodes of `--episode` steps (uniform; MemoryS7's last iterations had 5 to 8)
and a `--long` share of 16..64 steps (a policy that still wanders now and then),
observations drawn as valid codes. Single-threaded, as the trainer runs by default. Prints the padded
share of rows, the median time of each way and their ratio (each round's pair taken back to back).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _timing import alternate, median

from rnnppo.core.config import build_config
from rnnppo.core.envs.make import describe_spaces
from rnnppo.core.model import build_policy
from rnnppo.core.presets import load_preset
from rnnppo.core.sequences import chunk, plan_minibatches


def rollout_starts(
    num_steps: int, num_envs: int, low: int, high: int, long_share: float, rng: np.random.Generator
) -> np.ndarray:
    """[T, N] episode starts for episodes of low..high steps (uniform), or with probability `long_share` of
    16..64 steps (a wandering episode), each env at a random phase."""
    starts = np.zeros((num_steps, num_envs), dtype=bool)
    for n in range(num_envs):
        t = -int(rng.integers(0, high))
        while t < num_steps:
            if t >= 0:
                starts[t, n] = True
            t += int(rng.integers(16, 65)) if rng.random() < long_share else int(rng.integers(low, high + 1))
    return starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--episode", default="5,8", help="episode length range LOW,HIGH in steps")
    parser.add_argument("--long", type=float, default=0.05, help="share of episodes of 16..64 steps")
    args = parser.parse_args()
    low, high = (int(x) for x in args.episode.split(","))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = build_config(load_preset("minigrid-memory").settings)
    obs_space, action_space = describe_spaces(config)
    policy, head, obs_dim = build_policy(config, obs_space, action_space)
    rng = np.random.default_rng(0)
    seqs = chunk(rollout_starts(config.rollout_len, config.num_envs, low, high, args.long, rng), config.max_seq_len)
    rows = config.rollout_len * config.num_envs
    # the flat layout: direction one-hot (4), then the 7x7x3 image of codes below 11 (the text part is dropped)
    flat = torch.cat([torch.zeros(rows, 4), torch.randint(0, 11, (rows, 147)).float()], dim=1)
    assert flat.shape[1] == obs_dim
    obs = seqs.pad(flat)  # [S, L, O]
    actions = seqs.pad(torch.randint(0, 7, (rows, 1)))  # [S, L, 1]: one discrete action per step
    prev_a = torch.zeros(*obs.shape[:2], head.prev_action_dim)
    prev_r = torch.zeros(obs.shape[:2])
    state = torch.zeros(seqs.num_seqs, policy.state_size)
    plan = plan_minibatches(seqs.seq_lens, config.minibatch_size, torch.Generator().manual_seed(0))

    def epoch(real_rows_only: bool) -> dict[str, float]:
        started = time.perf_counter()
        for first, stop, length in plan.bounds:
            members = plan.order[first:stop]
            mask = seqs.mask[members, :length]
            dist, values = policy.train_outputs(
                obs[members, :length],
                prev_a[members, :length],
                prev_r[members, :length],
                state[members],
                valid=mask if real_rows_only else None,
            )
            logp, _ = head.log_prob_and_entropy(dist, policy.log_std, actions[members, :length], True)
            policy.zero_grad(set_to_none=True)
            torch.where(mask, logp + values, 0.0).sum().backward()
        return {"s": time.perf_counter() - started}

    runs = alternate({"every row": lambda: epoch(False), "real rows only": lambda: epoch(True)}, args.rounds)
    every = [r["s"] for r in runs["every row"]]
    real = [r["s"] for r in runs["real rows only"]]
    padded_rows = sum((stop - first) * length for first, stop, length in plan.bounds)
    padded = 1 - rows / padded_rows  # the minibatches' rows: each padded to its own longest sequence
    print(
        f"{seqs.num_seqs} sequences of at most {config.max_seq_len} steps; {padded:.0%} of the minibatches' rows padded"
    )
    print("| conv encoder runs on | median ms per epoch | per round |")
    print("|---|---:|---|")
    print(f"| every row | {median(every) * 1000:.0f} | {', '.join(f'{x * 1000:.0f}' for x in every)} |")
    print(f"| real rows only | {median(real) * 1000:.0f} | {', '.join(f'{x * 1000:.0f}' for x in real)} |")
    ratios = [a / b for a, b in zip(every, real, strict=True)]
    print(f"every row / real rows only: median of the rounds' ratios {median(ratios):.2f}x")


if __name__ == "__main__":
    main()
