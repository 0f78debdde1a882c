"""A max_seq_len sweep against the atlas (docs/atlas.md): where the study's own runs agree with what the atlas
measured on the same task, and where they do not.

The atlas's max_seq_len rule is one test per task: do the runs trained with max_seq_len at or above the
task's memory distance d score higher than the runs below it (two-sample permutation test, Holm over the
atlas's tasks)? `benchmarks/atlas.py docs` ships each task's result in rnnppo/suites/atlas.json. A study that
sweeps max_seq_len (and nothing else) on one of those tasks (the same env and env arguments) gets the same
test on its own runs, and one line that puts the two side by side: "agrees" only when both are shown with
the same sign, "disagrees" only when both are shown with opposite signs, otherwise which of the two did not
separate them. Budgets and settings may differ from the atlas's (its are the package defaults at each task's
budget): the line says both budgets.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rnnppo.results.paired import ALPHA, two_sample_p
from rnnppo.results.studies import StudyData

FINDINGS = Path(__file__).resolve().parent.parent / "suites" / "atlas.json"


@dataclass(frozen=True)
class Finding:
    """The atlas's max_seq_len split on one task."""

    task: str
    env: str
    env_kwargs: dict[str, Any]
    memory: int
    budget: int
    seeds: int
    difference: float
    """Mean normalised score at or above the memory distance minus below it."""
    p_holm: float


def findings(path: Path | None = None) -> list[Finding]:
    """The shipped findings; none when the file is missing or unreadable (the atlas is optional)."""
    try:
        raw = json.loads((path or FINDINGS).read_text(encoding="utf-8"))
        return [Finding(**entry) for entry in raw.get("max_seq_len", [])]
    except (OSError, ValueError, TypeError):
        return []


def finding_for(env: str, env_kwargs: dict[str, Any], path: Path | None = None) -> Finding | None:
    return next((f for f in findings(path) if f.env == env and f.env_kwargs == dict(env_kwargs)), None)


def _runs(data: StudyData) -> pd.DataFrame:
    """One row per (configuration, seed): its max_seq_len and score."""
    from rnnppo.results.report import per_seed

    frame = per_seed(data)
    return frame.assign(max_seq_len=frame["config"].map(lambda c: data.configs[c]["max_seq_len"]))


def atlas_lines(data: StudyData, path: Path | None = None) -> list[str]:
    """The comparison with the atlas, or nothing when the study is not a max_seq_len sweep on an atlas task."""
    if data.swept != ["max_seq_len"] or not data.configs or data.runs.empty:
        return []
    config = next(iter(data.configs.values()))
    finding = finding_for(config["env"], config.get("env_kwargs") or {}, path)
    if finding is None:
        return []
    d = finding.memory
    runs = _runs(data).dropna(subset=[data.objective])
    below = runs[runs["max_seq_len"] < d][data.objective]
    above = runs[runs["max_seq_len"] >= d][data.objective]
    head = (
        f"atlas (docs/atlas.md, task {finding.task}: memory distance {d} steps): runs at max_seq_len ≥ {d} "
        f"against below {d}"
    )
    if below.empty or above.empty:
        side = "below" if above.empty else f"at or above {d}"
        return [f"{head}: every value of this sweep is {side}, so the atlas's comparison cannot be made here"]
    ours = float(above.mean() - below.mean())
    p = two_sample_p(above.to_numpy(), below.to_numpy())
    atlas = (
        f"the atlas: {finding.difference:+.2f} normalised, Holm p = {finding.p_holm:.2g} "
        f"({finding.seeds} seeds per value, {finding.budget:,} steps, package defaults)"
    )
    here = (
        f"this sweep: {ours:+.3g} ({len(above)} runs at or above, {len(below)} below; two-sample permutation "
        f"p = {p:.2g}, {config['total_steps']:,} steps)"
        if not math.isnan(p)
        else f"this sweep: {ours:+.3g} ({len(above)} runs at or above, {len(below)} below: too few for the test)"
    )
    return [f"{head}: {_words(ours, p, finding)}; {here}; {atlas}"]


def _words(ours: float, p: float, finding: Finding) -> str:
    shown_here = not math.isnan(p) and p < ALPHA and ours != 0
    shown_there = finding.p_holm < ALPHA and finding.difference != 0
    if shown_here and shown_there:
        same = (ours > 0) == (finding.difference > 0)
        return "agrees with the atlas" if same else "disagrees with the atlas (both shown, opposite signs)"
    if shown_there:
        return "not separated here, so no disagreement: the atlas separated them on this task"
    if shown_here:
        return "separated here; the atlas did not separate them on this task"
    return "neither this sweep nor the atlas separates them"
