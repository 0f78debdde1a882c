"""Calibration of the report's sentences: its own verdict code run on simulated A/A and A/B studies.

    python benchmarks/calibration.py                    # 120 A/A and 50 A/B studies per case
    python benchmarks/calibration.py --studies 400      # slower, tighter
    python benchmarks/calibration.py --kind bounded --configs 2 --seeds 10 --studies 1000   # one case

Cases: three score kinds x 2 and 4 configurations x 3, 5 and 10 seeds.

* normal: a return, 50 + seed luck (sd 10, shared by every configuration of a seed) + noise (sd 5);
  random policy 20 ± 1; D (--min-effect) the report's default (10% of highest IQM - random).
* bounded: a success share of 30 evaluation episodes (discrete steps of 1/30, in [0, 1]) at a per-seed
  success chance 0.6 + seed luck (sd 0.15), clipped; random 0.2 ± 0.02; D = 0.1.
* success/fail: bimodal: each seed either learns (success chance 0.95) or fails (0.05), each with chance
  1/2; random 0.05 ± 0.01; D = 0.1.

A/A: every configuration has the same score distribution (and the same cost distribution: per-seed CPU
time 200 µs x a load factor that moves each run by up to ±25%). Any of these report sentences is then false:
a "better" / "worse" / "best" status, a cheapest_not_worse, "nothing learned" (every configuration
learned: its mean is far above random), an importance (its gates passing); "any false in a report"
counts a study with one or more of those. Counted apart (another command): a nightly score
regression (the same configuration on two nights, the report's test, Holm) and a nightly speed
regression (tonight's CPU time against three earlier nights of other commits, same code, load only).
A/B: configuration 0 is better by a stated effect (normal +10, bounded +0.15, success/fail: learns with
chance 0.9); power is the share of studies that name it best (separable from every other), and "false"
counts a sentence that is wrong there (it, or a null configuration, called worse than a null one).
Coverage: share of A/A studies whose 95% IQM interval (config 0) covers the population IQM, and whose
95% paired-difference interval covers 0.

Prints a markdown table. Every number comes from the code the report runs (results/verdict.py,
results/paired.py, results/stats.py, nightly/history.py); nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from rnnppo.nightly import history
from rnnppo.nightly.config import NightlySpec
from rnnppo.results import paired, stats
from rnnppo.results import verdict as claims
from rnnppo.sweeps.request import SweepRequest

EPISODES = 30
CPU_S = 200e-6


@dataclass(frozen=True)
class Kind:
    name: str
    draw: Callable[[np.random.Generator, int, int, float], np.ndarray]
    """(rng, configs, seeds, effect on config 0) -> [configs, seeds] scores."""
    baseline: dict
    bounds: tuple[float, float] | None
    effect: float
    min_effect: float | None  # None: the report's default for a return


def _normal(rng: np.random.Generator, configs: int, seeds: int, effect: float) -> np.ndarray:
    luck = rng.normal(0, 10, seeds)
    scores = 50 + luck + rng.normal(0, 5, (configs, seeds))
    scores[0] += effect
    return scores


def _bounded(rng: np.random.Generator, configs: int, seeds: int, effect: float) -> np.ndarray:
    chance = np.clip(0.6 + rng.normal(0, 0.15, seeds), 0, 1) * np.ones((configs, 1))
    chance[0] = np.clip(chance[0] + effect, 0, 1)
    return rng.binomial(EPISODES, chance) / EPISODES


def _success(rng: np.random.Generator, configs: int, seeds: int, effect: float) -> np.ndarray:
    learns = rng.random((configs, seeds)) < np.where(np.arange(configs)[:, None] == 0, 0.5 + effect, 0.5)
    return rng.binomial(EPISODES, np.where(learns, 0.95, 0.05)) / EPISODES


KINDS = (
    Kind("normal", _normal, {"mean_return": 20.0, "sem_return": 1.0, "episodes": 100}, None, 10.0, None),
    Kind("bounded", _bounded, {"mean_return": 0.2, "sem_return": 0.02, "episodes": 100}, (0.0, 1.0), 0.15, 0.1),
    Kind("success/fail", _success, {"mean_return": 0.05, "sem_return": 0.01, "episodes": 100}, (0.0, 1.0), 0.4, 0.1),
)


def population_iqm(kind: Kind, rng: np.random.Generator) -> float:
    """The IQM of one configuration's score distribution, from 200,000 draws."""
    values = kind.draw(rng, 1, 200_000, 0.0)[0]
    return float(scipy_stats.trim_mean(values, 0.25))


