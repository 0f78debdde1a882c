"""The atlas's rules of thumb, computed from the per-seed results (benchmarks/atlas/*.csv); no rule is written
by hand: each sentence is generated from the tests below, names its tasks, seeds and test, and says where it
stops holding.

The test. Two configurations of one task are compared by an exact two-sample permutation test of their mean
normalised scores (every split of the 2n runs enumerated), Holm-corrected over the values compared with the
task's best. Two-sample, not paired: at 5 seeds the exact paired sign-flip test cannot go below p = 2/32 =
0.0625, so it could never say "worse" here. The runs of different configurations are independent apart from
sharing seeds, which correlates them positively; a two-sample test then overstates the spread of the
difference, so it is conservative, not liberal. "Shown worse" means Holm p < 0.05; everything else is "not
shown worse", which is not "as good".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

ALPHA = 0.05
SOLVED = 0.9
"""A run 'solves' its task when its normalised score reaches this (90% of the way from random to the reference)."""


def two_sample_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p of "a and b come from one distribution", by the difference of means over every split of the
    pooled runs into groups of len(a) and len(b) (exact; at most C(20, 10) splits)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    pooled = np.concatenate([x, y])
    observed = abs(x.mean() - y.mean())
    scale = max(float(np.abs(pooled).max()), 1e-12)
    if observed <= 1e-12 * scale:
        return 1.0
    total = pooled.sum()
    splits = np.array(list(itertools.combinations(range(len(pooled)), len(x))))  # [splits, len(x)]
    first = pooled[splits].sum(axis=1)
    differences = np.abs(first / len(x) - (total - first) / len(y))
    return float((differences >= observed * (1 - 1e-9)).mean())


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (NaN stays NaN and does not count)."""
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (len(indexed) - rank) * p))
        adjusted[i] = running
    return adjusted


