"""Per-iteration cost at iteration 1k and at 10k of one run: does a long run slow down?

    python benchmarks/iteration_overhead.py                   # 10,000 tiny iterations into a run folder
    python benchmarks/iteration_overhead.py --iterations 3000 --window 100

One run of tiny iterations (1 env x 4 steps, one epoch, a 4-wide network on rnnppo/StatelessCartPole-v0)
so the per-iteration bookkeeping (metrics.csv, the summary tally) is as large a share as it can be.
Rows: the wall time between two iterations' callbacks (median over --window iterations ending at
iteration 1k and at the last one); one metrics.csv append on a file of that many real rows (median of
200); the old writer, which rewrote the whole file every iteration (median of 5); the process's
resident memory. Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_appends(source: Path, rows: list[dict], count: int, folder: Path) -> float:
    """Median seconds of one append to a copy of `source` holding its first `count` rows."""
    from rnnppo.core.runs import files as run_files

    path = folder / f"m{count}.csv"
    with open(source) as src, open(path, "w") as dst:
        for i, line in enumerate(src):
            if i > count:
                break
            dst.write(line)
    metrics = run_files.MetricsFile(path)
    times = []
    for row in rows[:200]:
        began = time.perf_counter()
        metrics.append(row)
        times.append(time.perf_counter() - began)
    metrics.close()
    return statistics.median(times)


def timed_rewrites(rows: list[dict], folder: Path) -> float:
    from rnnppo.core.runs import files as run_files

    times = []
    for _ in range(5):
        began = time.perf_counter()
        run_files.write_csv(folder / "rewrite.csv", rows)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=200, help="iterations per median")
    args = parser.parse_args()

    import pandas as pd
    import torch

    from rnnppo.core.config import TrainConfig
    from rnnppo.core.runs.trainer import train

    early = min(1000, args.iterations // 2)
    config = TrainConfig(
        env="rnnppo/StatelessCartPole-v0",
        num_envs=1,
        rollout_len=4,
        total_steps=4 * args.iterations,
        fcnet_hiddens=(4,),
        lstm_cell_size=4,
        max_seq_len=4,
        minibatch_size=4,
        num_epochs=1,
        eval_episodes=0,
    )
    stamps: list[float] = []
    memory: dict[int, float] = {}

    def on_iteration(row: dict) -> None:
        stamps.append(time.perf_counter())
        if row["iteration"] in (early, args.iterations):
            memory[row["iteration"]] = rss_mb()

    folder = Path(tempfile.mkdtemp(prefix="rnnppo-overhead-"))
    try:
        began = time.perf_counter()
        train(config, out_dir=folder / "run", on_iteration=on_iteration)
        wall = time.perf_counter() - began
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]  # gaps[i]: iteration i+2's time

        def at(iteration: int) -> float:
            return statistics.median(gaps[iteration - args.window - 1 : iteration - 1])

        csv_path = folder / "run" / "metrics.csv"
        rows = pd.read_csv(csv_path).to_dict("records")
        append = {n: timed_appends(csv_path, rows, n, folder) for n in (early, args.iterations)}
        rewrite = {n: timed_rewrites(rows[:n], folder) for n in (early, args.iterations)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    late = args.iterations
    print(
        f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} usable cores, "
        f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}; "
        f"{args.iterations:,} iterations of 1 env x 4 steps in {wall:.0f} s; medians over {args.window} iterations\n"
    )
    print(f"| per iteration | at iteration {early:,} | at iteration {late:,} | ratio |")
    print("| --- | ---: | ---: | ---: |")
    table = [
        ("wall time between iterations (ms)", at(early) * 1e3, at(late) * 1e3),
        ("metrics.csv append (us)", append[early] * 1e6, append[late] * 1e6),
        ("old writer: rewrite all of metrics.csv (ms)", rewrite[early] * 1e3, rewrite[late] * 1e3),
        ("process resident memory (MB)", memory[early], memory[late]),
    ]
    for name, first, last in table:
        print(f"| {name} | {first:,.2f} | {last:,.2f} | {last / first:.2f} |")


if __name__ == "__main__":
    main()
