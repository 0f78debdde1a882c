"""Racing (`--seeds MIN..MAX`) against the fixed MAX-seed design, on simulated studies.

Each simulated study draws per-seed scores for K configurations on shared seeds, then decides twice:

* **racing**: `rnnppo.core.sequential.race` (repeated confidence intervals, Bonferroni over pairs,
  Wang-Tsiatis boundary over the looks MIN..MAX);
* **fixed**: every configuration on MAX seeds, the report's rule (exact sign-flip test against the best
  by mean, Holm over the comparisons, α = 0.05; `rnnppo.results.paired`);
* **pairwise**: every configuration on MAX seeds, racing's correction without the looks (paired t-test
  against the best at α / (K(K-1)/2)): the fixed design that keeps the same error guarantee.

A/A studies (every configuration the same) measure the **false-claim rate**: the share of studies with
any false claim (race_false: a "worse" that is not, or an "equivalent" of two configurations D or more
apart; measured in every kind of study; for the fixed designs, any "worse" in A/A). A/B studies
(configuration 0 better by the stated effect, the rest equal) and ladder studies (means evenly spread
over two effects) measure the **power** (the share of the truly worse configurations claimed worse) and
the env steps racing used as a share of the fixed design's (seed runs, all of the same length). Score kinds:

* normal: a shared seed effect N(0, 1) plus N(0, 1) noise, effect EFFECT_NORMAL;
* bounded: Beta scores in [0, 1], mean 0.5 + shift (concentration 4), effect EFFECT_BOUNDED;
* success: 0/1 per seed (a run that solved the task or not), p = 0.5 + shift, effect EFFECT_SUCCESS.

Run: `nice -n 10 python benchmarks/racing.py [--studies 1000] [--min 3 --max 10]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from rnnppo.core.sequential import EQUIVALENT, WORSE, RaceDesign, RaceResult, race
from rnnppo.results import paired

EFFECT_NORMAL = 2.0
EFFECT_BOUNDED = 0.3
EFFECT_SUCCESS = 0.5
MIN_EFFECT = {"normal": 0.5, "bounded": 0.1, "success": 0.25}
"""--min-effect D of each kind (equivalence stops); about a quarter of the A/B effect."""


EFFECTS = {"normal": EFFECT_NORMAL, "bounded": EFFECT_BOUNDED, "success": EFFECT_SUCCESS}
STUDIES = ("A/A", "A/B", "ladder")


def shifts(kind: str, configs: int, study: str) -> np.ndarray:
    """Each configuration's shift of the mean [configs]. A/B: configuration 0 better than the rest (all
    equal) by the kind's effect. ladder: evenly spaced from +effect to -effect, so configuration i is worse
    than 0 by 2 * effect * i / (configs - 1) (a sweep with clear losers)."""
    effect = EFFECTS[kind]
    if study == "A/A":
        return np.zeros(configs)
    if study == "A/B":
        return np.array([effect / 2] + [-effect / 2] * (configs - 1))
    return effect - 2 * effect * np.arange(configs) / (configs - 1)


def draw(kind: str, configs: int, seeds: int, study: str, rng: np.random.Generator) -> np.ndarray:
    """Per-seed scores [configs, seeds]; configuration 0 is the best (or all are equal in A/A)."""
    return draw_shifted(kind, shifts(kind, configs, study), seeds, rng)


def draw_shifted(kind: str, shift: np.ndarray, seeds: int, rng: np.random.Generator) -> np.ndarray:
    """Per-seed scores [configs, seeds] of configurations with these shifts of the mean [configs]."""
    configs = len(shift)
    if kind == "normal":
        seed_effect = rng.standard_normal(seeds)  # [seeds], shared by every configuration
        return shift[:, None] + seed_effect[None, :] + rng.standard_normal((configs, seeds))
    if kind == "bounded":
        mean = 0.5 + shift  # in [0.2, 0.8]
        a, b = 4 * mean, 4 * (1 - mean)  # concentration 4
        return rng.beta(a[:, None], b[:, None], size=(configs, seeds))
    p = np.clip(0.5 + shift, 0.02, 0.98)
    return (rng.random((configs, seeds)) < p[:, None]).astype(float)


def fixed_claims(scores: np.ndarray) -> list[bool]:
    """Which configurations the report's rule calls worse than the best on all MAX seeds."""
    names = [str(i) for i in range(scores.shape[0])]
    series = {name: pd.Series(row) for name, row in zip(names, scores, strict=True)}
    best = int(np.argmax(scores.mean(axis=1)))
    tests = [paired.paired_test(series[n], series[names[best]]) if i != best else None for i, n in enumerate(names)]
    family = [t.p if t is not None and t.kind in (paired.SIGN_FLIP, paired.MONTE_CARLO) else np.nan for t in tests]
    adjusted = paired.holm(family)
    return [
        t is not None and np.isfinite(p) and p < paired.ALPHA and t.mean_diff < 0
        for t, p in zip(tests, adjusted, strict=True)
    ]


