"""A sweep over several tasks as text: the tasks and their scales, the cross-task aggregate (IQM of normalised
scores, probability of improvement, performance profile), then each task's own comparison and verdict."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape

from rnnppo.results import render as one
from rnnppo.results.render import Section, num
from rnnppo.results.suite_report import SuiteReport

FORMATS = ("table", "markdown", "csv", "json", "html")
PROFILE_SHOWN = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Thresholds of the performance profile shown in tables (all of crosstask.THRESHOLDS are in JSON)."""


def header_line(report: SuiteReport) -> str:
    spec, counts = report.data.spec, report.data.counts
    what = f"suite {spec['suite']}" if spec.get("suite") else "envs"
    rest = ", ".join(f"{n} {state}" for state, n in counts.items() if state != "complete" and n)
    return (
        f"study {report.data.name}: {what}, {len(spec.get('tasks') or [])} tasks, objective "
        f"{spec.get('objective', 'final')}; {counts.get('complete', 0)} trials complete"
        + (f" ({rest}: not in the tables)" if rest else "")
    )


def tasks_section(report: SuiteReport) -> Section:
    rows = []
    for info in report.data.spec.get("tasks") or []:
        name = str(info["name"])
        scale = report.scales.get(name)
        task_report = report.per_task.get(name)
        best = task_report.comparison.iloc[0] if task_report is not None and len(task_report.comparison) else None
        kwargs = ", ".join(f"{k}={v}" for k, v in (info.get("env_kwargs") or {}).items())
        rows.append(
            [
                name,
                str(info.get("env", "")) + (f" ({kwargs})" if kwargs else ""),
                "–" if info.get("memory") is None else str(info["memory"]),
                "–" if scale is None else num(scale.random),
                "–" if scale is None else num(scale.reference),
                "–" if best is None else f"{best['config']}: {num(best['iqm'])}",
            ]
        )
    note = (
        "normalised score = (score - random) / (reference - random): 0 = a uniformly random policy (measured "
        "by the sweep, 100 episodes, unless the suite states it), 1 = the task's stated reference (`rnnppo "
        "suites` says what each is)"
    )
    if report.left_out:
        note += "; left out of the aggregate: " + "; ".join(report.left_out)
    header = ["task", "env", "memory", "0 (random)", "1 (reference)", "best here (IQM score)"]
    return Section("tasks", header, rows, note, left=2)


def aggregate_section(report: SuiteReport) -> Section:
    rows = [
        [
            str(row["config"]),
            str(int(row["tasks"])),
            str(int(row["runs"])),
            num(row["iqm"]),
            one.interval(row),
            num(row["mean"]),
        ]
        for _, row in report.aggregate.iterrows()
    ]
    note = (
        "IQM over every task x seed run of the normalised scores; 95% CI: stratified bootstrap (seeds "
        "resampled within each task, rliable's method)"
    )
    header = ["configuration", "tasks", "runs", "IQM normalised", "95% CI", "mean"]
    return Section("across tasks (best first)", header, rows, note, left=1)


def improvement_section(report: SuiteReport) -> Section:
    rows = [
        [
            f"{row['x']} > {row['y']}",
            num(row["probability"], 2),
            f"[{num(row['low'], 2)}, {num(row['high'], 2)}]" if row["meaningful"] else one.NOT_MEANINGFUL,
            num(row["mean_diff"]),
            one._p_text(row["p_holm"]),
            "yes" if row["separable"] else "not separable",
        ]
        for _, row in report.improvement.iterrows()
    ]
    note = (
        "P(X > Y): rliable's probability of improvement (a run of X beats a run of Y; ties count 1/2), the mean "
        "over tasks; interval: stratified bootstrap (X's and Y's runs resampled within each task). Holm p: paired "
        "exact sign-flip test over seeds of the mean normalised difference over tasks, Holm-corrected. 'yes' only when "
        "both separate them, in the same direction"
    )
    if report.improvement.empty:
        note = "one configuration (or none) has normalised scores: nothing to compare"
    header = ["comparison", "P(X > Y)", "95% CI", "mean diff", "Holm p", "separable"]
    return Section("probability of improvement (the best against each)", header, rows, note, left=1)


