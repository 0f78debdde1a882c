"""A raced night (`seeds = "MIN..MAX"` in the nightly file): the night races, its report holds the race's
lines, and its score check uses the seeds every configuration runs whatever the race decides (the first
MIN), paired over the seeds both nights have: too few of them is said as such, never "no regression"."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from tests.shared import runner

pytestmark = pytest.mark.usefixtures("wide_terminal")


def write_toml(folder: Path, seeds: str, reference: str) -> Path:
    """reward=1 scores 10 less than reward=3 per episode, with a little per-seed noise: the race stops it at
    its first look. $RNNPPO_TEST_SCALE scales both (a change of behaviour with the same settings)."""
    path = folder / "nightly.toml"
    path.write_text(f"""
[nightly]
env = "tests.sweeps.constant_env:NoisyReward"
space = ["env.reward=1,3"]
study_prefix = "raced"
steps = 64
seeds = "{seeds}"
results = "{folder / "results"}"
reference = "{reference}"
history_nights = 1
speed_drop = 0.99

[settings]
num_envs = 2
rollout_len = 16
fcnet_hiddens = [4]
lstm_cell_size = 4
minibatch_size = 8
max_seq_len = 4
num_epochs = 1
eval_episodes = 2
memory_horizon = false  # as in tests/shared.py's TINY: measured in tests/core/test_memory.py
""")
    return path


def night(toml: Path, date: str):
    result = runner.invoke(app, ["nightly", str(toml), "--date", date, "--fail-on-regression"])
    return result, " ".join(result.output.split())


def seed_runs(folder: Path, study: str) -> dict[float, int]:
    storage = f"sqlite:///{folder / 'results' / 'rnnppo.db'}"
    done = [t for t in optuna.load_study(study_name=study, storage=storage).trials if t.state == TrialState.COMPLETE]
    counts: dict[float, int] = {}
    for trial in done:
        counts[trial.params["env.reward"]] = counts.get(trial.params["env.reward"], 0) + 1
    return counts


@pytest.mark.slow
def test_a_raced_night_with_min_below_the_tests_floor_says_its_score_was_not_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNPPO_TEST_SCALE", "1.0")
    toml = write_toml(tmp_path, "3..6", "env.reward=3")
    first, text = night(toml, "2026-07-01")
    assert first.exit_code == 0, first.output
    assert seed_runs(tmp_path, "raced-2026-07-01") == {1: 3, 3: 3}  # the loser stopped at the first look
    assert "env.reward=1: stopped after 3 seeds: worse than env.reward=3" in text
    report = (tmp_path / "results" / "raced-2026-07-01" / "report.md").read_text()
    assert "## race (the claims of a raced sweep)" in report
    monkeypatch.setenv("RNNPPO_TEST_SCALE", "0.5")  # a collapse: but 3 checked seeds cannot show it
    second, text = night(toml, "2026-07-02")
    assert second.exit_code == 1, second.output
    assert "score not checked: a raced night checks env.reward=3 on its first 3 seeds" in text
    assert 'set seeds = "6..MAX"' in text
    assert "no regression" not in text and "score regression" not in text


@pytest.mark.slow
def test_a_raced_night_finds_a_regression_on_the_seeds_every_configuration_ran(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNPPO_TEST_SCALE", "1.0")
    toml = write_toml(tmp_path, "6..8", "env.reward=3")
    same, text = night(toml, "2026-07-11")
    assert same.exit_code == 0, same.output
    assert seed_runs(tmp_path, "raced-2026-07-11") == {1: 6, 3: 6}
    again, text = night(toml, "2026-07-12")
    assert again.exit_code == 0 and "no regression against the 1 previous comparable night(s)" in text, text
    monkeypatch.setenv("RNNPPO_TEST_SCALE", "0.5")
    worse, text = night(toml, "2026-07-13")
    assert worse.exit_code == 1, worse.output
    assert "score regression: env.reward=3" in text and "exact sign-flip test over 6 seeds" in text


def _night(date: str, scores: list[float], race_min: int | None = None):
    """A night as history.py reads it: the reference's per-seed final returns, raced from `race_min` or not."""
    from types import SimpleNamespace

    import pandas as pd

    from rnnppo.nightly import history

    runs = pd.DataFrame({"config": "env.reward=3", "seed": range(len(scores)), "final_return": scores})
    spec = {"env": "E", "race": {"min_seeds": race_min, "max_seeds": 8}} if race_min else {"env": "E"}
    columns = {"n": len(scores), "iqm": 1.0, "ci_low": 0.0, "ci_high": 2.0, "ci_meaningful": True, "steps_per_s": 1.0}
    table = pd.DataFrame([{"config": "env.reward=3", **columns}])
    counts = {"complete": 2, "running": 0, "waiting": 0}
    study = SimpleNamespace(user_attrs={})
    data = SimpleNamespace(runs=runs, spec=spec, objective="final_return", study=study, counts=counts)
    return history.Night(date, data, table)


SPEC = type("Spec", (), {"reference": "env.reward=3", "history_nights": 7, "regression_margin": 0.0})()


def test_a_raced_nights_score_check_uses_only_the_seeds_every_configuration_ran():
    from rnnppo.nightly import history

    before = _night("2026-08-01", [10.0] * 8)
    tonight = _night("2026-08-02", [5.0] * 3 + [10.0] * 5, race_min=3)  # seeds 3.. ran because the race went on
    check = history.score_check([before, tonight], SPEC)
    assert list(check.mine.index) == [0, 1, 2] and check.tested == []
    assert "a raced night checks env.reward=3 on its first 3 seeds" in history.too_few_seeds([before, tonight], SPEC)
    assert history.regressions([before, tonight], SPEC) == []
    table = history.history_table([before, tonight], "env.reward=3")
    assert table["seeds"].tolist() == [8, 8] and table["checked_seeds"].tolist() == [8, 3]


def test_a_previous_night_sharing_too_few_seeds_is_named_and_left_out_of_the_comparison():
    from rnnppo.nightly import history

    short = _night("2026-08-01", [10.0] * 8, race_min=3)  # raced: 3 checked seeds
    full = _night("2026-08-02", [10.0] * 8)
    tonight = _night("2026-08-03", [9.0] * 8)
    nights = [short, full, tonight]
    check = history.score_check(nights, SPEC)
    assert [night.date for night, _ in check.tested] == ["2026-08-02"] and check.needed == 7
    assert history.too_few_seeds(nights, SPEC) is None
    assert history.short_nights(nights, SPEC) == [
        "score not compared with 2026-08-01: env.reward=3 shares 3 checked seeds with it "
        "(the exact sign-flip test needs 7)"
    ]
    found = history.regressions(nights, SPEC)
    assert len(found) == 1 and "against 10 on 2026-08-02" in found[0] and "over 1 previous nights" in found[0]


def test_a_collapse_against_a_night_whose_race_stopped_the_reference_early_is_not_called_no_regression():
    """The race stopped last night's reference after 3 seeds; tonight (fixed, 6 seeds) it halved on every
    seed. Three shared seeds cannot reach p < 0.05, so the night says its score was not checked."""
    from rnnppo.nightly import history

    nights = [_night("2026-08-01", [10.0] * 3, race_min=3), _night("2026-08-02", [5.0] * 6)]
    message = history.too_few_seeds(nights, SPEC)
    assert message is not None and "shares too few checked seeds with every previous night (2026-08-01: 3;" in message
    assert history.regressions(nights, SPEC) == []