def task_tests(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task and value: runs, mean and IQM of the normalised score, the share of runs that solve the task,
    and Holm p against the task's best value (highest mean); `worse` when that p < ALPHA."""
    from rnnppo.results import stats

    rows = []
    for task, group in frame.groupby("task", sort=False):
        scores = {value: g["normalised"].dropna().to_numpy() for value, g in group.groupby("value", sort=False)}
        best = max(scores, key=lambda value: scores[value].mean())
        others = [value for value in scores if value != best]
        adjusted = dict(zip(others, holm([two_sample_p(scores[best], scores[v]) for v in others]), strict=True))
        for value, values in scores.items():
            rows.append(
                {
                    "task": task,
                    "value": value,
                    "runs": len(values),
                    "mean": float(values.mean()),
                    "iqm": stats.iqm(values),
                    "solved": float((values >= SOLVED).mean()),
                    "best": best,
                    "p_holm": adjusted.get(value, math.nan),
                    "worse": adjusted.get(value, 1.0) < ALPHA,
                }
            )
    return pd.DataFrame(rows)


def smallest_not_worse(tests: pd.DataFrame, task: str, order: Sequence[str]) -> str | None:
    """The smallest value (in `order`) from which on no value is shown worse than the task's best."""
    rows = tests[tests["task"] == task].set_index("value")
    present = [value for value in order if value in rows.index]
    for start in range(len(present)):
        if not rows.loc[present[start:], "worse"].any():
            return present[start]
    return None


def cost_per_doubling(frame: pd.DataFrame, order: Sequence[str]) -> tuple[float, float, float] | None:
    """(factor per doubling, cost at the smallest value, at the largest) of the mean training CPU time per env
    step, by a least-squares fit of log2(cost) on log2(value) over the values; None for non-numeric values."""
    try:
        numbers = [float(value) for value in order]
    except ValueError:
        return None
    cost = frame.groupby("value")["cpu_s_per_step"].mean()
    x = np.log2(numbers)
    y = np.log2([cost[value] for value in order])
    slope = float(np.polyfit(x, y, 1)[0])
    return 2**slope, float(cost[order[0]]), float(cost[order[-1]])


def _seeds(frame: pd.DataFrame) -> str:
    counts = frame.groupby(["task", "value"])["seed"].nunique()
    return str(counts.min()) if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _horizon_rule(frame: pd.DataFrame, memory: dict[str, int]) -> list[str]:
    """How far the trained policies' memory reaches past max_seq_len, on runs that solved a memory task."""
    runs = frame[frame["task"].map(lambda t: memory.get(t, 0) > 0)].dropna(subset=["memory_horizon"])
    runs = runs.assign(msl=runs["value"].astype(float))
    solved = runs[runs["normalised"] >= SOLVED]
    short = solved[solved["msl"] < solved["task"].map(memory)]
    if short.empty:
        return [
            "- **Memory past the chunk.** No run trained with max_seq_len below its task's memory distance solved "
            f"the task (normalised score ≥ {SOLVED}), so the atlas has no run whose memory reaches past its "
            f"training chunk on these budgets ({len(runs)} runs on memory tasks)."
        ]
    past = short[short["memory_horizon"] > short["msl"]]
    tasks = ", ".join(sorted(short["task"].unique()))
    ratio = float((short["memory_horizon"] / short["msl"]).median())
    return [
        f"- **Memory past the chunk.** Of the {len(short)} runs that solved a memory task although trained with "
        f"max_seq_len below its memory distance ({tasks}), {len(past)} had a measured memory horizon longer than "
        f"max_seq_len (median horizon / max_seq_len = {ratio:.1f}): the state carried between chunks can hold "
        "information for longer than the gradient reaches back. Evidence: `rnnppo memory`'s horizon of each "
        "trained policy; a count of runs, not a test. It stops holding where no such run exists (the longer "
        "memory distances below)."
    ]


MOST = 0.8
"""A value 'solves' a task when at least this share of its runs do (4 of 5 seeds)."""


def max_seq_len_rules(frame: pd.DataFrame, tests: pd.DataFrame, order: list[str], memory: dict[str, int]) -> list[str]:
    """Success against max_seq_len relative to each task's memory distance, and the carried state's reach."""
    relation, unsolved = [], []
    for task in tests["task"].unique():
        distance = memory.get(task)
        if not distance:
            continue
        rows = tests[tests["task"] == task].set_index("value")
        present = [value for value in order if value in rows.index]
        solving = [value for value in present if rows.loc[value, "solved"] >= MOST]
        if not solving:
            unsolved.append(f"{task} (memory {distance}; at most {rows['solved'].max():.0%} of a value's runs)")
            continue
        worse = [value for value in present if rows.loc[value, "worse"]]
        relation.append((task, distance, solving[0], worse))
    lines = []
    if relation:
        at_or_above = sum(1 for _, d, smallest, _ in relation if float(smallest) >= d)
        described = "; ".join(
            f"{task} (memory {d}): {smallest}" + (f" (shown worse than the best: {', '.join(worse)})" if worse else "")
            for task, d, smallest, worse in relation
        )
        lines.append(
            f"- **max_seq_len against the memory distance.** The smallest max_seq_len at which at least "
            f"{MOST:.0%} of the runs solved the task (normalised score ≥ {SOLVED}) was at or above the task's "
            f"memory distance on {at_or_above} of {len(relation)} memory tasks, below it on "
            f'{len(relation) - at_or_above}: {described}. Evidence: {_seeds(frame)} seeds per value; "solved" '
            'is a count; "shown worse" is an exact two-sample permutation test of the mean normalised score '
            "against the task's best value, Holm over the values (values not listed were not shown worse, which "
            "at 5 seeds misses all but large differences)."
        )
    if unsolved:
        lines.append(
            "- **Where it stops holding.** No max_seq_len solved the task on "
            + "; ".join(unsolved)
            + " at these budgets, so the atlas says nothing there about the max_seq_len it would need."
        )
    return lines + _horizon_rule(frame, memory)


def size_rules(
    factor: str, frame: pd.DataFrame, tests: pd.DataFrame, order: list[str], memory: dict[str, int]
) -> list[str]:
    """When a size (cell, encoder) matters: tasks where some value is shown worse than the best, the smallest
    value not shown worse, and the cost of each doubling."""
    from rnnppo.results.paired import permutation_differ_p

    matters, flat = [], []
    for task in tests["task"].unique():
        rows = tests[tests["task"] == task].set_index("value")
        worse = [v for v in order if v in rows.index and rows.loc[v, "worse"]]
        if worse:
            matters.append(f"{task}: {', '.join(worse)} worse than {rows['best'].iloc[0]}")
        else:
            matrix = frame[frame["task"] == task].pivot_table(index="value", columns="seed", values="normalised")
            p = permutation_differ_p(matrix.dropna(axis=1).to_numpy())
            flat.append(f"{task} (any difference among the values: permutation p = {p:.2g})")
    lines = [
        f"- **When {factor} matters.** A value shown worse than the task's best on "
        + (f"{len(matters)} of {tests['task'].nunique()} tasks ({'; '.join(matters)})" if matters else "no task")
        + ("; none shown worse on " + ", ".join(flat) if flat else "")
        + f". Evidence: {_seeds(frame)} seeds per value, exact two-sample permutation test against the task's "
        "best, Holm over the values; the permutation test shuffles each seed's scores across the values. "
        "At 5 seeds a difference is shown with 80% chance only when it is about two seed-to-seed standard deviations "
        '(before Holm), so "none shown worse" rules out large effects only.'
    ]
    cost = cost_per_doubling(frame, order)
    if cost is not None:
        per, low, high = cost
        lines.append(
            f"- **What a doubling of {factor} costs.** Training CPU time per env step grows by ×{per:.2f} per "
            f"doubling (least-squares fit of log cost on log {factor}; {_ms(low)} at {order[0]} to {_ms(high)} "
            f"at {order[-1]}, mean over every run of the value). Measured with `--jobs 2` on 2 shared cores; "
            "the ratio, not the milliseconds, is what carries to another machine."
        )
    return lines


def curiosity_rules(frame: pd.DataFrame) -> list[str]:
    """Does max_seq_len change what curiosity does: curiosity on minus off per task and max_seq_len."""
    parts = frame["config"].str.extract(r"curiosity=(?P<curiosity>\w+), max_seq_len=(?P<msl>\d+)")
    frame = frame.assign(curiosity=parts["curiosity"].str.lower() == "true", msl=parts["msl"])
    rows = []
    for (task, msl), group in frame.groupby(["task", "msl"], sort=True):
        on = group[group["curiosity"]].sort_values("seed")["normalised"].to_numpy()
        off = group[~group["curiosity"]].sort_values("seed")["normalised"].to_numpy()
        rows.append((task, int(msl), float(on.mean() - off.mean()), two_sample_p(on, off)))
    adjusted = holm([row[3] for row in rows])
    cells = sorted((task, msl, diff, p) for (task, msl, diff, _), p in zip(rows, adjusted, strict=True))
    shown = [f"{task} at max_seq_len {msl}: {diff:+.2f} (Holm p = {p:.2g})" for task, msl, diff, p in cells]
    separated = [cell for cell in cells if cell[3] < ALPHA]
    verdict = (
        "curiosity's effect was separated from zero at "
        + ", ".join(f"{task} max_seq_len {msl} ({diff:+.2f})" for task, msl, diff, _ in separated)
        if separated
        else "curiosity's effect was not separated from zero at any max_seq_len on any task"
    )
    return [
        f"- **Curiosity and max_seq_len.** Mean normalised score with curiosity minus without: {'; '.join(shown)}. "
        f"At {_seeds(frame)} seeds, {verdict}. Evidence: exact two-sample permutation test per cell, Holm over "
        f"the {len(rows)} cells. The ICM's loss sees single transitions, so max_seq_len reaches it only "
        "through the policy it explores with."
    ]
