"""What a sweep says about its own evidence, end to end with tiny budgets: a swept setting that does nothing
is warned about and its values tie, a sampler never re-runs a configuration on the same seeds, one seed
says no comparison can be made, and the random-policy baseline is stored with the study."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna.trial import TrialState
from typer.testing import CliRunner

from rnnppo.cli.app import app
from rnnppo.storage.contract import BASELINE_ATTR, DUPLICATE, ROLE_ATTR

runner = CliRunner()
TINY = ["num_envs=2", "rollout_len=32", "fcnet_hiddens=[8]", "cell=4", "minibatch_size=16", "num_epochs=1"]
ENV = ["--env", "rnnppo/CueRecall-v0", "env.cue_distance=3", "--steps", "128"]


def sweep(out: Path, *words: str):
    return runner.invoke(app, ["sweep", *words, *TINY, *ENV, "--out", str(out)])


def report_json(out: Path, study: str) -> dict:
    result = runner.invoke(app, ["report", str(out), "--study", study, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_inert_setting_is_warned_and_its_values_tie_with_no_cheaper_claim(tmp_path):
    result = sweep(tmp_path, "curiosity_eta=1.0,2.0", "--seeds", "3", "--study", "eta")
    assert result.exit_code == 0, result.output
    assert "warning: swept setting curiosity_eta has no effect: curiosity is off" in " ".join(result.output.split())
    payload = report_json(tmp_path, "eta")
    assert [row["rank"] for row in payload["comparison"]] == [1, 1]
    assert [row["vs_best"] for row in payload["comparison"]] == ["highest IQM", "tie with the highest"]
    assert payload["best"] is None
    assert payload["cheapest_not_worse"] is None
    assert any("curiosity_eta has no effect" in warning for warning in payload["warnings"])
    assert "identical to it on all 3 seeds" in payload["verdict"] and "is best" not in payload["verdict"]
    assert payload["importance"] is None
    baseline = payload["baseline"]
    assert baseline["policy"] == "uniform random" and baseline["episodes"] == 100
    assert 0.0 <= baseline["mean_return"] <= 1.0  # CueRecall: 1 for the cued side, 0 otherwise


def test_a_sampler_never_reruns_a_configuration_and_stops_when_the_space_is_exhausted(tmp_path):
    result = sweep(tmp_path, "seq_len=2,4", "--sampler", "random", "--trials", "6", "--seeds", "1", "--study", "rnd")
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="rnd", storage=f"sqlite:///{tmp_path / 'rnnppo.db'}")
    ran = [t for t in study.trials if t.user_attrs.get(ROLE_ATTR) is None and t.state == TrialState.COMPLETE]
    assert sorted(t.params["max_seq_len"] for t in ran) == [2, 4]
    skipped = [t for t in study.trials if t.user_attrs.get(ROLE_ATTR) == DUPLICATE]
    assert all(t.state == TrialState.PRUNED and "duplicate_of" in t.user_attrs for t in skipped)
    text = " ".join(result.output.split())
    assert "the space has 2 distinct configurations and all of them ran" in text
    if skipped:
        assert f"skipped {len(skipped)} sampled trials that repeated a configuration" in text


def test_one_seed_says_no_comparison_can_be_made_and_the_baseline_is_stored(tmp_path):
    result = sweep(tmp_path, "seq_len=2,4", "--seeds", "1", "--study", "one")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "with 1 seed per configuration no comparison can be made" in text
    assert "no comparison can be made; sweep with --seeds 3 or more" in text
    study = optuna.load_study(study_name="one", storage=f"sqlite:///{tmp_path / 'rnnppo.db'}")
    assert study.user_attrs[BASELINE_ATTR]["episodes"] == 100
