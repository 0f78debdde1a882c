"""What summary.json needs from a run's iterations, added up as they come at a constant cost per iteration
(no list of every row kept: a 10M-step run has ~10k iterations)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rnnppo.core.config import LSTM_SAW_KEYS


class RunTally:
    """Iteration count, the last row, means of the LSTM_SAW_KEYS columns, and the area under the
    `return_mean_100` curve (trapezoids over env_steps, skipping NaN points)."""

    def __init__(self) -> None:
        self.iterations = 0
        self.last_row: Mapping[str, Any] = {}
        self.saw_sums = dict.fromkeys(LSTM_SAW_KEYS, 0.0)
        self.area = 0.0
        self.first_x: float | None = None
        self.last_point: tuple[float, float] | None = None
        self.cpu_first = math.nan
        self.cpu_sum, self.cpu_count = 0.0, 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.iterations += 1
        self.last_row = row
        cpu = row.get("cpu_s_per_step")  # absent in rows written before it was recorded
        if cpu is not None and not math.isnan(cpu):
            if self.iterations == 1:
                self.cpu_first = float(cpu)
            else:
                self.cpu_sum += float(cpu)
                self.cpu_count += 1
        for key in LSTM_SAW_KEYS:
            self.saw_sums[key] += row[key]
        y = row["return_mean_100"]
        if math.isnan(y):
            return
        x = float(row["env_steps"])
        if self.last_point is None:
            self.first_x = x
        else:
            x0, y0 = self.last_point
            self.area += (x - x0) * (y + y0) / 2
        self.last_point = (x, y)

    @property
    def auc(self) -> float:
        """Mean of the return curve over the env steps it covers (its one point if it has one; NaN if none)."""
        if self.last_point is None or self.first_x is None:
            return math.nan
        span = self.last_point[0] - self.first_x
        return self.last_point[1] if span == 0 else self.area / span

    @property
    def cpu_s_per_step(self) -> float:
        """This process's CPU seconds per env step, the mean over the iterations after the first (which
        holds one-off warm-up); the first one's value for a one-iteration run. Other processes on the
        machine barely change it, unlike wall time."""
        return self.cpu_sum / self.cpu_count if self.cpu_count else self.cpu_first

    def lstm_saw(self) -> dict[str, float]:
        return {key: total / self.iterations if self.iterations else math.nan for key, total in self.saw_sums.items()}
