"""The simulated-study benchmarks still run against the code they measure (a renamed constant or
function in rnnppo/ breaks them silently otherwise): each case function once, at a tiny size."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnppo.core.sequential import RaceDesign

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their shared helpers by plain name
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("kind", ["normal", "bounded", "success"])
@pytest.mark.parametrize("study", ["A/A", "A/B"])
def test_the_racing_benchmark_runs_a_case_of_each_kind(kind, study):
    racing = load("racing")
    row = racing.one_case(kind, 2, study, RaceDesign(3, 4, 2, min_effect=racing.MIN_EFFECT[kind]), 2, 0)
    assert 0.0 <= row["race_false"] <= 1.0 and 0.0 < row["steps_share"] <= 1.0
    assert np.isnan(row["fixed_false"]) == (study != "A/A")


def test_the_raced_sampler_benchmark_runs_a_case():
    sampler = load("racing_sampler")
    row = sampler.one_case("normal", 3, "A/A", RaceDesign(3, 4, 3), 2, 0)
    assert row


def test_the_calibration_benchmark_runs_a_case_of_each_kind():
    calibration = load("calibration")
    for index, kind in enumerate(calibration.KINDS):
        row = calibration.run_case(kind, 2, 3, 1, 1, index, calibration.population_iqm(kind, np.random.default_rng(0)))
        assert row


def test_the_memorys7_table_gives_each_kinds_success_iqm_from_per_seed_rows(capsys):
    """The table the benchmarks page quotes: per-seed success in, each rnn_type's IQM with its interval out."""
    memorys7 = load("minigrid/memorys7")
    seeds = {"lstm": [1.0, 0.54, 1.0, 0.98, 1.0], "none": [0.46, 0.46, 0.5, 0.44, 0.52]}
    rows = [
        {"rnn_type": kind, "seed": str(i), "env_steps": "400000", "eval_success": str(s), "eval_return": "0.5"}
        for kind, values in seeds.items()
        for i, s in enumerate(values)
    ]
    memorys7.table(rows)
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| lstm | 5 | 1.00, 0.54, 1.00, 0.98, 1.00 | **0.99** [")  # IQM of 0.98, 1, 1
    assert lines[3].startswith("| none | 5 | 0.46, 0.46, 0.50, 0.44, 0.52 | **0.47** [")


def test_the_update_padding_benchmark_times_both_ways_on_the_presets_policy(monkeypatch, capsys):
    pytest.importorskip("minigrid")
    padding = load("update_padding")
    monkeypatch.setattr(sys, "argv", ["update_padding.py", "--rounds", "1"])
    padding.main()
    out = capsys.readouterr().out
    assert "| every row |" in out and "| real rows only |" in out
    ratio = float(out.splitlines()[-1].rsplit(" ", 1)[-1].rstrip("x"))  # "... median of the rounds' ratios 2.08x"
    assert ratio > 0


def test_the_memory_poses_script_finds_the_look_back_on_memorys7_and_none_on_memorys11():
    """The benchmarks page's claim that MemoryS7 needs no memory (and S11 does) comes from this scan."""
    pytest.importorskip("minigrid")
    poses = load("minigrid/memory_poses")
    assert (5, 3, 2) in poses.poses_seeing_cue_and_an_end("MiniGrid-MemoryS7-v0", {})  # the junction, facing west
    assert poses.poses_seeing_cue_and_an_end("MiniGrid-MemoryS11-v0", {}) == []
    assert poses.poses_seeing_cue_and_an_end("MiniGrid-MemoryS7-v0", {"agent_view_size": 3}) == []
