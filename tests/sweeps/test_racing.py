"""`rnnppo sweep --seeds MIN..MAX`: the option's parsing and refusals, a raced sweep end to end on a
deterministic env (a clearly worse configuration stops before MAX), and a race killed and resumed."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from rnnppo.errors import SweepError
from rnnppo.sweeps.spec import parse_seeds
from tests.faults.harness import kill, start, trials, wait_for
from tests.shared import TINY, runner

ENV = ["--env", "tests.sweeps.constant_env:ConstantReward", "--steps", "64", "cell=4"]
GRID = ["env.reward=1,2"]  # every episode returns 5 x reward: reward=1 is worse by 5 on every seed
STUDY = "race"


def words(out: Path, seeds: str = "3..10", *extra: str) -> list[str]:
    return ["sweep", *GRID, *TINY, *ENV, "--seeds", seeds, "--out", str(out), "--study", STUDY, *extra]


def seed_runs(out: Path) -> Counter:
    """(reward, seed) -> how many complete trials ran it (none before the storage exists)."""
    done = [t for t in trials(out, STUDY) if t.state == TrialState.COMPLETE]
    return Counter((t.params["env.reward"], t.user_attrs["rnnppo_race_seed"]) for t in done)


def test_seeds_parse_as_a_count_or_a_race_range() -> None:
    assert parse_seeds("3") == (3, None)
    assert parse_seeds("3..10") == (3, 10)
    assert parse_seeds(" 4..5 ") == (4, 5)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("2..10", "a race starts on 3 seeds or more"),
        ("5..5", "MAX must be above MIN"),
        ("7..4", "MAX must be above MIN"),
        ("three", "is not a number or a range"),
        ("3..4..5", "is not a number or a range"),
        ("0", "is too few"),
    ],
)
def test_bad_seeds_are_one_line_exit_2_and_nothing_written(tmp_path, given, message) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, words(out, given))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(SweepError, match=message):
        parse_seeds(given)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--pruner", "median"), "cannot be combined with --pruner"),
        (("--trials", "1"), "leave out --trials"),
        (("--min-effect", "0"), "must be a positive number"),
    ],
)
def test_a_race_refuses_what_it_cannot_do_in_one_line(tmp_path, extra, message) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, words(out, "3..10", *extra))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_a_race_dry_run_shows_the_range_of_cost_and_what_each_look_can_stop(tmp_path) -> None:
    result = runner.invoke(app, words(tmp_path / "out", "3..10", "--dry-run"))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "2 configurations × 3 to 10 seeds = 6 to 20 runs, 384 to 1,280 env steps" in text
    assert "a difference with no spread (the same on every seed) stops after 8 seeds at the earliest" in text
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_raced_sweep_stops_the_clearly_worse_configuration_before_max(tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, words(out))
    assert result.exit_code == 0, result.output
    runs = seed_runs(out)
    # No spread: the exact sign-flip floor lets a deterministic loser stop at seed 8 (of 10), not before.
    assert runs == Counter({(reward, seed): 1 for reward in (1.0, 2.0) for seed in range(8)})
    text = " ".join(result.output.split())
    assert "race finished: 16 seed runs of the fixed design's 20 (80%)" in text
    assert "env.reward=1: stopped after 8 seeds: worse than env.reward=2 by -5 on all 8 seeds" in text
    assert "env.reward=2: leader after 8 seeds" in text


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
def test_a_race_killed_mid_round_resumes_where_it_was_without_losing_or_repeating_a_seed(tmp_path) -> None:
    out = tmp_path / "out"
    process = start(words(out))

    def some_done() -> bool:
        return sum(seed_runs(out).values()) >= 7  # past the first round (6 runs), into the second

    wait_for(some_done, process, "seven seed runs")
    kill(process)
    before = seed_runs(out)
    assert sum(before.values()) < 16, "the race was killed before its end"
    result = runner.invoke(app, [*words(out), "--timeout", "300"], env={"RNNPPO_HEARTBEAT_S": "1"})
    assert result.exit_code == 0, result.output
    after = seed_runs(out)
    held = [(t.number, t.state.name, t.params, t.user_attrs.get("rnnppo_race_seed")) for t in trials(out, STUDY)]
    assert after == Counter({(reward, seed): 1 for reward in (1.0, 2.0) for seed in range(8)}), (held, result.output)
    assert "env.reward=1: stopped after 8 seeds: worse than env.reward=2" in " ".join(result.output.split())
