"""The atlas (issue 31): one-factor-at-a-time sweeps around the defaults on the memory suite, and the page
docs/atlas.md generated from the committed per-seed results.

    python benchmarks/atlas.py estimate [--seeds 5] [--jobs 2]      # dry runs: the time of each factor here
    python benchmarks/atlas.py run STUDY [--tasks a,b] [--seeds 5] [--steps N] [--jobs 2] [--out DIR]
    python benchmarks/atlas.py export FACTOR [--out DIR]             # per-seed CSV into benchmarks/atlas/
    python benchmarks/atlas.py docs                                  # docs/atlas.md (+ PNGs) from those CSVs

`run` is `rnnppo sweep FACTOR=values --suite memory[:tasks] --seeds K` (resumable: run it again after a
stop); `export` writes `rnnppo report --format csv` of that study (task, config, seed, score, cost, memory
horizon, normalised score) and each run's env steps to benchmarks/atlas/FACTOR.csv, which is committed;
`docs` reads only those files, so anyone can regenerate the page, or extend it by adding a factor's CSV.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "atlas"
PAGE = ROOT / "docs" / "atlas.md"
FINDINGS = ROOT / "rnnppo" / "suites" / "atlas.json"
FIGURES = ROOT / "docs" / "atlas"
ATLAS_TASKS = "cue-2,cue-8,cue-24,repeat-1,repeat-4,repeat-8,cartpole"
"""The memory suite's tasks the atlas runs by default: graded cue-recall distances and repeat lags, and the
no-memory control. StatelessCartPole, PendulumNoVel and MiniGrid are left out to fit about 2 hours on 2 cores
(together they would more than double it); add them with `--tasks`."""
FACTORS = {
    "max_seq_len": ("max_seq_len=1,2,4,8,16,32,64,128",),
    "lstm_cell_size": ("lstm_cell_size=8,16,32,64,128,256",),
    "fcnet_hiddens": ("fcnet_hiddens=[16],[64],[256],[64,64]",),
    "curiosity_x_max_seq_len": ("curiosity=false,true", "max_seq_len=1,4,16"),
}
"""Each study's space words; every other setting stays at the package default (or the task's own settings)."""
FACTOR_TASKS = {"curiosity_x_max_seq_len": "cue-8,cue-24"}
DEFAULT_POINT = {"max_seq_len": "16", "lstm_cell_size": "64", "fcnet_hiddens": "[64]"}
"""The package defaults, where the three one-factor studies meet: it runs once, in the max_seq_len study (the
first), and the page shows those runs in the other two as well (same configuration, tasks, budgets and seeds)."""
BORROWS_DEFAULT = ("lstm_cell_size", "fcnet_hiddens")
"""Studies run on other tasks than ATLAS_TASKS: curiosity on the tasks whose only reward is the last step's."""


def _study(factor: str) -> str:
    return f"atlas-{factor}"


def _sweep_words(factor: str, args: argparse.Namespace) -> list[str]:
    space = list(FACTORS[factor])
    if args.values:
        if len(space) != 1:
            sys.exit(f"--values is for one-factor studies; {factor} sweeps {len(space)} settings")
        space = [f"{factor}={args.values}"]
    elif factor in BORROWS_DEFAULT:
        values = [v for v in _split_values(space[0].split("=", 1)[1]) if v != DEFAULT_POINT[factor]]
        space = [f"{factor}={','.join(values)}"]
    suite = "memory:" + (args.tasks or FACTOR_TASKS.get(factor, ATLAS_TASKS))
    words = [*space, "--suite", suite, "--seeds", str(args.seeds), "--jobs", str(args.jobs)]
    words += ["--study", _study(factor), "--out", str(args.out)]
    if args.steps:
        words += ["--steps", str(args.steps)]
    return words


def _split_values(text: str) -> list[str]:
    """`[16],[64,64]` -> ['[16]', '[64,64]']: commas inside brackets do not split."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += char
    return [*values, current]


def with_default_point(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The studies that skipped the default point get the max_seq_len study's runs of it, relabelled."""
    source = frames.get("max_seq_len")
    if source is None:
        return frames
    shared = source[source["config"] == f"max_seq_len={DEFAULT_POINT['max_seq_len']}"]
    out = dict(frames)
    for factor in BORROWS_DEFAULT:
        frame = frames.get(factor)
        label = f"{factor}={DEFAULT_POINT[factor]}"
        if frame is None or (frame["config"] == label).any():
            continue
        borrowed = shared[shared["task"].isin(frame["task"].unique())].assign(config=label)
        out[factor] = pd.concat([frame, borrowed], ignore_index=True)
    return out


def estimate(args: argparse.Namespace) -> None:
    """The dry run of every factor's sweep: runs, env steps and the estimated time on this machine."""
    for factor in FACTORS:
        command = [sys.executable, "-m", "rnnppo", "sweep", *_sweep_words(factor, args), "--dry-run"]
        print(f"$ {' '.join(command[1:])}", flush=True)
        subprocess.run(command, check=True)


