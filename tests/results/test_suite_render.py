"""The one-line verdict of a multi-task report names the best by IQM only as far as the evidence goes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnppo.results import crosstask
from rnnppo.results.suite_render import verdict
from rnnppo.results.suite_report import SuiteReport


def _report(means: dict[str, float], seeds: int = 40) -> SuiteReport:
    rng = np.random.default_rng(3)
    rows = [
        {"task": task, "config": config, "seed": seed, "normalised": mean + 0.05 * rng.standard_normal()}
        for task in ("a", "b")
        for config, mean in means.items()
        for seed in range(seeds)
    ]
    frame = pd.DataFrame(rows)
    aggregate = crosstask.aggregate_iqm(frame, n_resamples=300)
    improvement = crosstask.improvement_table(frame, list(aggregate["config"]), n_resamples=300)
    profile = crosstask.performance_profile(frame, n_resamples=300)
    return SuiteReport(None, "final_return", {}, frame, {}, aggregate, profile, improvement)  # type: ignore[arg-type]


def test_the_verdict_names_who_is_better_and_who_is_not_separable():
    text = verdict(_report({"x": 0.8, "y": 0.2, "z": 0.8}))
    assert text.startswith("highest IQM across tasks: ")
    assert "better than y (probability of improvement and paired test agree)" in text
    assert "not separable from" in text and text.count("better than") == 1


def test_without_scores_the_verdict_says_why():
    empty = pd.DataFrame(columns=["task", "config", "seed", "normalised"])
    report = SuiteReport(None, "final_return", {}, empty, {}, crosstask.aggregate_iqm(empty), empty, empty)  # type: ignore[arg-type]
    report.left_out = ["cue-2: no finished runs yet"]
    assert verdict(report) == "no normalised scores yet: cue-2: no finished runs yet"
