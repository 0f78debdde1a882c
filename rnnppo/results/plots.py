"""The report's figures as PNG (matplotlib, Agg backend): learning curves with a confidence band, the
score over two swept parameters, parameter importance, score against cost with the Pareto front, and the
influence of past observations by lag (the memory the trained policies use)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnppo.core.config import format_value  # noqa: E402
from rnnppo.results import stats  # noqa: E402
from rnnppo.results.report import Report, per_seed  # noqa: E402

GRID_POINTS = 200
MAX_CURVES = 8
"""More lines than this are unreadable; the best ones are drawn."""
DPI = 120
MAX_KEY = 20
"""Configurations named in the key of the score-against-cost plot."""
FILES = ("learning_curves.png", "heatmap.png", "importance.png", "score_vs_cost.png", "memory.png")


def curve_band(
    values: np.ndarray, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """IQM over seeds at every curve point and its percentile-bootstrap interval: the tables' method
    (stats.bootstrap_ci: resample seeds, IQM of each resample, the 2.5th and 97.5th percentiles), run on
    all points at once (an IQM of resampled seeds never leaves the seeds' range, so nothing is clipped).
    `values`: [seeds, points]. None below stats.MIN_SEEDS seeds, where the tables show no interval either."""
    seeds = values.shape[0]
    centre = stats.trim_mean_along(values, axis=0)  # [points]
    if seeds < stats.MIN_SEEDS:
        return None
    rng = np.random.default_rng(seed)
    resampled = values[rng.integers(0, seeds, size=(n_resamples, seeds))]  # [resamples, seeds, points]
    iqms = stats.trim_mean_along(resampled, axis=1)  # [resamples, points]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(iqms, [tail, 100 - tail], axis=0)
    return centre, low, high


def learning_curves(report: Report, path: Path) -> Path | None:
    """IQM training return over seeds per configuration (best first), against env steps, with the same
    95% percentile-bootstrap interval of the IQM the tables use (3 or more seeds)."""
    curves = report.data.curves
    order = [key for key in report.comparison["config"] if (curves["config"] == key).any()]
    if not order:
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for key in order[:MAX_CURVES]:
        seeds = [group.sort_values("env_steps") for _, group in curves[curves["config"] == key].groupby("seed")]
        # Only the span every seed covers: no seed is extrapolated.
        low = max(group["env_steps"].min() for group in seeds)
        high = min(group["env_steps"].max() for group in seeds)
        grid = np.linspace(low, high, GRID_POINTS) if high > low else np.array([low])
        values = np.vstack([np.interp(grid, g["env_steps"], g["return"]) for g in seeds])  # [seeds, grid]
        band = curve_band(values)
        centre = stats.trim_mean_along(values, axis=0)
        (line,) = ax.plot(grid, centre, label=f"{key} ({len(seeds)} seeds)", linewidth=1.8)
        if band is not None:
            ax.fill_between(grid, band[1], band[2], color=line.get_color(), alpha=0.18, linewidth=0)
    return _finish_curves(
        fig,
        ax,
        path,
        f"learning curves, {report.data.name}{_shown(order)}: IQM over seeds, 95% bootstrap band",
        "env steps",
        "training return (mean of the last 100 episodes)",
    )


def _heatmap_axes(report: Report) -> list[str]:
    runs = report.data.runs
    varied = [n for n in report.data.swept if runs[n].map(format_value).nunique() > 1]
    importance = report.importance
    if importance:
        varied.sort(key=lambda n: -importance.get(n, 0.0))
    return varied[:2]


def heatmap(report: Report, path: Path) -> Path | None:
    """IQM score over the two most important swept parameters (each seed averaged over any others)."""
    names = _heatmap_axes(report)
    if len(names) < 2:
        return None
    x_name, y_name = names
    data = report.data
    values = data.runs.drop_duplicates("config").set_index("config")[[x_name, y_name]]
    seeds = per_seed(data).join(values, on="config")
    seeds["x"], seeds["y"] = seeds[x_name].map(format_value), seeds[y_name].map(format_value)
    by_seed = seeds.groupby(["y", "x", "seed"])[report.score].mean().reset_index()
    grid = by_seed.groupby(["y", "x"])[report.score].agg(stats.iqm).unstack("x")
    grid = grid.reindex(index=_natural(grid.index, seeds, y_name), columns=_natural(grid.columns, seeds, x_name))
    counts = by_seed.dropna(subset=[report.score]).groupby(["y", "x"])["seed"].nunique().unstack("x")
    counts = counts.reindex(index=grid.index, columns=grid.columns).fillna(0).astype(int)
    cells = grid.to_numpy(dtype=float)  # [y values, x values]
    seeds_per_cell = counts.to_numpy()  # [y values, x values]: seeds behind each IQM
    fig, ax = plt.subplots(figsize=(1.3 * cells.shape[1] + 3.5, 0.9 * cells.shape[0] + 2.5))
    image = ax.imshow(cells, cmap="viridis", aspect="auto")
    ax.set_xticks(range(cells.shape[1]), list(grid.columns))
    ax.set_yticks(range(cells.shape[0]), list(grid.index))
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    middle = np.nanmean(cells) if np.isfinite(cells).any() else 0.0
    for (i, j), value in np.ndenumerate(cells):
        if np.isfinite(value):
            color = "black" if value > middle else "white"
            text = f"{value:.3g}\nn={seeds_per_cell[i, j]}"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=9)
    score = "final return" if report.score == "final_return" else "AUC"
    fig.colorbar(image, ax=ax, label=f"IQM {score}")
    ax.set_title(f"IQM {score} by {x_name} and {y_name} (n: seeds per cell)")
    return save_figure(fig, path)


def importance_bars(report: Report, path: Path) -> Path | None:
    if not report.importance:
        return None
    names, values = zip(*sorted(report.importance.items(), key=lambda item: item[1]), strict=True)
    fig, ax = plt.subplots(figsize=(7, 0.55 * len(names) + 1.8))
    ax.barh(names, values, color="tab:blue")
    for index, value in enumerate(values):
        ax.text(value, index, f" {value:.2f}", va="center", fontsize=9)
    ax.set_xlim(0, max(1.0, max(values) * 1.15))
    ax.set_xlabel("importance (Optuna PED-ANOVA, sums to 1)")
    ax.set_title(f"which swept parameters matter, {report.data.name}")
    return save_figure(fig, path)


def pareto_front(table: pd.DataFrame, cost: str) -> pd.DataFrame:
    """Configurations no other configuration beats on both score and cost, cheapest first (a lower
    cost is cheaper for CPU time and wall time, a higher one for env steps/s)."""
    cheaper_first = table.sort_values(cost, ascending=cost != "steps_per_s", kind="stable")
    best, keep = -np.inf, []
    for index, row in cheaper_first.iterrows():
        if row["iqm"] > best:
            keep.append(index)
            best = row["iqm"]
    return cheaper_first.loc[keep]


def cost_axis(table: pd.DataFrame) -> str:
    """The cost the plot uses: CPU time per env step when measured (load-proof), else wall time."""
    return "cpu_s_per_step" if "cpu_s_per_step" in table and table["cpu_s_per_step"].notna().any() else "wall_s"


def score_vs_cost(report: Report, path: Path) -> Path | None:
    """IQM (with its interval) against cost (CPU µs per env step, or wall seconds per run for runs that
    did not record CPU time), cheaper to the right, with the Pareto front drawn as a step line."""
    table = report.comparison.dropna(subset=["iqm"])
    cost = cost_axis(table)
    table = table.dropna(subset=[cost])
    if table.empty:
        return None
    scale = 1e6 if cost == "cpu_s_per_step" else 1.0
    x = table[cost] * scale
    fig, ax = plt.subplots(figsize=(9, 5.5))
    meaningful = table["ci_meaningful"].astype(bool)
    errors = np.vstack([table["iqm"] - table["ci_low"], table["ci_high"] - table["iqm"]])
    errors[:, ~meaningful.to_numpy()] = 0.0
    ax.errorbar(x, table["iqm"], yerr=errors, fmt="o", color="tab:gray", ecolor="lightgray", capsize=3)
    front = pareto_front(table, cost)
    label = f"Pareto front ({len(front)} configuration{'s' if len(front) > 1 else ''})"
    ax.plot(front[cost] * scale, front["iqm"], drawstyle="steps-post", color="tab:red", linewidth=2, label=label)
    ax.scatter(front[cost] * scale, front["iqm"], s=70, color="tab:red", zorder=3)
    best = table.iloc[0]
    ax.scatter(
        [best[cost] * scale],
        [best["iqm"]],
        marker="*",
        s=250,
        color="gold",
        edgecolor="black",
        zorder=4,
        label="best",
    )
    if report.cheapest is not None and report.cheapest != best["config"]:
        cheap = table[table["config"] == report.cheapest].iloc[0]
        ax.scatter(
            [cheap[cost] * scale],
            [cheap["iqm"]],
            s=220,
            facecolor="none",
            edgecolor="tab:green",
            linewidth=2,
            zorder=4,
            label="cheapest not worse",
        )
    # Points carry their rank; the key beside the plot names them (names would overlap in clusters).
    for _, row in table.iterrows():
        ax.annotate(
            str(int(row["rank"])),
            (row[cost] * scale, row["iqm"]),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    key = [f"{int(row['rank']):>2}  {row['config']}" for _, row in table.head(MAX_KEY).iterrows()]
    if len(table) > MAX_KEY:
        key.append(f"    ... {len(table) - MAX_KEY} more")
    ax.text(1.02, 1.0, "\n".join(key), transform=ax.transAxes, va="top", fontsize=8, family="monospace")
    ax.set_xlabel(
        "CPU µs per env step (right is cheaper)"
        if cost == "cpu_s_per_step"
        else "wall seconds per run (right is cheaper)"
    )
    ax.invert_xaxis()  # cheaper to the right
    score = "final return" if report.score == "final_return" else "AUC"
    ax.set_ylabel(f"IQM {score} (bars: 95% CI)")
    ax.set_title(f"score against cost, {report.data.name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return save_figure(fig, path)


def _natural(labels: pd.Index, frame: pd.DataFrame, name: str) -> list[str]:
    """Labels in the order of their typed values (4, 8, 20 rather than 20, 4, 8)."""
    typed = {format_value(v): v for v in frame[name]}

    def key(label: str) -> tuple:
        value = typed.get(label, label)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return (0, value, "") if is_number else (1, 0, str(value))

    return sorted(labels, key=key)


def memory_by_lag(report: Report, path: Path) -> Path | None:
    """Influence of the observation k steps back (rnnppo memory, measured at the end of training) per
    configuration (best first): the IQM over seeds with the tables' 95% percentile-bootstrap band (3 or more
    seeds; curve_band), at the lags every seed's episodes reached, each configuration's max_seq_len marked."""
    memory = report.data.memory.dropna(subset=["influence"])
    order = [key for key in report.comparison["config"] if (memory["config"] == key).any()]
    if not order:
        return None
    saw = report.lstm_saw.set_index("config") if "max_seq_len" in report.lstm_saw else None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for key in order[:MAX_CURVES]:
        rows = memory[memory["config"] == key]
        by_seed = rows.pivot_table(index=["trial", "seed"], columns="lag", values="influence").dropna(axis=1)
        lags = by_seed.columns.to_numpy(dtype=float)
        values = by_seed.to_numpy(dtype=float)  # [seeds, lags]
        if values.size == 0:
            continue
        band = curve_band(values)
        centre = stats.trim_mean_along(values, axis=0)
        censored = _at_cap(saw, key)
        label = f"{key} ({len(values)} seeds{f'; {censored} with horizon ≥ their last lag' if censored else ''})"
        (line,) = ax.plot(lags, centre, label=label, linewidth=1.8)
        if band is not None:
            ax.fill_between(lags, band[1], band[2], color=line.get_color(), alpha=0.18, linewidth=0)
        max_seq_len = saw.loc[key, "max_seq_len"] if saw is not None and key in saw.index else None
        if max_seq_len is not None and pd.notna(max_seq_len) and float(max_seq_len) in lags:
            at = centre[int(np.flatnonzero(lags == float(max_seq_len))[0])]
            ax.plot([max_seq_len], [at], marker="|", markersize=14, color=line.get_color())
    return _finish_curves(
        fig,
        ax,
        path,
        f"memory, {report.data.name}{_shown(order)}: influence of the observation k steps back",
        "lag k (steps back); | marks max_seq_len",
        "change of the action distribution (IQM over seeds)",
    )


def _at_cap(saw: pd.DataFrame | None, key: str) -> int:
    """Runs of `key` whose memory horizon is censored at the last lag they measured (0 when unknown)."""
    if saw is None or "memory_at_cap" not in saw:
        return 0
    counts = saw["memory_at_cap"].fillna(0).astype(int)
    return int(counts.get(key, 0))


def _shown(order: list[str]) -> str:
    """The title's note when only the best MAX_CURVES configurations are drawn."""
    return f" (best {MAX_CURVES} of {len(order)})" if len(order) > MAX_CURVES else ""


def _finish_curves(fig: plt.Figure, ax: plt.Axes, path: Path, title: str, xlabel: str, ylabel: str) -> Path:
    """Title, axis labels, grid and a legend beside the axes (best first); then the file."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="best first", title_fontsize=8)
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write a figure as PNG (its folder made if needed) and close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def write_all(report: Report, folder: Path) -> list[Path]:
    """Every figure that has data, as PNG files in `folder`; returns the paths written."""
    folder = Path(folder)
    makers = (learning_curves, heatmap, importance_bars, score_vs_cost, memory_by_lag)
    made = [make(report, folder / name) for make, name in zip(makers, FILES, strict=True)]
    return [path for path in made if path is not None]
