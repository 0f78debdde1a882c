"""A raced sampler (`--seeds MIN..MAX` with tpe, random or cmaes) on simulated studies: false claims and seeds.

Each simulated study runs T trials one after another (as `--jobs 1` does), each on seeds 0..MAX-1 drawn as
benchmarks/racing.py draws them (normal, bounded or success/fail scores, a seed effect shared by every
trial for normal scores). A trial races as rnnppo.sweeps.race_trial does: after each seed n >= MIN it looks
at the leader (the finished trial with the highest mean over its own seeds among those with n or more
seeds) with `rnnppo.core.sequential.versus_leader` and `RaceDesign(MIN, MAX, configs=T)`, and stops when
shown worse or equivalent within D.

* A/A: every trial the same. **False claims**: the share of studies with any false claim (a "worse" or
  "better" of two trials with the same mean, an "equivalent" of two D or more apart).
* A/B: trials alternate between two configurations, the odd ones worse by the kind's effect (what a sampler
  that keeps trying a bad region looks like). **Power**: the share of the worse trials stopped as worse;
  **steps_share**: seed runs used over T x MAX.

The trials' configurations are fixed here; a real sampler picks them from earlier scores, which this does
not model (under A/A the choice cannot matter: every configuration is the same).

Run: `nice -n 10 python benchmarks/racing_sampler.py [--studies 500] [--min 3 --max 10]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from racing import EFFECTS, MIN_EFFECT, draw_shifted  # benchmarks/ is the script's folder, so it is on sys.path

from rnnppo.core.sequential import BETTER, EQUIVALENT, WORSE, RaceDesign, versus_leader


def shifts(kind: str, trials: int, study: str) -> np.ndarray:
    """Each trial's true shift of the mean [trials]: all 0 (A/A), or 0 and -effect alternating (A/B)."""
    if study == "A/A":
        return np.zeros(trials)
    return np.where(np.arange(trials) % 2 == 1, -EFFECTS[kind], 0.0)


def one_study(scores: np.ndarray, truth: np.ndarray, design: RaceDesign) -> tuple[bool, int, list[bool]]:
    """Race the trials in order: (any false claim, seed runs used, per truly worse trial whether it was
    stopped as worse)."""
    finished: list[np.ndarray] = []
    false_claim, used, stopped_worse = False, 0, []
    for index, row in enumerate(scores):
        seeds, status = design.max_seeds, None
        for n in design.looks:
            candidates = [j for j, ran in enumerate(finished) if len(ran) >= n]
            if not candidates:
                continue
            leader = max(candidates, key=lambda j: (finished[j].mean(), -j))
            decision = versus_leader(list(row[:n]), list(finished[leader]), str(leader), design)
            gap = truth[index] - truth[leader]
            if decision.status == WORSE:
                false_claim |= gap >= 0
            elif decision.status == BETTER:
                false_claim |= gap <= 0
            elif decision.status == EQUIVALENT:
                false_claim |= abs(gap) >= (design.min_effect or 0.0)
            if decision.stopped:
                seeds, status = n, decision.status
                break
        if truth[index] < truth.max():
            stopped_worse.append(status == WORSE)
        finished.append(row[:seeds])
        used += seeds
    return false_claim, used, stopped_worse


def one_case(kind: str, trials: int, study: str, design: RaceDesign, studies: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    truth = shifts(kind, trials, study)
    false_claims = used = 0
    worse: list[bool] = []
    for _ in range(studies):
        claim, runs, stopped_worse = one_study(draw_shifted(kind, truth, design.max_seeds, rng), truth, design)
        false_claims += claim
        used += runs
        worse += stopped_worse
    rate = false_claims / studies
    return {
        "kind": kind,
        "trials": trials,
        "study": study,
        "false_claims": rate,
        "false_se": float(np.sqrt(rate * (1 - rate) / studies)),
        "power": float(np.mean(worse)) if worse else np.nan,
        "steps_share": used / (studies * trials * design.max_seeds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=500)
    parser.add_argument("--min", type=int, default=3)
    parser.add_argument("--max", type=int, default=10)
    args = parser.parse_args()
    began = time.perf_counter()
    rows = []
    for kind in ("normal", "bounded", "success"):
        for trials in (4, 20):
            design = RaceDesign(args.min, args.max, trials, min_effect=MIN_EFFECT[kind])
            for study in ("A/A", "A/B"):
                rows.append(one_case(kind, trials, study, design, args.studies, len(rows) + 1))
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(f"raced sampler {args.min}..{args.max}, {args.studies} studies per row; effects {EFFECTS}; D {MIN_EFFECT}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"A/A false claims: max {table[table['study'] == 'A/A']['false_claims'].max():.3f} (target <= 0.05)")
    print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
