"""A multi-task study's figures as PNG (matplotlib, Agg), drawn as rliable draws them: the aggregate IQM of
normalised scores with its interval, the performance profiles with their bands, and the probability of
improvement of the best configuration over each other one."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rnnppo.results.plots import MAX_CURVES, save_figure  # noqa: E402
from rnnppo.results.suite_report import SuiteReport  # noqa: E402

FILES = ("aggregate_iqm.png", "performance_profile.png", "probability_of_improvement.png")


def aggregate_iqm(report: SuiteReport, path: Path) -> Path | None:
    """One bar per configuration (best on top): the IQM of normalised scores and its 95% interval."""
    table = report.aggregate
    if table.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(table)))
    rows = np.arange(len(table))[::-1]
    low = (table["iqm"] - table["ci_low"]).clip(lower=0).fillna(0).to_numpy()
    high = (table["ci_high"] - table["iqm"]).clip(lower=0).fillna(0).to_numpy()
    ax.barh(rows, table["iqm"], xerr=[low, high], color="#4a7ab7", capsize=3)
    ax.set_yticks(rows, list(table["config"]), fontsize=8)
    ax.set_xlabel("IQM of normalised score (0 = random policy, 1 = reference), 95% stratified bootstrap CI")
    ax.set_title(f"{report.data.name}: {table['tasks'].max()} tasks")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def performance_profile(report: SuiteReport, path: Path) -> Path | None:
    """Fraction of runs above each threshold, one line per configuration (the best MAX_CURVES), with bands."""
    profile = report.profile
    if profile.empty:
        return None
    order = list(report.aggregate["config"])[:MAX_CURVES]
    fig, ax = plt.subplots(figsize=(7, 4))
    for config in order:
        rows = profile[profile["config"] == config]
        line = ax.plot(rows["threshold"], rows["fraction"], label=config, drawstyle="steps-post")[0]
        if rows["meaningful"].all():
            ax.fill_between(
                rows["threshold"], rows["low"], rows["high"], step="post", alpha=0.2, color=line.get_color()
            )
    ax.set_xlabel("normalised score τ")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("performance profile")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="best first", title_fontsize=8)
    return save_figure(fig, path)


def probability_of_improvement(report: SuiteReport, path: Path) -> Path | None:
    """P(best > other) with its interval, one row per other configuration; 0.5 marked."""
    table = report.improvement
    if table.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(table)))
    rows = np.arange(len(table))[::-1]
    low = (table["probability"] - table["low"]).clip(lower=0).fillna(0).to_numpy()
    high = (table["high"] - table["probability"]).clip(lower=0).fillna(0).to_numpy()
    colors = ["#4a4" if separable else "#999" for separable in table["separable"]]
    for index, color in enumerate(colors):
        ax.errorbar(
            table["probability"].iloc[index],
            rows[index],
            xerr=[[low[index]], [high[index]]],
            fmt="o",
            color=color,
            capsize=3,
        )
    ax.axvline(0.5, color="#c33", lw=1, ls="--")
    ax.set_yticks(rows, [f"{x} > {y}" for x, y in zip(table["x"], table["y"], strict=True)], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(X > Y), 95% stratified bootstrap CI (green: separable)")
    ax.set_title("probability of improvement")
    return save_figure(fig, path)


def write_all(report: SuiteReport, folder: Path) -> list[Path]:
    """Every figure that has data, as PNG files in `folder`; returns the paths written."""
    folder = Path(folder)
    makers = (aggregate_iqm, performance_profile, probability_of_improvement)
    made = [make(report, folder / name) for make, name in zip(makers, FILES, strict=True)]
    return [path for path in made if path is not None]
