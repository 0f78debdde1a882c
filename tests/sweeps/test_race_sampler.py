"""A raced sampler (`--seeds MIN..MAX` with random, tpe or cmaes): each trial runs its seeds in turn and races
the finished leader after each seed from MIN, stopping when shown worse (or equivalent within --min-effect);
the sweep's last lines and `rnnppo report` say per trial its seeds and why; a killed race resumes without
running a seed twice."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from rnnppo.cli.app import app
from rnnppo.core.sequential import BETTER, EQUIVALENT, OPEN, UNSEPARATED, WORSE, RaceDesign, versus_leader
from rnnppo.storage.contract import RACE_LOOK
from rnnppo.storage.race import CLAIMS_NOTE, look_attr, look_from_attr, sampled_race
from rnnppo.sweeps.race_trial import leader_of, race_look
from rnnppo.sweeps.spec import SweepRequest, build_spec
from rnnppo.sweeps.study import describe_conflict
from tests.faults.harness import kill, start, trials, wait_for
from tests.shared import TINY, runner

pytestmark = pytest.mark.usefixtures("wide_terminal")
ENV = ["--env", "tests.sweeps.constant_env:NoisyReward", "--steps", "64", "cell=4"]
STUDY = "sampled"
DESIGN = RaceDesign(3, 5, configs=4)


def words(out: Path, *extra: str) -> list[str]:
    """reward=1 scores 5 below reward=2 on every seed, with a small spread (NoisyReward): a clear loser."""
    return ["sweep", "env.reward=1,2", *TINY, *ENV, "--sampler", "random", "--trials", "2", "--seeds", "3..4"] + [
        "--out",
        str(out),
        "--study",
        STUDY,
        *extra,
    ]


def finished(study: optuna.Study, number_of_seeds: list[list[float]]) -> None:
    """Add complete trials with these per-seed scores (value: their mean), numbered in order."""
    for index, scores in enumerate(number_of_seeds):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=sum(scores) / len(scores),
                params={"lr": 0.001 * (index + 1)},
                distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
                user_attrs={"scores": scores, "seeds_done": len(scores)},
            )
        )


def test_a_clearly_worse_trial_is_shown_worse_at_its_first_look_and_a_close_one_stays_open() -> None:
    leader = [10.0, 10.2, 9.9, 10.1, 10.0]
    worse = versus_leader([5.0, 5.1, 4.8], leader, "#0", DESIGN)
    assert worse.status == WORSE and worse.stopped
    assert worse.versus is not None and worse.versus.high < 0 and worse.seeds == 3
    assert worse.reason(DESIGN).startswith("stopped after 3 seeds: worse than #0 by -5.07, CI [")
    close = versus_leader([10.1, 9.9, 10.0], leader, "#0", DESIGN)
    assert close.status == OPEN and not close.stopped


def test_a_trial_shown_above_the_leader_is_better_and_does_not_stop() -> None:
    decision = versus_leader([15.0, 15.1, 14.9], [10.0, 10.2, 9.9], "#0", DESIGN)
    assert decision.status == BETTER and not decision.stopped
    assert "3 seeds: better than #0 by +4.97, CI [" in decision.reason(DESIGN)


def test_a_trial_within_min_effect_of_the_leader_stops_as_equivalent_and_at_max_unseparated() -> None:
    design = RaceDesign(3, 5, configs=2, min_effect=5.0)
    leader = [10.0, 10.2, 9.9, 10.1, 10.0]
    assert versus_leader([10.1, 10.0, 10.0, 10.2], leader, "#0", design).status == EQUIVALENT
    last = versus_leader([10.2, 9.8, 10.3, 9.7, 10.1], leader, "#0", DESIGN)
    assert last.status == UNSEPARATED and "5 seeds (MAX): not separated from #0" in last.reason(DESIGN)


def test_the_leader_is_the_highest_mean_among_finished_trials_with_at_least_the_looks_seeds() -> None:
    study = optuna.create_study(direction="maximize")
    finished(study, [[5.0, 5.0, 5.0, 5.0], [9.0, 9.0, 9.0], [7.0, 7.0, 7.0, 7.0]])
    trials = study.get_trials()
    assert leader_of(trials, 3, number=99).number == 1  # type: ignore[union-attr]
    assert leader_of(trials, 4, number=99).number == 2  # type: ignore[union-attr]  # #1 ran 3 seeds only
    assert leader_of(trials, 4, number=2).number == 0  # type: ignore[union-attr]  # never itself
    assert leader_of(trials, 5, number=99) is None


def test_a_look_with_no_leader_decides_nothing_and_keeps_the_last_look() -> None:
    study = optuna.create_study(direction="maximize")
    finished(study, [[10.0, 10.1, 9.9]])
    trial = study.ask()
    assert race_look(trial, [10.0, 10.1, 10.0], DESIGN) is not None
    first = dict(trial.user_attrs[RACE_LOOK])
    assert first["leader"] == 0 and first["n"] == 3 and not first["stopped"]
    assert race_look(trial, [10.0, 10.1, 10.0, 10.2], DESIGN) is None  # no finished trial has 4 seeds
    assert trial.user_attrs[RACE_LOOK] == {**first, "seeds": 4}


def test_a_look_with_no_spread_round_trips_through_the_attribute_with_an_unbounded_interval() -> None:
    decision = versus_leader([4.0, 4.0, 4.0], [5.0, 5.0, 5.0], "#0", DESIGN)
    assert decision.versus is not None and math.isinf(decision.versus.low)
    attr = look_attr(3, decision, 0)
    assert attr["low"] is None and attr["high"] is None  # JSON has no infinity
    assert look_from_attr(attr, "#0") == decision


def test_the_race_lines_name_each_trial_its_seeds_and_its_last_look_leader_first() -> None:
    study = optuna.create_study(direction="maximize")
    finished(study, [[10.0, 10.2, 9.9, 10.1, 10.0], [5.0, 5.1, 4.8]])
    trials = study.get_trials()
    decision = versus_leader([5.0, 5.1, 4.8], trials[0].user_attrs["scores"], "#0", DESIGN)
    trials[1].user_attrs[RACE_LOOK] = look_attr(3, decision, 0)
    trials[0].user_attrs[RACE_LOOK] = {"seeds": 5, "stopped": False}
    race = {"min_seeds": 3, "max_seeds": 5, "configs": 4, "sampled": True}
    summary = sampled_race(trials, race, ["lr"])
    assert summary.lines[0].startswith("race of 2 finished trials against the leader: 8 seed runs of the fixed ")
    assert "corrected for 6 pairs (all of the 4 trials asked for) and 3 looks" in summary.lines[0]
    assert summary.lines[1].startswith("  #0 lr=0.001: highest mean over its 5 seeds; ran 5 seeds, with no finished")
    assert summary.lines[2].startswith("  #1 lr=0.002: stopped after 3 seeds: worse than #0 lr=0.001 by -5.07, CI [")
    assert summary.lines[-1] == CLAIMS_NOTE
    assert [row[:3] for row in summary.rows] == [("lr=0.001", 5, "leader"), ("lr=0.002", 3, WORSE)]


def test_a_sampled_race_dry_run_shows_the_range_of_cost_per_trial(tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, words(out, "--dry-run"))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "raced: 2 trials (each races the finished leader after each seed) × 3 to 4 seeds = 6 to 8 runs" in text
    assert not out.exists()


def test_a_race_still_refuses_a_pruner_with_a_sampler(tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, words(out, "--pruner", "median"))
    assert result.exit_code == 2, result.output
    assert "cannot be combined with --pruner" in result.output
    assert not out.exists()


@pytest.mark.slow
def test_a_sampled_race_stops_the_clearly_worse_trial_at_min_seeds_and_report_repeats_the_lines(tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, words(out))
    assert result.exit_code == 0, result.output
    done = sorted((t for t in trials(out, STUDY) if t.state == TrialState.COMPLETE), key=lambda t: t.number)
    # The random sampler with seed 0 proposes reward=2 first: it finds no leader and runs MAX = 4 seeds.
    assert [t.params["env.reward"] for t in done] == [2.0, 1.0], "the sampler's order changed: pick another seed"
    assert len(done[0].user_attrs["scores"]) == 4
    loser = done[1]
    assert len(loser.user_attrs["scores"]) == 3 and loser.user_attrs[RACE_LOOK]["status"] == WORSE
    assert loser.value == pytest.approx(sum(loser.user_attrs["scores"]) / 3)  # its mean over the seeds it ran
    text = " ".join(result.output.split())
    assert "race of 2 finished trials against the leader: 7 seed runs of the fixed design's 8 (88%)" in text
    assert "#1 env.reward=1: stopped after 3 seeds: worse than #0 env.reward=2 by -4." in text
    assert "#0 env.reward=2: highest mean over its 4 seeds" in text
    assert "(race: shown worse after 3 seeds)" in text  # the trial's progress line
    report = runner.invoke(app, ["report", str(out), "--study", STUDY])
    assert report.exit_code == 0, report.output
    lines = [line for line in result.output.splitlines() if line.startswith(("race of", "  #"))]
    assert lines and all(line in report.output.splitlines() for line in lines)


def seed_folders(out: Path) -> Counter:
    """(reward, seed) -> how many finished seed run folders of the study hold it."""
    found: Counter = Counter()
    for summary in (out / STUDY).glob("*/*/summary.json"):
        trial = int(summary.parent.parent.name)
        params = next(t.params for t in trials(out, STUDY) if t.number == trial)
        found[(params["env.reward"], int(summary.parent.name))] += 1
    return found


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
def test_a_sampled_race_killed_mid_trial_resumes_without_running_a_seed_twice(tmp_path) -> None:
    out = tmp_path / "out"
    slow = [*words(out)[:-4], "--steps", "1024", "--out", str(out), "--study", STUDY]
    process = start(slow)

    def one_seed_done() -> bool:
        running = [t for t in trials(out, STUDY) if t.state == TrialState.RUNNING]
        return any(t.user_attrs.get("seeds_done", 0) >= 1 for t in running)

    wait_for(one_seed_done, process, "a trial's first seed")
    kill(process)
    result = runner.invoke(app, [*slow, "--timeout", "300"], env={"RNNPPO_HEARTBEAT_S": "1"})
    assert result.exit_code == 0, result.output
    done = [t for t in trials(out, STUDY) if t.state == TrialState.COMPLETE]
    assert sorted(t.params["env.reward"] for t in done) == [1.0, 2.0]
    assert any(t.user_attrs.get("retry_of") is not None for t in done), "the killed trial was retried"
    ran = Counter({(t.params["env.reward"], seed): 1 for t in done for seed in range(len(t.user_attrs["scores"]))})
    assert seed_folders(out) == ran, result.output  # each seed's run finished once, in its trial's folder
    assert "race of 2 finished trials against the leader" in result.output


def test_a_sampled_race_run_again_with_another_trials_count_is_refused_naming_it(tmp_path) -> None:
    request = SweepRequest(
        env=("tests.sweeps.constant_env:NoisyReward",), steps=64, seeds="3..5", sampler="random", trials=6, out=tmp_path
    )
    space = ["env.reward=0.5..2.0", "num_envs=2", "rollout_len=16"]
    stored = json.loads(json.dumps(build_spec(space, request).stored_spec()))  # as the storage keeps it
    assert stored["race"]["configs"] == 6 and stored["race"]["sampled"]
    again = build_spec(space, dataclasses.replace(request, trials=7)).stored_spec()
    assert describe_conflict(stored, again) == ["--trials of the race: stored 6, now 7"]
    assert describe_conflict(stored, build_spec(space, request).stored_spec()) == []
