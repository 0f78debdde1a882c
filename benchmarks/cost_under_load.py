"""Cost under load: one configuration's cost measured alone and beside a one-core CPU hog, as the
report measures it (CPU seconds per env step, the median over iterations) and as wall time measures it.

    python benchmarks/cost_under_load.py                  # CueRecall, 20k env steps, 3 seeds
    python benchmarks/cost_under_load.py --steps 40000 --seeds 5 max_seq_len=4

Each seed trains alone, then again with a busy-loop process started beside it (one core's worth of
load). Prints a markdown table: per condition the mean over seeds of CPU µs per env step and of env
steps per second (wall clock), and the ratio hog / alone. The CPU-time ratio is the number the report's
"cheaper" claims rest on; the wall-clock ratio shows what they used to rest on. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import time

import torch

from rnnppo.core.config import TrainConfig, parse_overrides
from rnnppo.core.runs.trainer import train


def _hog(stop: mp.Event) -> None:  # type: ignore[valid-type]
    """Keep one core busy until told to stop."""
    count = 0
    while not stop.is_set():
        for _ in range(100_000):
            count += 1


def measure(config: TrainConfig, seeds: int, hog: bool) -> tuple[list[float], list[float]]:
    """CPU µs per env step and wall env steps/s of each seed, with or without a hog beside it."""
    cpu, speed = [], []
    for seed in range(seeds):
        stop = mp.Event()
        process = mp.Process(target=_hog, args=(stop,), daemon=True) if hog else None
        if process is not None:
            process.start()
            time.sleep(0.5)  # let it take its core before training starts
        try:
            summary = train(config.replace(seed=seed)).summary
        finally:
            if process is not None:
                stop.set()
                process.join(timeout=10)
        cpu.append(1e6 * summary["cpu_s_per_step"])
        speed.append(summary["steps_per_s"])
    return cpu, speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="NAME=VALUE settings of the configuration")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {
        "env": "rnnppo/CueRecall-v0",
        "env_kwargs": {"cue_distance": 10},
        "total_steps": args.steps,
        "eval_episodes": 0,
        "num_threads": 1,
        **parse_overrides(args.overrides),
    }
    config = TrainConfig.from_dict(settings)
    alone_cpu, alone_speed = measure(config, args.seeds, hog=False)
    hog_cpu, hog_speed = measure(config, args.seeds, hog=True)
    mean = statistics.fmean
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs visible, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} at the end; {args.steps:,} env steps x {args.seeds} seeds, "
        f"{' '.join(args.overrides) or 'default settings'} on {config.env} {dict(config.env_kwargs)}\n"
    )
    print("| cost | alone | beside a 1-core CPU hog | hog / alone |")
    print("|---|---|---|---|")
    print(
        f"| CPU µs per env step (report's cost) | {mean(alone_cpu):,.1f} ± {statistics.stdev(alone_cpu):.1f} | "
        f"{mean(hog_cpu):,.1f} ± {statistics.stdev(hog_cpu):.1f} | {mean(hog_cpu) / mean(alone_cpu):.3f} |"
        if args.seeds > 1
        else f"| CPU µs per env step | {mean(alone_cpu):,.1f} | {mean(hog_cpu):,.1f} | "
        f"{mean(hog_cpu) / mean(alone_cpu):.3f} |"
    )
    print(
        f"| env steps/s, wall clock | {mean(alone_speed):,.0f} | {mean(hog_speed):,.0f} | "
        f"{mean(hog_speed) / mean(alone_speed):.3f} |"
    )


if __name__ == "__main__":
    main()
