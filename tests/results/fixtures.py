"""A realistic finished sweep without training: a real SQLite Optuna storage filled exactly as
docs/storage-contract.md says, plus the run folders (config.json, summary.json, metrics.csv).

The scores follow a known model so tests can pin the report's conclusions:

* memory on: max_seq_len 4 -> 0.30, 8 -> 0.88, 20 -> 0.90; lstm_cell_size 64 adds 0.05;
* memory off (rnn_type=none): 0.20 whatever else is set;
* every seed shares an offset across configurations (seed luck), plus a little noise that depends
  only on the configuration and seed (so the same configuration gives the same run in every study).

So max_seq_len=20, lstm_cell_size=64 is best; 8/64 and 20/16 lie within its interval; 8/16, 4/* and the
controls are significantly worse; max_seq_len=8 runs faster than 20, so 8/64 is the cheapest
configuration not significantly worse than the best.
The storage keeps every other curve point (as if downsampled); metrics.csv holds all of them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from rnnppo.core.config import TrainConfig
from rnnppo.core.runs import files as run_files
from rnnppo.storage.backend import default_storage_url

ENV = "rnnppo/CueRecall-v0"
SEEDS = tuple(range(12))
"""Twelve seeds: enough for the exact sign-flip test to separate (floor 2 / 2^12) with Holm over all 66 pairs
of 12 configurations."""
SEQ_LENS = (4, 8, 20)
CELLS = (16, 64)
RNN_TYPES = ("lstm", "none")
ITERATIONS = 4
COMPLETE = TrialState.COMPLETE
BASE = {
    "env": ENV,
    "env_kwargs": {"cue_distance": 3},
    "total_steps": ITERATIONS * 2 * 32,
    "num_envs": 2,
    "rollout_len": 32,
    "fcnet_hiddens": (8,),
    "lstm_cell_size": 16,
    "max_seq_len": 8,
    "minibatch_size": 32,
    "num_epochs": 1,
    "eval_episodes": 2,
}
SEED_LUCK = dict(enumerate([-0.03, 0.0, 0.03, 0.01, -0.01, 0.02, -0.02, 0.015, -0.015, 0.005, -0.005, 0.025]))


EPISODE_LEN = 10
"""Steps per episode in the fixture's story: max_seq_len 20 sequences are cut by episode ends."""


def true_score(max_seq_len: int, lstm_cell_size: int, rnn_type: str = "lstm") -> float:
    if rnn_type == "none":
        return 0.20
    return {4: 0.30, 8: 0.88, 20: 0.90}[max_seq_len] + (0.05 if lstm_cell_size == 64 else 0.0)


def lstm_saw(max_seq_len: int) -> dict[str, float]:
    """What the LSTM saw, roughly as the trainer measures it on EPISODE_LEN-step episodes."""
    real = min(max_seq_len, EPISODE_LEN) * 0.9
    by_length = 0.0 if max_seq_len >= EPISODE_LEN else 0.6
    return {
        "num_seqs": 64 / real,
        "seq_len_mean": real,
        "seq_len_max": float(min(max_seq_len, EPISODE_LEN)),
        "pad_frac": 1.0 - real / max_seq_len,
        "pad_frac_max_seq_len": 1.0 - real / max_seq_len,
        "cut_by_episode_end": 0.9 - by_length,
        "cut_by_max_seq_len": by_length,
        "cut_by_rollout_end": 0.1,
    }


def memory_horizon(max_seq_len: int, rnn_type: str = "lstm") -> int:
    """How far back the trained policy remembers: past max_seq_len for short ones (the carried state), the
    episode length at most; 0 for the memory-off control."""
    return 0 if rnn_type == "none" else min(max_seq_len + 3, EPISODE_LEN - 1)


def memory_influence(horizon: int, seed: int = 1) -> list[float | None]:
    """Influence by lag as `rnnppo memory` measures it: high up to the horizon (a little different per
    seed), then gone; None beyond the episode length (no target reaches that far back)."""
    return [0.4 + SEED_LUCK[seed] if lag <= horizon else 0.002 for lag in range(EPISODE_LEN)] + [None]


def steps_per_s(max_seq_len: int, lstm_cell_size: int, rnn_type: str = "lstm") -> float:
    if rnn_type == "none":
        return 4000.0
    return 3000.0 - 40.0 * max_seq_len - 5.0 * lstm_cell_size


@dataclass
class Fixture:
    """Where a fixture study lives, and what the tests need to know about it."""

    results_dir: Path
    name: str
    seeds: tuple[int, ...]
    swept: list[str]
    trials: dict[str, int] = field(default_factory=dict)
    """Role ('failed', 'running', 'pruned', 'spare', or a configuration name) -> trial number."""

    @property
    def url(self) -> str:
        return default_storage_url(self.results_dir)

    def run_dir(self, trial: int, seed: int) -> Path:
        return self.results_dir / self.name / str(trial) / str(seed)