def run(args: argparse.Namespace) -> None:
    subprocess.run([sys.executable, "-m", "rnnppo", "sweep", *_sweep_words(args.factor, args)], check=True)


def export(args: argparse.Namespace) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    target = DATA / f"{args.factor}.csv"
    command = [sys.executable, "-m", "rnnppo", "report", str(args.out), "--study", _study(args.factor)]
    subprocess.run([*command, "--format", "csv", "--out", str(target)], check=True)
    from rnnppo.core.suites import load_suite

    budgets = {task.name: task.budget for task in load_suite("memory").tasks}
    frame = pd.read_csv(target)
    frame.assign(steps=args.steps or frame["task"].map(budgets)).to_csv(target, index=False)


# --- the page -----------------------------------------------------------------------------------------


def _value(config: str) -> str:
    """`max_seq_len=16` -> `16`; `curiosity=true, max_seq_len=4` -> `true, 4`."""
    return ", ".join(part.split("=", 1)[1] if "=" in part else part for part in config.split(", "))


def _order(values: list[str]) -> list[str]:
    def key(value: str) -> tuple:
        try:
            numbers = [float(part) for part in value.strip("[]").split(",") if part.strip()]
        except ValueError:
            return (1, 0, [], value)
        return (0, len(numbers), numbers, value)

    return sorted(values, key=key)


def factor_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The aggregate over tasks (IQM, interval), the per-task IQM of normalised scores, and cost/horizon."""
    from rnnppo.results import crosstask, stats

    frame = frame.assign(value=frame["config"].map(_value))
    aggregate = crosstask.aggregate_iqm(frame).assign(value=lambda t: t["config"].map(_value))
    order = _order(list(aggregate["value"]))
    aggregate = aggregate.set_index("value").loc[order].reset_index()
    per_task = frame.pivot_table(index="value", columns="task", values="normalised", aggfunc=stats.iqm).loc[order]
    cost = frame.groupby("value")[["cpu_s_per_step", "memory_horizon"]].mean().loc[order]
    return aggregate, per_task, cost


def _plot(factor: str, aggregate: pd.DataFrame, per_task: pd.DataFrame) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(aggregate))
    low = (aggregate["iqm"] - aggregate["ci_low"]).clip(lower=0).fillna(0)
    high = (aggregate["ci_high"] - aggregate["iqm"]).clip(lower=0).fillna(0)
    ax.errorbar(x, aggregate["iqm"], yerr=[low, high], fmt="o-", color="black", capsize=3, label="IQM, all tasks")
    for task in per_task.columns:
        ax.plot(x, per_task[task], alpha=0.5, lw=1, label=task)
    ax.set_xticks(x, list(aggregate["value"]))
    ax.set_xlabel(factor)
    ax.set_ylabel("normalised score (0 random, 1 reference)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path = FIGURES / f"{factor}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    lines = [header, "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _memory_distances() -> dict[str, int]:
    from rnnppo.core.suites import load_suite

    return {task.name: task.memory for task in load_suite("memory").tasks if task.memory is not None}


def _rules(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The rules of thumb of every study whose results are here, each generated from its tests."""
    import atlas_rules

    memory = _memory_distances()
    lines: list[str] = []
    for factor, frame in frames.items():
        frame = frame.assign(value=frame["config"].map(_value))
        order = _order(list(frame["value"].unique()))
        if factor == "curiosity_x_max_seq_len":
            lines += atlas_rules.curiosity_rules(frame)
            continue
        if factor == "max_seq_len":
            lines += atlas_rules.max_seq_len_rules(frame, order, memory)
        lines += atlas_rules.size_rules(factor, frame, order)
    return lines


