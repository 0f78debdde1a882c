"""The report of a sweep over several tasks (--suite, repeated --env): a per-task report for every task
beside the cross-task aggregate (results/crosstask.py) of the normalised scores.

A task's runs are split off into a StudyData of their own (the `task` column gone, configurations named
by the other swept settings), so each task gets exactly the report a one-env sweep gets, with its own
random-policy baseline. The aggregate normalises each run's score with the task's scale: 0 = the random
policy (the suite's stated score, else the one the sweep measured), 1 = the task's stated reference. A task
without a reference (an --env no suite knows) or without a measured random policy is left out of the
aggregate, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rnnppo.results import crosstask
from rnnppo.results.report import Report, baseline_of, build_report, per_seed
from rnnppo.results.studies import StudyData, config_key, trial_counts
from rnnppo.storage.contract import TASK_PARAM, decode_param


@dataclass
class SuiteReport:
    data: StudyData
    score: str
    per_task: dict[str, Report]
    """Task name -> its own report (in the suite's order)."""
    runs: pd.DataFrame
    """One row per (task, configuration, seed): the score and the normalised score."""
    scales: dict[str, crosstask.TaskScale]
    aggregate: pd.DataFrame
    profile: pd.DataFrame
    improvement: pd.DataFrame
    left_out: list[str] = field(default_factory=list)
    """Why a task is not in the aggregate, one line each."""


def is_multi_task(data: StudyData) -> bool:
    return bool(data.spec.get("tasks"))


def task_names(data: StudyData) -> list[str]:
    return [str(task["name"]) for task in data.spec.get("tasks") or []]


def task_data(data: StudyData, task: str) -> StudyData:
    """The study's runs on one task, as a StudyData a one-env report reads."""
    swept = [name for name in data.swept if name != TASK_PARAM]
    runs = data.runs[data.runs[TASK_PARAM] == task]
    records: list[dict[str, Any]] = [{n: row[n] for n in swept} for _, row in runs.iterrows()]
    renamed = {old: config_key(values, swept) for old, values in zip(runs["config"], records, strict=True)}
    runs = runs.drop(columns=[TASK_PARAM]).assign(config=runs["config"].map(renamed))
    curves = data.curves[data.curves["config"].isin(renamed)]
    memory = data.memory[data.memory["config"].isin(renamed)]
    trials = [t for t in data.trials if decode_param(TASK_PARAM, t.params.get(TASK_PARAM)) == task]
    info: dict[str, Any] = next((t for t in data.spec.get("tasks") or [] if t.get("name") == task), {})
    configs = {renamed[key]: config for key, config in data.configs.items() if key in renamed}
    first = next(iter(configs.values()), {})
    spec = {
        **data.spec,
        "swept": swept,
        "task": task,
        "env": info.get("env", first.get("env", data.spec.get("env"))),
        "env_kwargs": first.get("env_kwargs", info.get("env_kwargs", {})),
        "total_steps": first.get("total_steps", data.spec.get("total_steps")),
    }
    return StudyData(
        name=f"{data.name} / {task}",
        spec=spec,
        swept=swept,
        runs=runs.reset_index(drop=True),
        curves=curves.assign(config=curves["config"].map(renamed)),
        counts=trial_counts(trials),
        study=data.study,
        trials=trials,
        configs=configs,
        warnings=[],
        memory=memory.assign(config=memory["config"].map(renamed)),
    )


def task_scale(info: dict[str, Any], baseline: dict[str, Any] | None) -> tuple[crosstask.TaskScale | None, str]:
    """The task's normalisation scale, or None and why there is none."""
    reference = info.get("reference")
    if not isinstance(reference, int | float):
        return None, "no reference score (a suite task states one; this env was given with --env)"
    random = info.get("random")
    if random is None:
        measured = (baseline or {}).get("mean_return")
        if not isinstance(measured, int | float) or not math.isfinite(measured):
            reason = (baseline or {}).get("error") or "not measured"
            return None, f"its random policy's score is unknown ({reason})"
        random = measured
    try:
        return crosstask.TaskScale(float(random), float(reference)), ""
    except ValueError as err:
        return None, str(err)


EXTRA_COLUMNS = ("cpu_s_per_step", "steps_per_s", "memory_horizon")
"""Per-seed columns kept beside the score: what a configuration costs, and how far back its policy's memory reaches."""


def _per_seed(one: StudyData, score: str) -> pd.DataFrame:
    """One task's per-(configuration, seed) score with its cost and memory horizon (NaN where not measured)."""
    frame = per_seed(one)
    horizon = one.runs.groupby(["config", "seed"], sort=False)["memory_horizon"].mean().rename("memory_horizon")
    frame = frame.join(horizon, on=["config", "seed"])
    for column in EXTRA_COLUMNS:
        if column not in frame:
            frame[column] = float("nan")
    return frame[["config", "seed", score, *EXTRA_COLUMNS]]


def build_suite_report(data: StudyData) -> SuiteReport:
    score = data.objective
    per_task: dict[str, Report] = {}
    scales: dict[str, crosstask.TaskScale] = {}
    left_out: list[str] = []
    frames = []
    infos = {str(t["name"]): t for t in data.spec.get("tasks") or []}
    for task in task_names(data):
        one = task_data(data, task)
        if one.runs.empty:
            left_out.append(f"{task}: no finished runs yet")
            continue
        per_task[task] = build_report(one)
        scale, why = task_scale(infos[task], baseline_of(one))
        if scale is None:
            left_out.append(f"{task}: {why}")
        else:
            scales[task] = scale
        frames.append(_per_seed(one, score).assign(task=task))
    columns = ["task", "config", "seed", score, *EXTRA_COLUMNS]
    runs = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    runs = crosstask.normalised_runs(runs, scales, score)
    scaled = runs.dropna(subset=["normalised"])
    scaled, partial = crosstask.shared_tasks(scaled)
    left_out += [f"{task}: not every configuration has finished on it yet" for task in partial]
    aggregate = crosstask.aggregate_iqm(scaled)
    return SuiteReport(
        data=data,
        score=score,
        per_task=per_task,
        runs=runs,
        scales=scales,
        aggregate=aggregate,
        profile=crosstask.performance_profile(scaled),
        improvement=crosstask.improvement_table(scaled, list(aggregate["config"])),
        left_out=left_out,
    )