@dataclass(frozen=True)
class Options:
    """How a fixture study is written (every trial the same way)."""

    results_dir: Path
    study: str
    write_files: bool = True
    store_config: bool = True
    """False: trials lack the `config` attribute (a storage written by an older rnnppo)."""
    drop_from_storage: tuple[str, ...] = ()
    """Run fields the storage's run_<seed> lacks (only summary.json has them)."""


def _run(params: dict[str, Any], seed: int, trial: int, options: Options, shift: float) -> dict:
    """One seed run as the worker stores it (run_<seed>, curve_<seed>) and the run folder it writes."""
    # The same configuration and seed give the same run in every study (training is deterministic).
    memory = RNN_TYPES.index(params["rnn_type"])
    rng = np.random.default_rng([params["max_seq_len"], params["lstm_cell_size"], memory, seed])
    final = true_score(**params) + shift + SEED_LUCK[seed] + float(rng.normal(0.0, 0.01))
    speed = steps_per_s(**params) * (1.0 + float(rng.normal(0.0, 0.02)))
    cpu_s_per_step = (1.0 + float(rng.normal(0.0, 0.02))) / steps_per_s(**params)  # load-proof: its own noise
    env_steps = BASE["total_steps"]
    rows = []
    for iteration in range(1, ITERATIONS + 1):
        steps = iteration * BASE["num_envs"] * BASE["rollout_len"]
        rows.append(
            {
                "iteration": iteration,
                "env_steps": steps,
                "return_mean_100": final * iteration / ITERATIONS,
                "steps_per_s": speed,
                **lstm_saw(params["max_seq_len"]),
            }
        )
    curve = [[r["env_steps"], r["return_mean_100"]] for r in rows]
    saw = lstm_saw(params["max_seq_len"])
    auc = float(np.trapezoid([c[1] for c in curve], [c[0] for c in curve]) / (curve[-1][0] - curve[0][0]))
    study = options.study
    run_dir = Path(study) / str(trial) / str(seed)
    summary = {
        "env": ENV,
        "seed": seed,
        "env_steps": env_steps,
        "iterations": ITERATIONS,
        "train_time_s": env_steps / speed,
        "steps_per_s": speed,
        "final_train_return": curve[-1][1],
        "auc": auc,
        "eval_return_mean": final,
        "eval_return_std": 0.1,
        "eval_success_mean": final,
        "final_return": final,
        "lstm_saw": saw,
        "memory_horizon": memory_horizon(params["max_seq_len"], params["rnn_type"]),
        "memory_horizon_interval": [memory_horizon(params["max_seq_len"], params["rnn_type"])] * 2,
        "memory_influence": memory_influence(memory_horizon(params["max_seq_len"], params["rnn_type"]), seed),
        "cpu_s_per_step": cpu_s_per_step,
    }
    if options.write_files:
        folder = options.results_dir / run_dir
        config = TrainConfig(**{**BASE, **params, "seed": seed}).to_dict()
        run_files.write_json(folder / "config.json", {"config": config, "seed": seed, "study": study, "trial": trial})
        run_files.write_csv(folder / "metrics.csv", rows)
        run_files.write_json(folder / "summary.json", summary)
    run = {key: summary[key] for key in ("final_return", "eval_return_std", "eval_success_mean")}
    run.update({key: summary[key] for key in ("final_train_return", "auc", "steps_per_s", "train_time_s")})
    run["cpu_s_per_step"] = cpu_s_per_step
    run.update(env_steps=env_steps, lstm_saw=saw, run_dir=str(run_dir))
    run.update({key: summary[key] for key in ("memory_horizon", "memory_horizon_interval", "memory_influence")})
    return {"run": run, "curve": curve, "final": final}


def _trial(point, params, seeds, number, options: Options, distributions, state, shift=0.0):
    """A trial as the worker leaves it: config, run_/curve_ per finished seed, intermediate values.

    `point` holds every grid value (for the score model), `params` only the swept ones (Optuna's)."""
    attrs: dict[str, Any] = {"worker": {"host": "fixture", "pid": 1}}
    if options.store_config:
        attrs["config"] = TrainConfig(**{**BASE, **point, "seed": seeds[0]}).to_dict()
    intermediate: dict[int, float] = {}
    finals = []
    for index, seed in enumerate(seeds):
        run = _run(point, seed, number, options, shift)
        attrs[f"run_{seed}"] = {k: v for k, v in run["run"].items() if k not in options.drop_from_storage}
        attrs[f"curve_{seed}"] = run["curve"][1::2]
        attrs["seeds_done"] = index + 1
        finals.append(run["final"])
        for env_steps, value in run["curve"]:
            unit = math.ceil(env_steps / (BASE["num_envs"] * BASE["rollout_len"]))
            intermediate[index * ITERATIONS + unit] = value
    value = None
    if state == TrialState.COMPLETE:
        attrs["scores"] = finals
        value = float(np.mean(finals))
    return create_trial(
        state=state,
        value=value,
        params=params,
        distributions={n: distributions[n] for n in params},
        user_attrs=attrs,
        intermediate_values=intermediate,
    )


