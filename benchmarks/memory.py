"""Memory benchmark: does `rnnppo memory` find the memory a trained policy needs, and what does it cost?

    OMP_NUM_THREADS=1 python benchmarks/memory.py                 # both parts, 5 seeds, 2 processes
    python benchmarks/memory.py --part cue --distance 8 --lengths 2,4,8,16 --seeds 5 --steps 100000
    python benchmarks/memory.py --part cartpole --seeds 5

Part "cue": CueRecall with cue distance d, max_seq_len in {2, 4, 8, 16}, one budget. Per run: the greedy
success, the end-of-training memory horizon (summary.json, targets: all steps) and, measured after
training at the junction (--at rewarded, max lag d), the influence at the cue's lag d. A policy that
solves the task must read the cue d steps back, so its influence at lag d should be large.
Part "cartpole": StatelessCartPole, default config: the horizon (velocities from a few positions).
Both report the end-of-training measurement's time as a share of the run's training time.
Prints markdown tables (IQM with a 95% bootstrap interval over seeds); asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

from learning import cue_overrides  # benchmarks/learning.py: this script runs as benchmarks/memory.py

from rnnppo.core.analysis.memory import measure_run
from rnnppo.core.config import build_config, parse_overrides
from rnnppo.core.runs.trainer import train
from rnnppo.results.stats import bootstrap_ci, iqm


def run_one(job: tuple[dict, int, int | None]) -> dict:
    import torch

    torch.set_num_threads(1)
    overrides, seed, cue_lag = job
    config = build_config(overrides, seed=seed)
    began = time.perf_counter()
    result = train(config)
    summary = result.summary
    row = {
        "overrides": overrides,
        "seed": seed,
        "eval": summary["eval_return_mean"],
        "success": summary.get("eval_success_mean"),
        "horizon": summary["memory_horizon"],
        "horizon_text": summary["memory"]["horizon_text"],  # ">= K": nothing past lag K could be seen
        "horizon_interval": summary["memory_horizon_interval"],
        "memory_share": summary["memory"]["time_s"] / summary["train_time_s"],
        "train_time": summary["train_time_s"],
        "wall": time.perf_counter() - began,
    }
    if cue_lag is not None:
        at_junction = measure_run(result.policy, config, 64, max_lag=cue_lag, at="rewarded", seed=seed + 17)
        row["cue_influence"] = at_junction.influence[cue_lag]
        row["cue_influence_lo"] = at_junction.influence_lo[cue_lag]
        row["junction_horizon"] = at_junction.horizon
    return row


def run_all(jobs: list[tuple[dict, int, int | None]], processes: int) -> list[dict]:
    with mp.get_context("spawn").Pool(processes) as pool:
        return pool.map(run_one, jobs)


def summary(values: list[float], digits: int = 1) -> str:
    """IQM [95% bootstrap interval] over seeds."""
    interval = bootstrap_ci(values)
    if not interval.meaningful:
        return f"{iqm(values):.{digits}f}"
    return f"{iqm(values):.{digits}f} [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


def cue(seeds: int, steps: int, processes: int, distance: int, lengths: list[int], extra: list[str]) -> None:
    jobs = []
    for length in lengths:
        jobs += [(cue_overrides(steps, distance, length, extra), s, distance) for s in range(seeds)]
    results = run_all(jobs, processes)
    print(
        f"\n## CueRecall-v0, cue distance {distance}, {steps:,} env steps, {seeds} seeds"
        f"{' + ' + ' '.join(extra) if extra else ''}"
    )
    print(
        "| max_seq_len | success (50 greedy episodes) | per seed | memory horizon (all steps) | horizons per seed | "
        f"influence at lag {distance} (junction) | per seed | horizon at the junction | measurement / training time |"
    )
    print("|---:|---|---|---|---|---|---|---|---:|")
    for length in lengths:
        rows = [r for r in results if r["overrides"]["max_seq_len"] == length]
        successes = [r["success"] if r["success"] is not None else r["eval"] for r in rows]
        influences = ", ".join(f"{r['cue_influence']:.2f}" for r in rows)
        print(
            f"| {length} | {summary(successes, 2)} | {', '.join(f'{x:.2f}' for x in successes)} | "
            f"{summary([r['horizon'] for r in rows])} | "
            f"{', '.join(r['horizon_text'] for r in rows)} | {summary([r['cue_influence'] for r in rows], 3)} | "
            f"{influences} | "
            f"{summary([r['junction_horizon'] for r in rows])} | "
            f"{100 * max(r['memory_share'] for r in rows):.1f}% max |"
        )


def cartpole(seeds: int, steps: int, processes: int, extra: list[str]) -> None:
    overrides = {
        "env": "rnnppo/StatelessCartPole-v0",
        "total_steps": steps,
        "eval_episodes": 20,
        **parse_overrides(extra),
    }
    results = run_all([(overrides, s, None) for s in range(seeds)], processes)
    print(f"\n## StatelessCartPole-v0, default config (max_seq_len 16), {steps:,} env steps, {seeds} seeds")
    print("| seed | eval return | memory horizon [interval] | measurement s | training s | measurement / training |")
    print("|---:|---:|---|---:|---:|---:|")
    for r in results:
        low, high = r["horizon_interval"]
        print(
            f"| {r['seed']} | {r['eval']:.1f} | {r['horizon_text']} [{low}, {high}] | "
            f"{r['memory_share'] * r['train_time']:.1f} | {r['train_time']:.0f} | {100 * r['memory_share']:.1f}% |"
        )
    horizons, returns = [r["horizon"] for r in results], [r["eval"] for r in results]
    print(f"\nhorizon IQM {summary(horizons)}; eval return IQM {summary(returns)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "cartpole", "cue"), default="all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--distance", type=int, default=8)
    parser.add_argument("--lengths", default="2,4,8,16")
    parser.add_argument("overrides", nargs="*", help="extra NAME=VALUE settings for every run")
    args = parser.parse_args()
    if args.part in ("all", "cue"):
        cue(
            args.seeds,
            args.steps,
            args.processes,
            args.distance,
            [int(x) for x in args.lengths.split(",")],
            args.overrides,
        )
    if args.part in ("all", "cartpole"):
        cartpole(args.seeds, args.steps, args.processes, args.overrides)


if __name__ == "__main__":
    main()
