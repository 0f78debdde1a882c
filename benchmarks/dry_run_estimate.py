"""`rnnppo sweep --dry-run`'s time estimate against the real sweep, with --jobs 1 and 2.

    python benchmarks/dry_run_estimate.py
    python benchmarks/dry_run_estimate.py --steps 8192 --seeds 3 --jobs 1,2,4

A small grid (3 trials of cell=8,16,32 on rnnppo/StatelessCartPole-v0) with --seeds seeds. For each
--jobs value: the estimate as the dry run computes it (its probe: one iteration of the first point, with
its evaluation), the old estimate (all runs divided by jobs), and the wall time of the same sweep run for
real through the CLI in a fresh process and a fresh results folder (process start and the workers'
imports included: the estimate leaves them out). Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
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


def plan_for(args: argparse.Namespace, jobs: int, out: Path):
    from rnnppo.cli.sweep_cmd import _build_spec
    from rnnppo.sweeps.plan import make_plan

    spec = _build_spec(
        [*SPACE, *BASE],
        env=ENV,
        steps=args.steps,
        trials=None,
        seeds=args.seeds,
        jobs=jobs,
        study="estimate",
        storage=None,
        out=out,
        sampler="auto",
        sampler_seed=0,
        pruner="none",
        timeout=None,
        trial_timeout=None,
        objective="final",
        warm_start=None,
        device=None,
        config_file=None,
        wrapper=None,
    )
    return make_plan(spec)


def real_sweep(args: argparse.Namespace, jobs: int, out: Path) -> float:
    command = [sys.executable, "-c", "from rnnppo.cli.app import main; main()", "sweep", *SPACE, *BASE]
    command += ["--env", ENV, "--steps", str(args.steps), "--seeds", str(args.seeds), "--jobs", str(jobs)]
    command += ["--out", str(out), "--study", "estimate"]
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
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
    print("| --jobs | estimate (s) | old estimate: runs / jobs (s) | real sweep (s) | real / estimate |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for jobs in (int(j) for j in args.jobs.split(",")):
        with tempfile.TemporaryDirectory(prefix="rnnppo-estimate-") as folder:
            plan = plan_for(args, jobs, Path(folder) / "probe")
            estimate = plan.estimated_seconds(jobs)
            per_run = plan.env_steps / plan.runs / plan.probe_steps_per_s + (plan.probe_overhead_s or 0.0)
            old = per_run * plan.runs / jobs
            real = real_sweep(args, jobs, Path(folder) / "real")
        print(f"| {jobs} | {estimate:.0f} | {old:.0f} | {real:.0f} | {real / estimate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
