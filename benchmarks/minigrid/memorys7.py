"""MiniGrid-MemoryS7-v0 from its default observation: the `minigrid-memory` preset beside the memory-off
control (`rnn_type=none`) at the same budget and seeds, success per seed and its IQM with an interval.

    python benchmarks/minigrid/memorys7.py run [--out DIR]     # the sweep (resumable), then the table
    python benchmarks/minigrid/memorys7.py table [--out DIR]   # the table from a finished (or partial) study
    python benchmarks/minigrid/memorys7.py table --csv benchmarks/minigrid/memorys7_seeds.csv  # the committed rows

`run` is `rnnppo sweep rnn_type=lstm,none --preset minigrid-memory --seeds 5 --jobs 2 memory_horizon=false`;
each seed's score is its success rate over the preset's 100 greedy evaluation episodes after training. The
interval is the IQM's Tukey-McLaughlin interval (rnnppo's report uses the same), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

from rnnppo.results.stats import iqm, iqm_ci

STUDY = "MiniGrid-MemoryS7-v0--rnn_type"
SWEEP = ["rnn_type=lstm,none", "--preset", "minigrid-memory", "--seeds", "5", "--jobs", "2", "memory_horizon=false"]
FIELDS = ["rnn_type", "seed", "env_steps", "eval_success", "eval_return", "train_time_s"]


def run(out: Path) -> None:
    subprocess.run([sys.executable, "-m", "rnnppo", "sweep", *SWEEP, "--out", str(out)], check=True)


def rows_from_study(out: Path) -> list[dict[str, str]]:
    """One row per finished seed run: its trial's rnn_type and its summary.json's evaluation."""
    rows = []
    for summary_path in sorted((out / STUDY).glob("*/*/summary.json")):
        config = json.loads((summary_path.parent / "config.json").read_text())["config"]
        summary = json.loads(summary_path.read_text())
        rows.append(
            {
                "rnn_type": config["rnn_type"],
                "seed": str(config["seed"]),
                "env_steps": str(summary["env_steps"]),
                "eval_success": f"{summary['eval_success_mean']:.4f}",
                "eval_return": f"{summary['eval_return_mean']:.4f}",
                "train_time_s": f"{summary.get('train_time_s', float('nan')):.0f}",
            }
        )
    return rows


def table(rows: list[dict[str, str]]) -> None:
    print("| rnn_type | seeds | success per seed | success IQM [95% interval] | mean return |")
    print("|---|---:|---|---|---:|")
    for kind in ("lstm", "none"):
        mine = sorted((r for r in rows if r["rnn_type"] == kind), key=lambda r: int(r["seed"]))
        if not mine:
            continue
        success = [float(r["eval_success"]) for r in mine]
        interval = iqm_ci(success, bounds=(0.0, 1.0))
        shown = f"[{interval.low:.2f}, {interval.high:.2f}]" if interval.meaningful else f"({interval.reason})"
        returns = sum(float(r["eval_return"]) for r in mine) / len(mine)
        per_seed = ", ".join(f"{s:.2f}" for s in success)
        print(f"| {kind} | {len(mine)} | {per_seed} | **{iqm(success):.2f}** {shown} | {returns:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["run", "table"])
    parser.add_argument("--out", type=Path, default=Path("results-memorys7"))
    parser.add_argument("--csv", type=Path, help="read the per-seed rows from this CSV instead of a study")
    parser.add_argument("--write-csv", type=Path, help="also write the per-seed rows to this CSV")
    args = parser.parse_args()
    if args.what == "run":
        run(args.out)
    if args.csv is not None:
        with args.csv.open() as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = rows_from_study(args.out)
    if args.write_csv is not None:
        with args.write_csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    table(rows)


if __name__ == "__main__":
    main()