def profile_section(report: SuiteReport) -> Section:
    profile = report.profile[report.profile["threshold"].isin(PROFILE_SHOWN)]
    rows = []
    for config, group in profile.groupby("config", sort=False):
        cells = []
        for _, row in group.iterrows():
            band = f" [{num(row['low'], 2)}, {num(row['high'], 2)}]" if row["meaningful"] else ""
            cells.append(f"{num(row['fraction'], 2)}{band}")
        rows.append([str(config), *cells])
    note = (
        "fraction of runs with a normalised score above τ (each task weighted equally), with a 95% "
        "stratified bootstrap band"
    )
    return Section("performance profile", ["configuration", *[f"τ > {t:g}" for t in PROFILE_SHOWN]], rows, note)


def verdict(report: SuiteReport) -> str:
    """One line: the best configuration across tasks, and which others are separable from it."""
    if report.aggregate.empty:
        return "no normalised scores yet: " + ("; ".join(report.left_out) or "no runs finished")
    best = str(report.aggregate.iloc[0]["config"])
    if report.improvement.empty:
        return f"only {best} has normalised scores across tasks; nothing to compare"
    table = report.improvement
    separable = table["separable"].astype(bool)
    worse = list(table.loc[separable & (table["mean_diff"] > 0), "y"])
    better = list(table.loc[separable & (table["mean_diff"] < 0), "y"])
    open_ = list(table.loc[~separable, "y"])
    parts = [f"highest IQM across tasks: {best}"]
    if worse:
        parts.append(f"better than {', '.join(worse)} (probability of improvement and paired test agree)")
    if better:  # the IQM ranks it first, but over seeds and pairs of runs another is better
        parts.append(f"yet {', '.join(better)} better than it by the probability of improvement and paired test")
    if open_:
        parts.append(f"not separable from {', '.join(open_)}")
    return "; ".join(parts)


def sections(report: SuiteReport, per_task: bool = True) -> list[Section]:
    out = [tasks_section(report), aggregate_section(report), improvement_section(report), profile_section(report)]
    if per_task:
        for task, task_report in report.per_task.items():
            section = one.comparison_section(task_report)
            out.append(dataclasses.replace(section, title=f"{task}: {section.title}", note=task_report.verdict))
    return out


def print_suite_report(report: SuiteReport, console: Console) -> None:
    console.print(f"[bold]{escape(header_line(report))}[/]")
    one.print_sections(console, sections(report))
    console.print(f"[bold green]verdict across tasks:[/] {escape(verdict(report))}")


def to_json(report: SuiteReport) -> str:
    payload: dict[str, Any] = {
        "study": report.data.name,
        "spec": report.data.spec,
        "counts": report.data.counts,
        "score": report.score,
        "verdict": verdict(report),
        "scales": {task: dataclasses.asdict(scale) for task, scale in report.scales.items()},
        "left_out": report.left_out,
        "aggregate": one._records(report.aggregate),
        "improvement": one._records(report.improvement),
        "profile": one._records(report.profile),
        "runs": one._records(report.runs),
        "tasks": {
            task: {"verdict": r.verdict, "comparison": one._records(r.comparison)}
            for task, r in report.per_task.items()
        },
    }
    return json.dumps(one.json_safe(payload), indent=2, default=str, allow_nan=False) + "\n"


def runs_csv(report: SuiteReport) -> str:
    """The per-seed results behind the aggregate: task, configuration, seed, score, normalised score."""
    return pd.DataFrame(report.runs).to_csv(index=False)


def render(report: SuiteReport, fmt: str) -> str:
    if fmt == "table":
        buffer = io.StringIO()
        print_suite_report(report, Console(file=buffer, width=100, color_system=None, highlight=False))
        return buffer.getvalue()
    if fmt == "markdown":
        return one._markdown(f"rnnppo report: {header_line(report)}", sections(report), verdict(report))
    if fmt == "csv":
        return runs_csv(report)
    if fmt == "json":
        return to_json(report)
    if fmt == "html":
        return one._html(f"rnnppo report: {header_line(report)}", sections(report), verdict(report))
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
