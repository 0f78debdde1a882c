"""Timing helpers the speed benchmarks share: a measurement in a fresh process, measurements taken in
alternating rounds, and medians.

Alternating matters on a shared machine: load that comes and goes falls on every measurement of a round
alike, so the medians (and the ratio within each round) compare like with like. The scripts import this
module by its bare name (benchmarks/ is a script's own folder, so it is on sys.path).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

Key = TypeVar("Key", bound=Hashable)


def child_result(command: list[str]) -> dict[str, Any]:
    """Run `command` (a benchmark in its child mode) in a fresh process and return the JSON object that its last
    line of output holds (so the process's own peak RSS and start-up belong to that one measurement)."""
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def alternate(
    measurements: Mapping[Key, Callable[[], dict[str, Any]]],
    repeats: int,
    report: Callable[[Key, dict[str, Any]], None] | None = None,
) -> dict[Key, list[dict[str, Any]]]:
    """Take every measurement once per round, in the mapping's order, for `repeats` rounds; -> each one's results
    in round order (result i of every key comes from round i). `report(key, result)` is called after each one
    (progress lines)."""
    runs: dict[Key, list[dict[str, Any]]] = {key: [] for key in measurements}
    for _ in range(repeats):
        for key, measure in measurements.items():
            runs[key].append(measure())
            if report is not None:
                report(key, runs[key][-1])
    return runs


def rate(run: Mapping[str, Any]) -> float:
    """Env steps per second of wall time."""
    return run["env_steps"] / run["wall_s"]


def median(values: list[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median env steps/s (the upper one of an even count), so that its memory and breakdown
    belong to one real run."""
    ordered = sorted(runs, key=rate)
    return ordered[len(ordered) // 2]