def _frame(scores: np.ndarray, cpu: np.ndarray) -> pd.DataFrame:
    configs, seeds = scores.shape
    return pd.DataFrame(
        {
            "config": [f"c{c}" for c in range(configs) for _ in range(seeds)],
            "seed": [s for _ in range(configs) for s in range(seeds)],
            "score": scores.ravel(),
            "cpu_s_per_step": cpu.ravel(),
        }
    )


def _load(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """CPU s per step of identical computations: a load factor per run, up to ±25%."""
    return CPU_S * rng.uniform(0.75, 1.25, shape)


def one_study(kind: Kind, scores: np.ndarray, rng: np.random.Generator) -> dict:
    """The report's claims on one simulated study (results/verdict.py as report.py calls it)."""
    seeds = _frame(scores, _load(rng, scores.shape))
    table = stats.summarise(seeds, "config", "score", bounds=kind.bounds)
    effect = (
        kind.min_effect if kind.min_effect is not None else claims.default_min_effect(table, "return", kind.baseline)
    )
    order = list(table["config"])
    bound = math.inf if kind.bounds is None else kind.bounds[1] - kind.bounds[0]
    table = table.merge(claims.cost_columns(seeds, order), on="config")
    table = table.merge(claims.against_best(seeds, order, "score", effect, bound), on="config")
    table = table.merge(claims.against_baseline(seeds, order, "score", kind.baseline, effect), on="config")
    cheapest = claims.cheapest_not_worse(table, seeds=seeds)
    text = claims.verdict(table, None, kind.baseline, cheapest, effect)
    separated = bool((table["vs_best"] == claims.WORSE).any())
    return {"table": table, "cheapest": cheapest, "text": text, "importance": _importance(scores, separated)}


def _importance(scores: np.ndarray, separated: bool) -> bool:
    """Whether report.importance would report one: its two gates (a configuration separated from the
    highest, and the permutation null rejected); a real study also needs 6+ finished trials."""
    if not separated:
        return False
    p = paired.permutation_differ_p(scores, permutations=500)
    return bool(math.isfinite(p) and p < paired.ALPHA)


def _nightly(kind: Kind, rng: np.random.Generator, seeds: int) -> tuple[bool, bool]:
    """(score regression, speed regression) for one configuration on two nights of identical code."""
    before, tonight = kind.draw(rng, 1, seeds, 0.0)[0], kind.draw(rng, 1, seeds, 0.0)[0]
    test = paired.paired_test(pd.Series(tonight), pd.Series(before))
    p = paired.holm([test.p if test.kind not in (paired.TIE, paired.TOO_FEW) else math.nan])[0]
    score = bool(math.isfinite(p) and p < paired.ALPHA and test.mean_diff < 0)
    nights = [_night(f"2026-01-0{day}", f"commit{day}", _load(rng, (seeds,))) for day in range(1, 5)]
    spec = NightlySpec(space=(), study_prefix="sim", request=SweepRequest(env=("sim",)), speed_drop=0.2)
    speed = bool(history._cost_regression(nights[-1], nights[:-1], "c0", spec))
    return score, speed


def _night(date: str, commit: str, cpu: np.ndarray) -> history.Night:
    runs = pd.DataFrame({"config": "c0", "seed": range(cpu.size), "cpu_s_per_step": cpu})
    study = SimpleNamespace(user_attrs={"rnnppo_provenance": {"git": {"commit": commit, "dirty": False}}})
    return history.Night(date, SimpleNamespace(runs=runs, study=study), pd.DataFrame())  # type: ignore[arg-type]


def false_in_aa(result: dict) -> dict[str, bool]:
    statuses = set(result["table"]["vs_best"])
    return {
        "better/worse": bool(statuses & {claims.WORSE, claims.BETTER}),
        "best": claims.BEST in statuses,
        "cheaper": result["cheapest"] is not None,
        "nothing learned": result["text"].startswith("nothing learned"),
        "importance": result["importance"],
    }


def run_case(kind: Kind, configs: int, seeds: int, studies: int, ab_studies: int, seed: int, truth: float) -> dict:
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(["better/worse", "best", "cheaper", "nothing learned", "importance", "regression"], 0)
    any_false = covered_iqm = covered_diff = measured_diff = 0
    for _ in range(studies):
        scores = kind.draw(rng, configs, seeds, 0.0)
        result = one_study(kind, scores, rng)
        found = false_in_aa(result)
        any_false += int(any(found.values()))  # the report's sentences; the nightly's are counted apart
        score_regression, speed_regression = _nightly(kind, rng, seeds)
        found["regression"] = score_regression or speed_regression
        for name, value in found.items():
            counts[name] += int(value)
        interval = stats.iqm_ci(scores[0], bounds=kind.bounds)
        covered_iqm += int(interval.meaningful and interval.low <= truth <= interval.high) or int(
            not interval.meaningful  # "no spread" claims no interval: not a miss
        )
        test = paired.paired_test(
            pd.Series(scores[0]), pd.Series(scores[1]), bound=math.inf if kind.bounds is None else 1.0
        )
        if test.kind != paired.TIE:
            measured_diff += 1
            covered_diff += int(test.low <= 0 <= test.high)
    power = wrong = 0
    for _ in range(ab_studies):
        scores = kind.draw(rng, configs, seeds, kind.effect)
        result = one_study(kind, scores, rng)
        table = result["table"].set_index("config")
        power += int(table.loc["c0", "vs_best"] == claims.BEST)
        nulls = table.drop(index="c0")
        wrong += int(
            (table.loc["c0", "vs_best"] in (claims.WORSE,))
            or (nulls["vs_best"].isin([claims.BEST, claims.BETTER]).any())
            or result["text"].startswith("nothing learned")
        )
    return {
        "kind": kind.name,
        "configs": configs,
        "seeds": seeds,
        "any false in a report (A/A)": any_false / studies,
        **{name: value / studies for name, value in counts.items()},
        "IQM CI covers": covered_iqm / studies,
        "diff CI covers": covered_diff / max(measured_diff, 1),
        "power (A/B)": power / max(ab_studies, 1),
        "false (A/B)": wrong / max(ab_studies, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=120, help="A/A studies per case")
    parser.add_argument("--ab-studies", type=int, default=50, help="A/B studies per case")
    parser.add_argument("--kind", choices=[k.name for k in KINDS], help="only this score kind")
    parser.add_argument("--configs", type=int, choices=(2, 4), help="only this many configurations")
    parser.add_argument("--seeds", type=int, choices=(3, 5, 10), help="only this many seeds")
    args = parser.parse_args()
    started = time.monotonic()
    columns: list[str] = []
    for index, kind in enumerate(KINDS):
        if args.kind not in (None, kind.name):
            continue
        truth = population_iqm(kind, np.random.default_rng(99))
        for configs in (2, 4) if args.configs is None else (args.configs,):
            for seeds in (3, 5, 10) if args.seeds is None else (args.seeds,):
                case_seed = 1000 * index + 10 * configs + seeds
                row = run_case(kind, configs, seeds, args.studies, args.ab_studies, case_seed, truth)
                if not columns:  # the header once, then a row per case as it finishes
                    columns = [c for c in row if c not in ("kind", "configs", "seeds")]
                    print(f"{args.studies} A/A and {args.ab_studies} A/B studies per case\n")
                    print("| kind | configs | seeds | " + " | ".join(columns) + " |")
                    print("|---|---|---|" + "---|" * len(columns))
                cells = [f"{100 * row[c]:.1f}%" for c in columns]
                print(f"| {kind.name} | {configs} | {seeds} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
