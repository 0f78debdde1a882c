"""Learning benchmarks: does the default config solve the built-in memory tasks, and does max_seq_len matter?

    python benchmarks/learning.py                     # both parts, 3 seeds, 2 processes
    python benchmarks/learning.py --part cartpole --seeds 3
    python benchmarks/learning.py --part cue --steps 150000

Part "cartpole": StatelessCartPole, default config, 300k env steps; target mean evaluation return >= 475.
Part "cue": CueRecall with cue distance 10, max_seq_len in {2, 4, 8, 16} at one budget; target success
>= 0.9 with max_seq_len=16 and clearly lower with 2. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

from rnnppo.core.config import build_config, parse_overrides
from rnnppo.core.runs.trainer import train


def run_one(job: tuple[dict, int]) -> dict:
    overrides, seed = job
    config = build_config(overrides, seed=seed)
    began = time.perf_counter()
    result = train(config)
    summary = result.summary
    return {
        "overrides": overrides,
        "seed": seed,
        "eval": summary["eval_return_mean"],
        "success": summary.get("eval_success_mean"),
        "train": summary["final_train_return"],
        "steps_per_s": summary["steps_per_s"],
        "wall": time.perf_counter() - began,
        "seq_len_mean": summary["lstm_saw"]["seq_len_mean"],
    }


def run_all(jobs: list[tuple[dict, int]], processes: int) -> list[dict]:
    with mp.get_context("spawn").Pool(processes) as pool:
        return pool.map(run_one, jobs)


def iqm(values: list[float]) -> float:
    from rnnppo.results.stats import iqm as stats_iqm

    return stats_iqm(values)


def cartpole(seeds: int, steps: int, processes: int, extra: list[str]) -> None:
    overrides = {
        "env": "rnnppo/StatelessCartPole-v0",
        "total_steps": steps,
        "eval_episodes": 20,
        **parse_overrides(extra),
    }
    results = run_all([(overrides, s) for s in range(seeds)], processes)
    print(f"\n## StatelessCartPole-v0, default config{' + ' + ' '.join(extra) if extra else ''}, {steps:,} env steps")
    print("| seed | eval return (20 episodes, greedy) | train return (last 100) | env steps/s | wall s |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['seed']} | {r['eval']:.1f} | {r['train']:.1f} | {r['steps_per_s']:,.0f} | {r['wall']:.0f} |")
    evals = [r["eval"] for r in results]
    print(
        f"\nmean eval return {statistics.fmean(evals):.1f}, IQM {iqm(evals):.1f}, min {min(evals):.1f} "
        f"(target: mean >= 475) -> {'PASS' if statistics.fmean(evals) >= 475 else 'FAIL'}"
    )


def cue_overrides(steps: int, distance: int, length: int, extra: list[str]) -> dict:
    """The CueRecall benchmark configuration (cue distance, budget, max_seq_len; 50 evaluation episodes)."""
    return {
        "env": "rnnppo/CueRecall-v0",
        "env_kwargs": {"cue_distance": distance},
        "total_steps": steps,
        "max_seq_len": length,
        "eval_episodes": 50,
        **parse_overrides(extra),
    }


def cue(seeds: int, steps: int, processes: int, distance: int, lengths: list[int], extra: list[str]) -> None:
    jobs = []
    for length in lengths:
        jobs += [(cue_overrides(steps, distance, length, extra), s) for s in range(seeds)]
    results = run_all(jobs, processes)
    print(
        f"\n## CueRecall-v0, cue distance {distance}, {steps:,} env steps, {seeds} seeds"
        f"{' + ' + ' '.join(extra) if extra else ''}"
    )
    print("| max_seq_len | success per seed (50 greedy episodes) | mean success | mean real seq len | env steps/s |")
    print("|---:|---|---:|---:|---:|")
    for length in lengths:
        rows = [r for r in results if r["overrides"]["max_seq_len"] == length]
        successes = [r["success"] if r["success"] is not None else r["eval"] for r in rows]
        print(
            f"| {length} | {', '.join(f'{s:.2f}' for s in successes)} | {statistics.fmean(successes):.2f} | "
            f"{statistics.fmean(r['seq_len_mean'] for r in rows):.1f} | "
            f"{statistics.fmean(r['steps_per_s'] for r in rows):,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "cartpole", "cue"), default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default 300k / 200k)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--distance", type=int, default=10)
    parser.add_argument("--lengths", default="2,4,8,16")
    parser.add_argument("overrides", nargs="*", help="extra NAME=VALUE settings for every run")
    args = parser.parse_args()
    if args.part in ("all", "cartpole"):
        cartpole(args.seeds, args.steps or 300_000, args.processes, args.overrides)
    if args.part in ("all", "cue"):
        cue(
            args.seeds,
            args.steps or 200_000,
            args.processes,
            args.distance,
            [int(x) for x in args.lengths.split(",")],
            args.overrides,
        )


if __name__ == "__main__":
    main()