def _factor_section(factor: str, frame: pd.DataFrame) -> list[str]:
    import atlas_rules

    from rnnppo.results import crosstask, paired

    aggregate, per_task, cost = factor_tables(frame)
    improvement = crosstask.improvement_table(frame, list(crosstask.aggregate_iqm(frame)["config"]))
    figure = _plot(factor, aggregate, per_task)
    valued = frame.assign(value=frame["config"].map(_value))
    seeds = frame.groupby(["task", "config"])["seed"].nunique()
    lines = [
        f"## {factor}",
        "",
        f"{frame['task'].nunique()} tasks ({', '.join(sorted(frame['task'].unique()))}), "
        f"{seeds.min() if seeds.min() == seeds.max() else f'{seeds.min()}-{seeds.max()}'} seeds per cell, "
        f"{len(frame)} runs; cost is the training CPU time per env step, memory_horizon the mean over runs of "
        "`rnnppo memory`'s horizon of the trained policy (steps).",
        "",
        *(
            [
                f"The {factor}={DEFAULT_POINT[factor]} runs are the max_seq_len study's max_seq_len="
                f"{DEFAULT_POINT['max_seq_len']} runs: the package default, run once (same tasks, budgets, "
                "seeds); its CPU cost was measured in that study, under that study's load.",
                "",
            ]
            if factor in BORROWS_DEFAULT
            else []
        ),
        f"![{factor}](atlas/{figure.name})",
        "",
        "Across tasks: IQM of the normalised score over every task x seed run, with its 95% stratified "
        "bootstrap interval (seeds resampled within each task).",
        "",
    ]
    shown = aggregate[["value", "tasks", "runs", "iqm", "ci_low", "ci_high"]].rename(columns={"value": factor})
    lines += _markdown_table(shown.join(cost.reset_index(drop=True))) + [""]
    lines += ["Per task: IQM of the normalised score.", ""]
    lines += _markdown_table(per_task.reset_index().rename(columns={"value": factor})) + [""]
    lines += [f"Per task: share of runs that solve it (normalised score ≥ {atlas_rules.SOLVED}).", ""]
    solved = atlas_rules.solved_table(valued, _order(list(valued["value"].unique())))
    lines += _markdown_table(solved.reset_index().rename(columns={"value": factor})) + [""]
    lines += ["Best against each across tasks (probability of improvement and paired test over seeds, Holm):", ""]
    if seeds.min() < paired.floor_seeds():
        lines += [
            f"(With {seeds.min()} seeds the exact paired test cannot go below p = {2 / 2 ** seeds.min():.3g}, so "
            "none of these pairs can be separated across tasks; the rules above use tests that can.)",
            "",
        ]
    return lines + [f"* {words}" for words in improvement["words"]] + [""]


def _write_findings(frame: pd.DataFrame) -> None:
    """rnnppo/suites/atlas.json: the max_seq_len split per memory task, which `rnnppo report` puts beside a
    user's own max_seq_len sweep on the same task (rnnppo/results/atlas.py)."""
    import json

    import atlas_rules

    from rnnppo.core.suites import load_suite

    tasks = {task.name: task for task in load_suite("memory").tasks}
    frame = frame.assign(value=frame["config"].map(_value))
    seeds = frame.groupby(["task", "value"])["seed"].nunique()
    entries = [
        {
            "task": split["task"],
            "env": tasks[split["task"]].env,
            "env_kwargs": tasks[split["task"]].env_kwargs,
            "memory": tasks[split["task"]].memory,
            "budget": int(frame.loc[frame["task"] == split["task"], "steps"].max())
            if "steps" in frame
            else tasks[split["task"]].budget,
            "seeds": int(seeds.loc[split["task"]].min()),
            "difference": round(split["difference"], 4),
            "p_holm": round(split["p_holm"], 5),
        }
        for split in atlas_rules.max_seq_len_splits(frame, _memory_distances())
    ]
    FINDINGS.write_text(json.dumps({"page": "docs/atlas.md", "max_seq_len": entries}, indent=1) + "\n")


def docs(args: argparse.Namespace) -> None:
    files = sorted(DATA.glob("*.csv"), key=lambda path: list(FACTORS).index(path.stem) if path.stem in FACTORS else 99)
    if not files:
        sys.exit(f"no per-seed results in {DATA}; run `python benchmarks/atlas.py run FACTOR` and `export` first")
    frames = with_default_point({path.stem: pd.read_csv(path) for path in files})
    lines = [
        "# The atlas: what max_seq_len, cell size and encoder size do across memory tasks",
        "",
        "Generated by `python benchmarks/atlas.py docs` from the per-seed results committed in "
        "`benchmarks/atlas/*.csv`; do not edit by hand.",
        "",
    ]
    notes = DATA / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    lines += [
        "## Rules of thumb",
        "",
        "Each rule is generated from the results below by the test it names; none is written by hand. The "
        "tests are in `benchmarks/atlas_rules.py`.",
        "",
        *_rules(frames),
        "",
    ]
    for factor, frame in frames.items():
        lines += _factor_section(factor, frame)
    if "max_seq_len" in frames:
        _write_findings(frames["max_seq_len"])
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text("\n".join(lines).rstrip("\n") + "\n")
    print(f"wrote {PAGE} and {len(files)} figures in {FIGURES}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("estimate", "run", "export"):
        part = sub.add_parser(name)
        if name != "estimate":
            part.add_argument("factor", choices=sorted(FACTORS))
        part.add_argument("--values", help="the factor's values (default: the atlas's)")
        part.add_argument("--tasks", help="tasks of the memory suite, comma-separated (default: ATLAS_TASKS)")
        part.add_argument("--seeds", type=int, default=5)
        part.add_argument("--steps", type=int, help="env steps per run for every task (default: each task's budget)")
        part.add_argument("--jobs", type=int, default=2)
        part.add_argument("--out", type=Path, default=Path("results-atlas"))
    sub.add_parser("docs")
    args = parser.parse_args()
    {"estimate": estimate, "run": run, "export": export, "docs": docs}[args.command](args)


if __name__ == "__main__":
    main()
