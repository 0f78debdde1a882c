"""The history of nightly sweeps (one study per night, `<prefix>-YYYY-MM-DD`) and the regression checks
of tonight's reference configuration (score and speed) against the previous nights."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass

import optuna
import pandas as pd

from rnnppo.nightly.config import NightlySpec
from rnnppo.results import stats
from rnnppo.results.report import comparison_table
from rnnppo.results.studies import StudyData, load_study


def nights(storage: optuna.storages.BaseStorage, prefix: str) -> list[tuple[str, str]]:
    """(date, study name) of every night of this prefix in the storage, oldest first."""
    out = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        name = summary.study_name
        if name.startswith(prefix + "-"):
            date = name[len(prefix) + 1 :]
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                continue
            out.append((date, name))
    return sorted(out)


@dataclass
class Night:
    date: str
    data: StudyData
    table: pd.DataFrame


def load_nights(storage: optuna.storages.BaseStorage, prefix: str, upto: str) -> list[Night]:
    loaded = []
    for date, name in nights(storage, prefix):
        if date > upto:
            continue
        data = load_study(storage, name)
        loaded.append(Night(date, data, comparison_table(data)))
    return loaded


def _row(night: Night, config: str | None) -> pd.Series | None:
    if night.table.empty:
        return None
    if config is None:
        return night.table.iloc[0]
    match = night.table[night.table["config"] == config]
    return None if match.empty else match.iloc[0]


def history_table(history: list[Night], reference: str | None) -> pd.DataFrame:
    """One row per night: best configuration, the reference's IQM with its interval, speed, commit."""
    rows = []
    previous_iqm = math.nan
    for night in history:
        best = _row(night, None)
        ref = _row(night, reference)
        provenance = night.data.study.user_attrs.get("rnnppo_provenance", {})
        git = provenance.get("git", {})
        commit = (git.get("commit") or "?")[:10] + ("+dirty" if git.get("dirty") else "")
        iqm = float(ref["iqm"]) if ref is not None else math.nan
        counts = night.data.counts
        rows.append(
            {
                "night": night.date,
                "trials": f"{counts['complete']} done"
                + (
                    f", {counts['running'] + counts['waiting']} unfinished"
                    if counts["running"] + counts["waiting"]
                    else ""
                ),
                "best": best["config"] if best is not None else "–",
                "reference": reference or "(best)",
                "iqm": iqm,
                "ci": (
                    f"[{ref['ci_low']:.3g}, {ref['ci_high']:.3g}]"
                    if ref is not None and ref["ci_meaningful"]
                    else "n/a"
                ),
                "change": iqm - previous_iqm,
                "steps_per_s": float(ref["steps_per_s"]) if ref is not None else math.nan,
                "commit": commit,
                "torch": provenance.get("versions", {}).get("torch", "?"),
            }
        )
        previous_iqm = iqm
    return pd.DataFrame(rows)


def unchecked(history: list[Night], spec: NightlySpec, worker_errors: list[str]) -> list[str]:
    """Why tonight (the last night) could not be checked for regressions; empty when it could."""
    messages = [f"{error}; tonight's sweep did not finish" for error in worker_errors]
    tonight = history[-1] if history else None
    if tonight is None or tonight.data.counts["complete"] == 0:
        messages.append("no trial of tonight's sweep completed (see the failures above)")
    elif spec.reference is not None and _row(tonight, spec.reference) is None:
        messages.append(f"the reference configuration {spec.reference} has no finished trial tonight")
    return messages


def regressions(history: list[Night], spec: NightlySpec) -> list[str]:
    """Messages for tonight's (the last night's) regressions against the previous `history_nights`."""
    if len(history) < 2:
        return []
    tonight, before = history[-1], history[-1 - spec.history_nights : -1]
    ref = _row(tonight, spec.reference)
    if ref is None:
        return []
    config = ref["config"]
    mine = tonight.data.runs[tonight.data.runs["config"] == config]["final_return"]
    found = [(n, row) for n in before if (row := _row(n, config)) is not None]  # the nights that ran it
    previous = [n for n, _ in found]
    if not previous:
        return []
    messages = []
    iqms = [float(row["iqm"]) for _, row in found]
    median_night = previous[sorted(range(len(iqms)), key=lambda i: iqms[i])[len(iqms) // 2]]
    theirs = median_night.data.runs[median_night.data.runs["config"] == config]["final_return"]
    if stats.is_significantly_below(mine.to_numpy(), theirs.to_numpy(), "iqm", margin=spec.regression_margin):
        messages.append(
            f"score regression: {config} scored IQM {stats.iqm(mine):.4g} on {tonight.date}, "
            f"significantly below {stats.iqm(theirs):.4g} on {median_night.date} (the median of the "
            f"previous {len(previous)} nights)"
        )
    speeds = [float(row["steps_per_s"]) for _, row in found]
    usual = statistics.median(speeds)
    now = float(ref["steps_per_s"])
    if usual > 0 and now < usual * (1 - spec.speed_drop):
        messages.append(
            f"speed regression: {config} ran at {now:,.0f} env steps/s on {tonight.date}, "
            f"{100 * (1 - now / usual):.0f}% below the median {usual:,.0f} of the previous "
            f"{len(previous)} nights (threshold {100 * spec.speed_drop:.0f}%)"
        )
    return messages