def build_study(
    results_dir: Path,
    name: str = "cue-seqlen",
    *,
    seeds: tuple[int, ...] = SEEDS,
    seq_lens: tuple[int, ...] = SEQ_LENS,
    cells: tuple[int, ...] = CELLS,
    rnn_types: tuple[str, ...] = RNN_TYPES,
    extras: bool = True,
    shift: dict[int, float] | None = None,
    write_files: bool = True,
    store_config: bool = True,
    drop_from_storage: tuple[str, ...] = (),
    baseline: float | None = 0.15,
) -> Fixture:
    """A grid sweep over max_seq_len x lstm_cell_size (x rnn_type when two are given), every point
    complete on every seed. With `extras`: a failed trial (one seed done), its running retry, a
    pruned trial and a spare. `shift` adds to the score of the given max_seq_len values. `baseline`: the
    random policy's mean return the sweep measured (None: a study written before baselines)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    options = Options(results_dir, name, write_files, store_config, tuple(drop_from_storage))
    axes = {"max_seq_len": seq_lens, "lstm_cell_size": cells, "rnn_type": rnn_types}
    swept = [n for n, values in axes.items() if len(values) > 1]
    distributions = {n: CategoricalDistribution(list(axes[n])) for n in swept}
    fixed = {n: values[0] for n, values in axes.items() if len(values) == 1}
    storage = optuna.storages.RDBStorage(default_storage_url(results_dir))
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr(
        "rnnppo_spec",
        {
            "version": 1,
            "env": ENV,
            "env_kwargs": BASE["env_kwargs"],
            "total_steps": BASE["total_steps"],
            "space": [{"name": n, "kind": "choice", "values": list(axes[n])} for n in swept],
            "swept": swept,
            "fixed": fixed,
            "seeds": list(seeds),
            "objective": "final",
            "sampler": "grid",
            "sampler_seed": 0,
            "pruner": "none",
            "base_config": TrainConfig(**BASE).to_dict(),
        },
    )
    study.set_user_attr("rnnppo_created", "2026-01-01T00:00:00")
    if baseline is not None:
        study.set_user_attr(
            "rnnppo_baseline", {"policy": "uniform random", "episodes": 100, "unfinished": 0, "mean_return": baseline}
        )
    study.set_user_attr("rnnppo_provenance", {"git": {}, "versions": {}})
    fixture = Fixture(results_dir, name, tuple(seeds), swept)
    number = 0
    for values in itertools.product(seq_lens, cells, rnn_types):
        point = dict(zip(axes, values, strict=True))
        params = {n: point[n] for n in swept}
        added = (shift or {}).get(point["max_seq_len"], 0.0)
        study.add_trial(_trial(point, params, seeds, number, options, distributions, COMPLETE, added))
        fixture.trials[", ".join(f"{n}={point[n]}" for n in swept)] = number
        number += 1
    if extras:
        point = {"max_seq_len": seq_lens[-1], "lstm_cell_size": cells[-1], "rnn_type": rnn_types[0]}
        params = {n: point[n] for n in swept}
        one_seed = seeds[:1]
        failed = _trial(point, params, one_seed, number, options, distributions, TrialState.FAIL)
        failed.set_user_attr("error", "RuntimeError: the env crashed")
        study.add_trial(failed)
        running = _trial(point, params, one_seed, number + 1, options, distributions, TrialState.RUNNING)
        running.set_user_attr("retry_of", number)
        study.add_trial(running)
        pruned = create_trial(
            state=TrialState.PRUNED, params=params, distributions=distributions, intermediate_values={1: 0.01}
        )
        study.add_trial(pruned)
        study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={"rnnppo_role": "spare"}))
        fixture.trials.update(failed=number, running=number + 1, pruned=number + 2, spare=number + 3)
    return fixture


def build_two_studies(folder):
    """The report tests' results folder: the main study and a second, shifted one ("night2")."""
    build_study(folder)
    build_study(folder, "night2", rnn_types=("lstm",), extras=False, shift={4: -0.25})
    return folder
