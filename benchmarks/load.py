"""Load benchmark: a SQLite study of many tiny real trials. Does it finish, does `report` stay fast, and does
a worker's memory stay flat from trial to trial (no leak per trial)?

    python benchmarks/load.py                    # 1,000 trials, --jobs 2
    python benchmarks/load.py --trials 200 --jobs 1

Each trial trains the tiniest real configuration (CueRecall with cue distance 1, 32 env steps, a
4-wide encoder, 2 cells) and evaluates one episode. Worker RSS is read (psutil) when the count of
finished trials passes 100 and at the end; finished trials are counted from their summary files, so
the probe never takes the database lock. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

TINY = [
    "lr=1e-4..1e-2:log",
    "env.cue_distance=1",
    "num_envs=1",
    "rollout_len=32",
    "fcnet_hiddens=[4]",
    "cell=2",
    "minibatch_size=32",
    "num_epochs=1",
    "eval_episodes=1",
]


def worker_rss_mb(process: psutil.Process) -> list[float]:
    try:
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    sizes = []
    for child in children:
        try:
            sizes.append(child.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            pass
    return sorted(sizes, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--checkpoint", type=int, default=100, help="also read RSS when this many trials are done")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        command = [
            sys.executable,
            "-c",
            "from rnnppo.cli.app import main; main()",
            "sweep",
            *TINY,
            "--env",
            "rnnppo/CueRecall-v0",
            "--steps",
            "32",
            "--sampler",
            "random",
            "--trials",
            str(args.trials),
            "--jobs",
            str(args.jobs),
            "--study",
            "load",
            "--out",
            str(out),
        ]
        began = time.perf_counter()
        sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        probe = psutil.Process(sweep.pid)
        readings: dict[str, tuple[int, float, list[float]]] = {}
        last: tuple[int, float, list[float]] = (0, 0.0, [])
        while sweep.poll() is None:
            done = sum(1 for _ in (out / "load").glob("*/0/summary.json")) if (out / "load").exists() else 0
            sizes = [size for size in worker_rss_mb(probe) if size > 100]  # workers, not the resource tracker
            if len(sizes) >= args.jobs:
                last = (done, time.perf_counter() - began, sizes)
                if done >= args.checkpoint and "first" not in readings:
                    readings["first"] = last
            time.sleep(0.5)
        wall = time.perf_counter() - began
        readings["last"] = last
        errors = sweep.stderr.read() if sweep.stderr else ""
        if sweep.returncode != 0:
            print(f"sweep exited {sweep.returncode}: {errors.strip()[-2000:]}")

        report_began = time.perf_counter()
        report = subprocess.run(
            [sys.executable, "-c", "from rnnppo.cli.app import main; main()", "report", str(out), "--study", "load"],
            capture_output=True,
            text=True,
        )
        report_s = time.perf_counter() - report_began
        finished = sum(1 for _ in (out / "load").glob("*/0/summary.json"))

    print(f"\n## Load: {args.trials:,} tiny trials in one SQLite study, --jobs {args.jobs}")
    print(f"finished trials: {finished:,} in {wall:.0f} s ({3600 * finished / wall:,.0f} trials/hour)")
    print(f"`rnnppo report` on the study: {report_s:.1f} s (exit {report.returncode})")
    print("\n| when | trials finished | worker RSS MB (each) |")
    print("|---|---:|---|")
    for label, (done, _, sizes) in readings.items():
        shown = ", ".join(f"{size:.0f}" for size in sizes[: args.jobs])
        print(f"| {'after ~' + str(args.checkpoint) if label == 'first' else 'last reading'} | {done:,} | {shown} |")


if __name__ == "__main__":
    main()
