"""The atlas's rules of thumb, computed from the per-seed results (benchmarks/atlas/*.csv); no rule is written
by hand: each sentence is generated from the tests below, names its tasks, seeds and test, and says where it
stops holding.

The tests are chosen for 5 seeds. Pairwise claims between 6-8 values are out of reach there: the exact
permutation test of 5 runs against 5 cannot go below p = 2/252, which Holm over 7 comparisons already
rejects. So each rule is one pre-specified test per task, Holm-corrected over the tasks:

* max_seq_len against the memory distance d: do the runs trained with max_seq_len >= d score higher than the
  runs below d? A two-sample permutation test of the mean normalised score over all the task's runs.
* a size (cell, encoder, max_seq_len): does the score rise or fall with log2(value)? A permutation test of
  Spearman's rank correlation that shuffles the values within each seed (the seeds pair the runs).
* curiosity: is the mean of (on - off), paired by max_seq_len and seed, zero? An exact sign-flip test; and does
  that difference change with max_seq_len? A permutation test that shuffles each seed's differences across
  the max_seq_len values.

"Shown" means Holm p < 0.05. Everything else is "not shown", which is not "no effect": at 5 seeds a
difference is found reliably only when it is large against the seed-to-seed spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from rnnppo.results.paired import two_sample_p

ALPHA = 0.05
SOLVED = 0.9
"""A run 'solves' its task when its normalised score reaches this (90% of the way from random to the reference)."""
MOST = 0.8
"""A value 'solves' a task when at least this share of its runs do (4 of 5 seeds)."""


def _ranks(values: np.ndarray) -> np.ndarray:
    return pd.Series(values.ravel()).rank().to_numpy().reshape(values.shape)


def trend(matrix: np.ndarray, x: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """(Spearman's rho between x and the scores, two-sided permutation p) for matrix [values, seeds], every
    seed complete; the permutations shuffle each seed's scores across the values."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape[0] < 3 or matrix.shape[1] < 2:
        return math.nan, math.nan
    x_ranks = _ranks(np.repeat(np.asarray(x, dtype=float)[:, None], matrix.shape[1], axis=1)).ravel()
    x_ranks = (x_ranks - x_ranks.mean()) / max(x_ranks.std(), 1e-12)

    def rho(values: np.ndarray) -> np.ndarray:  # [..., values, seeds] -> [...]
        flat = values.reshape(*values.shape[:-2], -1)
        ranks = rankdata(flat, axis=-1)
        ranks = (ranks - ranks.mean(axis=-1, keepdims=True)) / np.maximum(ranks.std(axis=-1, keepdims=True), 1e-12)
        return (ranks * x_ranks).mean(axis=-1)

    observed = float(rho(matrix))
    if math.isnan(observed) or np.ptp(matrix) == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    draws = 4_000
    order = rng.random((draws, *matrix.shape)).argsort(axis=1)
    shuffled = np.take_along_axis(np.broadcast_to(matrix, order.shape), order, axis=1)
    count = int((np.abs(rho(shuffled)) >= abs(observed) * (1 - 1e-9)).sum())
    return observed, (count + 1) / (draws + 1)


def holm(p_values: Sequence[float]) -> list[float]:
    from rnnppo.results.paired import holm as paired_holm

    return paired_holm(list(p_values))


def _matrix(frame: pd.DataFrame, order: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """[values, seeds] of normalised scores over the seeds every value has; the values present, in order."""
    table = frame.pivot_table(index="value", columns="seed", values="normalised").dropna(axis=1)
    present = [value for value in order if value in table.index]
    return table.loc[present].to_numpy(), present


def solved_table(frame: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Share of runs that solve each task, per value (rows) and task (columns)."""
    shares = frame.assign(solved=frame["normalised"] >= SOLVED).pivot_table(
        index="value", columns="task", values="solved", aggfunc="mean"
    )
    return shares.loc[[value for value in order if value in shares.index]]


def cost_per_doubling(frame: pd.DataFrame, order: Sequence[str]) -> tuple[float, float, float] | None:
    """(factor per doubling, cost at the smallest value, at the largest) of the mean training CPU time per env
    step, by a least-squares fit of log2(cost) on log2(value) over the values; None for non-numeric values."""
    try:
        numbers = [float(value) for value in order]
    except ValueError:
        return None
    cost = frame.groupby("value")["cpu_s_per_step"].mean()
    slope = float(np.polyfit(np.log2(numbers), np.log2([cost[value] for value in order]), 1)[0])
    return 2**slope, float(cost[order[0]]), float(cost[order[-1]])


def _seeds(frame: pd.DataFrame) -> str:
    counts = frame.groupby(["task", "value"])["seed"].nunique()
    return str(counts.min()) if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"


def _p(p: float) -> str:
    return f"{p:.2g}"


def max_seq_len_splits(frame: pd.DataFrame, memory: dict[str, int]) -> list[dict]:
    """Per memory task: mean normalised score at or above its memory distance minus below it, the two-sample
    permutation p, and Holm's over the tasks."""
    splits = []
    for task in [task for task in frame["task"].unique() if memory.get(task)]:
        runs = frame[frame["task"] == task]
        below = runs[runs["value"].astype(float) < memory[task]]["normalised"]
        above = runs[runs["value"].astype(float) >= memory[task]]["normalised"]
        if below.empty or above.empty:  # memory 1: every max_seq_len is at or above it
            continue
        splits.append({"task": task, "difference": float(above.mean() - below.mean()), "p": two_sample_p(above, below)})
    for split, p in zip(splits, holm([s["p"] for s in splits]), strict=True):
        split["p_holm"] = p
    return splits


def max_seq_len_rules(frame: pd.DataFrame, order: list[str], memory: dict[str, int]) -> list[str]:
    """Success against max_seq_len relative to each task's memory distance, and the carried state's reach."""
    found = max_seq_len_splits(frame, memory)
    tasks = [split["task"] for split in found]
    unsplit = [t for t in frame["task"].unique() if memory.get(t) and t not in tasks]
    splits = [(s["task"], s["difference"], s["p"]) for s in found]
    adjusted = [s["p_holm"] for s in found]
    shares = solved_table(frame, order)
    shown, not_shown = [], []
    for (task, diff, _), p in zip(splits, adjusted, strict=True):
        solving = [value for value in shares.index if shares.loc[value, task] >= MOST]
        where = f"solved from max_seq_len {solving[0]}" if solving else "solved by no value"
        text = f"{task} (memory {memory[task]}; difference {diff:+.2f}, Holm p = {_p(p)}; {where})"
        (shown if p < ALPHA and diff > 0 else not_shown).append(text)
    lines = [
        "- **max_seq_len against the memory distance.** Runs trained with max_seq_len at or above the task's "
        "memory distance scored higher (mean normalised score, at or above minus below) than the runs below it "
        f"on {len(shown)} of {len(tasks)} memory tasks: {'; '.join(shown) or 'none'}"
        + (f". Not shown on {'; '.join(not_shown)}" if not_shown else "")
        + (f" ({', '.join(unsplit)}: every value is at or above the memory distance, no split)" if unsplit else "")
        + f'. "Solved from" is the smallest value at which at least {MOST:.0%} of the runs reached a normalised '
        f"score of {SOLVED} (a count, not a test). Evidence: {_seeds(frame)} seeds per value; two-sample "
        "permutation test of the runs at or above the memory distance against those below, Holm over the tasks. "
        "A task solved by no value says nothing about the max_seq_len it would need at a larger budget."
    ]
    return lines + _horizon_rule(frame, memory)


def _horizon_rule(frame: pd.DataFrame, memory: dict[str, int]) -> list[str]:
    """How far the trained policies' memory reaches past max_seq_len, on runs that solved a memory task."""
    runs = frame[frame["task"].map(lambda t: memory.get(t, 0) > 0)].dropna(subset=["memory_horizon"])
    runs = runs.assign(msl=runs["value"].astype(float))
    short = runs[(runs["normalised"] >= SOLVED) & (runs["msl"] < runs["task"].map(memory))]
    if short.empty:
        return [
            "- **Memory past the chunk.** No run trained with max_seq_len below its task's memory distance solved "
            f"the task ({len(runs)} runs on memory tasks), so on these budgets the atlas has no run whose memory "
            "reaches past its training chunk."
        ]
    past = short[short["memory_horizon"] > short["msl"]]
    tasks = ", ".join(f"{task}: {count}" for task, count in short["task"].value_counts().sort_index().items())
    ratio = float((short["memory_horizon"] / short["msl"]).median())
    return [
        f"- **Memory past the chunk.** {len(short)} runs solved a memory task although trained with max_seq_len "
        f"below its memory distance ({tasks}); {len(past)} of them had a measured memory horizon longer than "
        f"max_seq_len (median horizon / max_seq_len = {ratio:.1f}): in those runs the state carried from chunk to "
        "chunk bridged a boundary no gradient crossed. "
        "Evidence: `rnnppo memory`'s horizon of each trained policy; counts of runs, not a test."
    ]


def size_rules(factor: str, frame: pd.DataFrame, order: list[str]) -> list[str]:
    """Whether the score rises or falls with a size (cell, encoder width, max_seq_len), per task, and the cost
    of each doubling."""
    from rnnppo.results.paired import permutation_differ_p

    numeric = cost_per_doubling(frame, order) is not None
    tests = []
    for task in frame["task"].unique():
        matrix, present = _matrix(frame[frame["task"] == task], order)
        if numeric:
            rho, p = trend(matrix, np.log2([float(v) for v in present]))
        else:
            rho, p = math.nan, permutation_differ_p(matrix)
        tests.append((task, rho, p, matrix.shape[1]))
    adjusted = holm([p for _, _, p, _ in tests])
    rising, falling, flat = [], [], []
    for (task, rho, _, _), p in zip(tests, adjusted, strict=True):
        if p < ALPHA and (not numeric or rho > 0):
            rising.append(f"{task} ({'ρ = ' + format(rho, '+.2f') + ', ' if numeric else ''}Holm p = {_p(p)})")
        elif p < ALPHA:
            falling.append(f"{task} (ρ = {rho:+.2f}, Holm p = {_p(p)})")
        else:
            flat.append(f"{task} ({_p(p)})")
    if numeric:
        found = f"The score rose with {factor} on {len(rising)} of {len(tests)} tasks ({'; '.join(rising) or '-'})"
        found += f" and fell with it on {len(falling)} ({'; '.join(falling) or '-'})"
        test = "permutation test of Spearman's correlation between log2(value) and the normalised score"
    else:
        found = f"The encoder changed the score on {len(rising)} of {len(tests)} tasks ({'; '.join(rising) or '-'})"
        test = "permutation test of the spread of the values' mean normalised scores"
    lines = [
        f"- **When {factor} matters.** {found}; not shown on {', '.join(flat) or 'no task'} (Holm p). Evidence: "
        f"{_seeds(frame)} seeds per value; {test}, shuffling each seed's scores across the values; Holm over "
        "the tasks. Not shown is not no effect: 5 seeds find only effects large against the seed-to-seed spread."
    ]
    cost = cost_per_doubling(frame, order)
    if cost is not None:
        per, low, high = cost
        lines.append(
            f"- **What a doubling of {factor} costs.** Training CPU time per env step ×{per:.2f} per doubling "
            f"(least-squares fit of log cost on log {factor}; {low * 1e3:.2f} ms at {order[0]} to "
            f"{high * 1e3:.2f} ms at {order[-1]}, mean over the value's runs). Measured with `--jobs 2` on 2 "
            "shared cores: the ratio carries to another machine better than the milliseconds."
        )
    return lines


def curiosity_rules(frame: pd.DataFrame) -> list[str]:
    """Does curiosity change the score, and does max_seq_len change what curiosity does."""
    from rnnppo.results.paired import permutation_differ_p, sign_flip_p

    parts = frame["config"].str.extract(r"curiosity=(?P<curiosity>\w+), max_seq_len=(?P<msl>\d+)")
    frame = frame.assign(curiosity=parts["curiosity"].str.lower() == "true", msl=parts["msl"].astype(int))
    effects, changes = [], []
    for task, group in frame.groupby("task", sort=True):
        table = group.pivot_table(index=["msl", "seed"], columns="curiosity", values="normalised").dropna()
        diffs = (table[True] - table[False]).rename("diff")
        by_msl = diffs.unstack("seed").dropna(axis=1)  # [msl values, seeds]
        means = ", ".join(f"{msl}: {row.mean():+.2f}" for msl, row in by_msl.iterrows())
        effects.append((task, float(diffs.mean()), sign_flip_p(diffs.to_numpy()), means))
        changes.append((task, permutation_differ_p(by_msl.to_numpy())))
    effect_p = holm([p for _, _, p, _ in effects])
    change_p = holm([p for _, p in changes])
    lines = []
    for (task, mean, _, means), p, q in zip(effects, effect_p, change_p, strict=True):
        effect = "shown" if p < ALPHA else "not shown"
        change = "shown to change" if q < ALPHA else "not shown to change"
        lines.append(
            f"{task}: curiosity minus none {mean:+.2f} over all max_seq_len (effect {effect}, Holm p = {_p(p)}); "
            f"by max_seq_len {means} ({change} with max_seq_len, Holm p = {_p(q)})"
        )
    return [
        "- **Curiosity and max_seq_len.** Mean normalised score with curiosity minus without, paired by "
        f"max_seq_len and seed: {'; '.join(lines)}. Evidence: {_seeds(frame)} seeds per cell; exact sign-flip test "
        "of the paired differences, and a permutation test shuffling each seed's differences across max_seq_len, "
        "each Holm over the tasks. The ICM's losses see single transitions, so max_seq_len reaches curiosity only "
        "through the policy that explores."
    ]
