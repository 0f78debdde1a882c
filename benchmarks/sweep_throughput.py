"""Sweep throughput: trials per hour of the same small grid with --jobs 1 and --jobs 2.

    python benchmarks/sweep_throughput.py                  # 4-point grid, 1 seed, 20k env steps per run

Each sweep runs in a fresh results folder through the real CLI (one process per job, SQLite storage).
Prints a table and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep(jobs: int, steps: int, grid: list[str]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-c",
            "from rnnppo.cli.app import main; main()",
            "sweep",
            *grid,
            "--env",
            "rnnppo/StatelessCartPole-v0",
            "--steps",
            str(steps),
            "--jobs",
            str(jobs),
            "--out",
            str(Path(folder) / "results"),
            "eval_episodes=5",
        ]
        began = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--grid", nargs="*", default=["seq_len=4,16", "cell=32,64"])
    args = parser.parse_args()
    trials = 1
    for word in args.grid:
        trials *= len(word.split("=", 1)[1].split(","))
    rows = {jobs: sweep(jobs, args.steps, args.grid) for jobs in (1, 2)}
    print(f"\n## Sweep throughput: grid {' '.join(args.grid)} ({trials} trials), {args.steps:,} env steps each")
    print("| --jobs | wall s | trials per hour |")
    print("|---:|---:|---:|")
    for jobs, wall in rows.items():
        print(f"| {jobs} | {wall:.1f} | {3600 * trials / wall:,.0f} |")
    print(f"\n--jobs 2 / --jobs 1 trials per hour: {rows[1] / rows[2]:.2f}x")


if __name__ == "__main__":
    main()
