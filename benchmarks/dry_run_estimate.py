"""`rnnppo sweep --dry-run`'s time estimate against the real sweep, with --jobs 1 and 2.

    python benchmarks/dry_run_estimate.py
    python benchmarks/dry_run_estimate.py --steps 8192 --seeds 3 --jobs 1,2,4

A small grid (3 trials of cell=8,16,32 on rnnppo/StatelessCartPole-v0) with --seeds seeds. For each
--jobs value: the estimate as the dry run computes it (its probe: one iteration of the first point, with
its evaluation, and the start-up of the command and its workers), the old rule (all runs' env steps at
the probe's speed, divided by jobs), and the wall time of the same sweep run for
real through the CLI in a fresh process and a fresh results folder (process start and the workers'
imports included: the estimate leaves them out). Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

SPACE = ["cell=8,16,32"]
BASE = ["num_envs=8", "rollout_len=64", "fcnet_hiddens=[32]", "num_epochs=2", "eval_episodes=5"]
ENV = "rnnppo/StatelessCartPole-v0"


def cli(words: list[str]) -> list[str]:
    return [sys.executable, "-c", "from rnnppo.cli.app import main; main()", *words]


def sweep_words(args: argparse.Namespace, jobs: int, out: Path) -> list[str]:
    words = ["sweep", *SPACE, *BASE, "--env", ENV, "--steps", str(args.steps), "--seeds", str(args.seeds)]
    return [*words, "--jobs", str(jobs), "--out", str(out), "--study", "estimate"]


def dry_run(args: argparse.Namespace, jobs: int, out: Path) -> tuple[float, float]:
    """(the dry run's estimate in seconds, what the old rule (all runs / jobs) gives from its probe)."""
    result = subprocess.run(
        cli([*sweep_words(args, jobs, out), "--dry-run"]),
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},  # one line, not wrapped
    )
    line = next(line for line in result.stdout.splitlines() if "probe iteration" in line)
    match = re.search(r"about [0-9.]+ \w+ \(([0-9,]+) s\)", line) or re.search(r"about ([0-9,]+) s", line)
    if match is None:
        raise SystemExit(f"no estimate in: {line}")
    estimate = float(match.group(1).replace(",", ""))
    steps_per_s = float(re.search(r"iteration: ([0-9,]+) env steps/s", line).group(1).replace(",", ""))
    runs = 3 * args.seeds
    return estimate, runs * args.steps / steps_per_s / jobs


def real_sweep(args: argparse.Namespace, jobs: int, out: Path) -> float:
    began = time.perf_counter()
    subprocess.run(cli(sweep_words(args, jobs, out)), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--jobs", default="1,2")
    args = parser.parse_args()

    import torch

    print(
        f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} usable cores, "
        f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}; 3 trials x {args.seeds} seeds, "
        f"{args.steps:,} env steps per run\n"
    )
    print("| --jobs | estimate (s) | old rule: all runs' steps / jobs (s) | real sweep (s) | real / estimate |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for jobs in (int(j) for j in args.jobs.split(",")):
        with tempfile.TemporaryDirectory(prefix="rnnppo-estimate-") as folder:
            estimate, old = dry_run(args, jobs, Path(folder) / "probe")
            real = real_sweep(args, jobs, Path(folder) / "real")
        print(f"| {jobs} | {estimate:.0f} | {old:.0f} | {real:.0f} | {real / estimate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
