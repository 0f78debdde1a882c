"""`rnnppo report` on a raced study: the race replayed from the study's stored spec gives the lines the
sweep ended with (per configuration its seeds and why it stopped, and that these are the sweep's claims),
word for word, and the file formats carry each configuration's seeds and race status."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from rnnppo.cli.app import app
from rnnppo.storage.race import CLAIMS_NOTE, plan_from_stored
from rnnppo.sweeps.racing import plan_of
from rnnppo.sweeps.spec import SweepRequest, build_spec
from tests.shared import TINY, runner

pytestmark = pytest.mark.usefixtures("wide_terminal")
ENV = ["--env", "tests.sweeps.constant_env:ConstantReward", "--steps", "64", "cell=4"]
STUDY = "raced"


def race_lines(output: str) -> list[str]:
    """The race's lines of a command's output: from its heading to the note on claims."""
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("race "))
    last = next(i for i, line in enumerate(lines) if line == CLAIMS_NOTE)
    return lines[first : last + 1]


@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    """A tiny race of two configurations on a deterministic env (reward=1 is worse by 5 on every seed, with
    no spread, so nothing can stop before MAX = 4 seeds): the sweep's output and its results folder."""
    out = tmp_path_factory.mktemp("raced") / "out"
    words = ["sweep", "env.reward=1,2", *TINY, *ENV, "--seeds", "3..4", "--out", str(out), "--study", STUDY]
    result = runner.invoke(app, words)
    assert result.exit_code == 0, result.output
    return result.output, out


@pytest.mark.parametrize(
    ("envs", "words"),
    [
        (("ConstantReward",), ["env.reward=1,2,3", "seq_len=2,4"]),
        (("ConstantReward", "NoisyReward"), ["seq_len=2,4"]),  # a suite: the task is the grid's first dimension
    ],
)
def test_the_plan_read_from_the_stored_spec_is_the_plan_the_sweep_raced(tmp_path, envs, words) -> None:
    env = tuple(f"tests.sweeps.constant_env:{name}" for name in envs)
    request = SweepRequest(env=env, steps=64, seeds="3..6", out=tmp_path)
    spec = build_spec([*words, "num_envs=2", "rollout_len=16"], request)
    stored = json.loads(json.dumps(spec.stored_spec()))  # as the storage keeps it
    assert plan_from_stored(stored) == plan_of(spec)
    assert len(plan_of(spec).points) == (6 if len(envs) == 1 else 4)


def test_a_study_that_was_not_raced_has_no_race_plan(tmp_path) -> None:
    request = SweepRequest(env=("tests.sweeps.constant_env:ConstantReward",), steps=64, seeds="3", out=tmp_path)
    spec = build_spec(["env.reward=1,2", "num_envs=2", "rollout_len=16"], request)
    assert plan_from_stored(spec.stored_spec()) is None


@pytest.mark.slow
def test_report_on_a_raced_study_says_each_configurations_seeds_and_why_it_stopped(raced) -> None:
    _, out = raced
    result = runner.invoke(app, ["report", str(out), "--study", STUDY])
    assert result.exit_code == 0, result.output
    lines = race_lines(result.output)
    assert lines[0].startswith("race finished: 8 seed runs of the fixed design's 8 (100%); intervals corrected")
    assert "  env.reward=2: leader after 4 seeds" in lines
    assert (
        "  env.reward=1: 4 seeds (MAX): not separated from env.reward=2 (-5 on all 4 seeds; no interval: no spread, "
        "and too few seeds for the exact test)" in lines
    )
    assert lines[-1].endswith("the claims of a raced sweep are these lines)")


@pytest.mark.slow
def test_the_sweep_and_the_report_print_the_same_race_lines(raced) -> None:
    output, out = raced
    report = runner.invoke(app, ["report", str(out), "--study", STUDY])
    assert report.exit_code == 0, report.output
    assert race_lines(output) == race_lines(report.output)
    assert len(race_lines(output)) == 4  # heading, two configurations, the note on claims


@pytest.mark.slow
def test_report_files_carry_each_configurations_race_seeds_and_status(raced) -> None:
    _, out = raced
    csv = runner.invoke(app, ["report", str(out), "--study", STUDY, "--format", "csv"])
    assert csv.exit_code == 0, csv.output
    runs = pd.read_csv(io.StringIO(csv.output))
    by_config = runs.groupby("config")[["race_seeds", "race_status"]].first()
    assert by_config.loc["env.reward=1"].tolist() == [4, "not separated"]
    assert by_config.loc["env.reward=2"].tolist() == [4, "leader"]
    payload = json.loads(runner.invoke(app, ["report", str(out), "--study", STUDY, "--format", "json"]).output)
    statuses = {row["config"]: (row["seeds"], row["status"]) for row in payload["race"]["configurations"]}
    assert statuses == {"env.reward=1": (4, "not separated"), "env.reward=2": (4, "leader")}
    assert payload["race"]["lines"][-1] == CLAIMS_NOTE
    markdown = runner.invoke(app, ["report", str(out), "--study", STUDY, "--format", "markdown"]).output
    assert "## race (the claims of a raced sweep)" in markdown
    assert "| env.reward=2 | 4 | leader | leader after 4 seeds |" in markdown