def fixed_pairwise_claims(scores: np.ndarray) -> list[bool]:
    """The valid fixed design: on all MAX seeds, a configuration is worse than the best when its paired
    t-test p < α / pairs (Bonferroni over all K(K-1)/2 pairs, as racing's; no spread: the sign-flip p)."""
    configs, n = scores.shape
    level = paired.ALPHA / max(1, configs * (configs - 1) // 2)
    best = int(np.argmax(scores.mean(axis=1)))
    claims = []
    for index in range(configs):
        diffs = scores[index] - scores[best]  # [n]
        if index == best or diffs.mean() >= 0:
            claims.append(False)
        elif np.ptp(diffs) == 0:
            claims.append(2.0 ** (1 - n) <= level)
        else:
            t = diffs.mean() / (diffs.std(ddof=1) / np.sqrt(n))
            claims.append(2 * stats.t.sf(abs(t), n - 1) < level)
    return claims


def true_means(kind: str, configs: int, study: str) -> np.ndarray:
    """Each configuration's true mean score [configs]."""
    shift = shifts(kind, configs, study)
    if kind == "normal":
        return shift
    if kind == "bounded":
        return 0.5 + shift
    return np.clip(0.5 + shift, 0.02, 0.98)


def false_claim(result: RaceResult, truth: np.ndarray, design: RaceDesign) -> bool:
    """Whether the race made any false claim: a "worse" where the configuration is not worse than its
    leader, or an "equivalent" where the two are D or more apart."""
    for key, decision in result.decisions.items():
        if decision.leader is None:
            continue
        gap = truth[int(key)] - truth[int(decision.leader)]
        if decision.status == WORSE and gap >= 0:
            return True
        if decision.status == EQUIVALENT and abs(gap) >= (design.min_effect or 0.0):
            return True
    return False


def one_case(kind: str, configs: int, study: str, design: RaceDesign, studies: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    effect = study != "A/A"
    truth = true_means(kind, configs, study)
    race_any = fixed_any = race_hits = fixed_hits = valid_any = valid_hits = 0
    seeds_used = 0
    for _ in range(studies):
        scores = draw(kind, configs, design.max_seeds, study, rng)
        result = race({str(i): list(row) for i, row in enumerate(scores)}, design)
        claimed = [result.decisions[str(i)].status == WORSE for i in range(configs)]
        fixed = fixed_claims(scores)
        valid = fixed_pairwise_claims(scores)
        valid_any += any(valid)
        seeds_used += result.seeds_used
        race_any += false_claim(result, truth, design)
        fixed_any += any(fixed)
        if effect:
            race_hits += sum(claimed[1:])
            fixed_hits += sum(fixed[1:])
            valid_hits += sum(valid[1:])
    row = {
        "kind": kind,
        "K": configs,
        "study": study,
        "race_false": race_any / studies,
        "fixed_false": np.nan if effect else fixed_any / studies,
        "pairwise_false": np.nan if effect else valid_any / studies,
        "race_power": race_hits / (studies * (configs - 1)) if effect else np.nan,
        "fixed_power": fixed_hits / (studies * (configs - 1)) if effect else np.nan,
        "pairwise_power": valid_hits / (studies * (configs - 1)) if effect else np.nan,
        "steps_share": seeds_used / (studies * configs * design.max_seeds),
    }
    return row


def aa_only(studies: int, low: int, high: int) -> None:
    """The A/A false-claim rate of racing alone, on many more studies (its standard error is printed)."""
    for kind in ("normal", "bounded", "success"):
        for configs in (2, 4, 8):
            design = RaceDesign(low, high, configs, min_effect=MIN_EFFECT[kind])
            rng = np.random.default_rng(1000 + configs)
            claims = 0
            for _ in range(studies):
                scores = draw(kind, configs, high, "A/A", rng)
                result = race({str(i): list(row) for i, row in enumerate(scores)}, design)
                claims += false_claim(result, np.zeros(configs), design)
            rate = claims / studies
            error = np.sqrt(rate * (1 - rate) / studies)
            print(f"A/A {kind:8} K={configs}: racing {low}..{high} false claims {rate:.3f} ± {error:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--min", type=int, default=3)
    parser.add_argument("--max", type=int, default=10)
    parser.add_argument("--shape", type=float, default=None)
    parser.add_argument("--aa-only", action="store_true", help="only racing's A/A false-claim rates")
    args = parser.parse_args()
    if args.aa_only:
        aa_only(args.studies, args.min, args.max)
        return
    rows = []
    began = time.perf_counter()
    for kind in ("normal", "bounded", "success"):
        for configs in (2, 4, 8):
            extra = {} if args.shape is None else {"shape": args.shape}
            design = RaceDesign(args.min, args.max, configs, min_effect=MIN_EFFECT[kind], **extra)
            for study in STUDIES:
                if study == "ladder" and configs == 2:
                    continue  # the same as A/B
                rows.append(one_case(kind, configs, study, design, args.studies, len(rows) + 1))
                print(rows[-1], flush=True)  # progress: the table comes at the end
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print(
        f"racing {args.min}..{args.max} (shape {design.shape}) vs fixed {args.max} seeds, {args.studies} studies "
        f"per row; effects: normal {EFFECT_NORMAL} (seed sd 1 + noise sd 1), bounded {EFFECT_BOUNDED}, "
        f"success {EFFECT_SUCCESS}; min_effect {MIN_EFFECT}"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    aa = table[table["study"] == "A/A"]
    ab = table[table["study"] != "A/A"]
    print(f"A/A false claims, racing: max {aa['race_false'].max():.3f} (target <= 0.05)")
    print(f"A/B power, racing - fixed: min {(ab['race_power'] - ab['fixed_power']).min():+.3f} (target >= -0.05)")
    gap = (ab["race_power"] - ab["pairwise_power"]).min()
    print(f"A/B power, racing - fixed with racing's pairwise correction: min {gap:+.3f}")
    print(f"A/B env steps, racing / fixed: max {ab['steps_share'].max():.3f} (target <= 0.60)")
    print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
