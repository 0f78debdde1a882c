"""What a sweep would do, without storing anything: the expanded space, counts and a time estimate."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from rnnppo.core.envs.workers import usable_cores
from rnnppo.sweeps.study import SweepSpec, iterations_per_run, resolve_sampler_name
from rnnppo.sweeps.tasks import TASK


@dataclass(frozen=True)
class SweepPlan:
    sampler: str
    space_rows: list[tuple[str, str]]
    trials: int
    runs: int
    env_steps: int
    iterations_per_run: int
    probe_steps_per_s: float | None
    probe_overhead_s: float | None
    startup_s: float | None = None  # how long this process took to start: the coordinator's and a worker's

    @property
    def seeds(self) -> int:
        return self.runs // self.trials if self.trials else 0

    def estimated_seconds(self, jobs: int, cores: int | None = None) -> float | None:
        """Wall time of the sweep. A trial's seeds run one after another in one worker, and a trial never
        uses two jobs: the trials go in waves of min(jobs, trials), each wave as long as one trial. More
        concurrent runs than cores slow each run down by runs / cores (the probe ran alone). Before the
        first run, the sweep command starts and then its workers do (each about as long as this process
        took to start); opening the storage and the closing report are not counted."""
        if not self.probe_steps_per_s or not self.trials:
            return None
        per_run = self.env_steps / self.runs / self.probe_steps_per_s + (self.probe_overhead_s or 0.0)
        concurrent = max(1, min(jobs, self.trials))
        slowdown = max(1.0, concurrent / (cores or usable_cores()))
        waves = math.ceil(self.trials / concurrent)
        return 2 * (self.startup_s or 0.0) + waves * self.seeds * per_run * slowdown


def make_plan(spec: SweepSpec, probe: bool = True) -> SweepPlan:
    space = spec.space
    sampler = resolve_sampler_name(spec.sampler, space)
    base = spec.base_config()
    runs = spec.trials * len(spec.seeds)
    # One probe config per task (a one-env sweep has one): the first point of the space on that task.
    first = space.first_point()
    configs = [spec.config_for({**first, TASK: t.name}, spec.seeds[0]) for t in spec.tasks] or [
        spec.config_for(first, spec.seeds[0])
    ]
    per_task_runs = runs // len(configs)
    run_steps = [iterations_per_run(c) * c.num_envs * c.rollout_len for c in configs]
    speed = overhead = startup = None
    if probe:
        from rnnppo.core.runs.trainer import train  # here: `rnnppo sweep` imports this module, and no torch

        startup = process_age_s()
        seconds, overheads = 0.0, []
        for config, steps in zip(configs, run_steps, strict=True):
            one_iteration = config.num_envs * config.rollout_len
            began = time.perf_counter()
            # with the run's evaluation: every real run ends with one, and its cost is part of the overhead
            result = train(config.replace(total_steps=one_iteration))
            elapsed = time.perf_counter() - began
            seconds += steps / result.summary["steps_per_s"]
            overheads.append(max(0.0, elapsed - result.summary["train_time_s"]))
        speed = sum(run_steps) / seconds  # over the tasks' runs: their mean time per env step
        overhead = sum(overheads) / len(overheads)
    return SweepPlan(
        sampler,
        space.describe(),
        spec.trials,
        runs,
        per_task_runs * sum(run_steps),
        iterations_per_run(base),
        speed,
        overhead,
        startup,
    )


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): Python and rnnppo's imports, the
    same start-up each sweep worker goes through."""
    try:
        with open("/proc/self/stat") as handle:
            started_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None
