"""The steps after training (evaluation, memory measurement, a logger's finish) never lose the trained run:
model.pt and summary.json are written whatever fails there, the failure is one line in summary.json's
`after_training_errors`, `train` says it in one line (exit 1), and `--resume` of the run refuses cleanly."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnppo.cli.app import app
from rnnppo.core.config import build_config
from rnnppo.core.runs import trainer
from rnnppo.core.runs.files import read_json
from tests.shared import TINY, TINY_SETTINGS, runner

ENV = "rnnppo/StatelessCartPole-v0"


def tiny_config(**changes):
    return build_config({}, env=ENV, total_steps=64, **{**TINY_SETTINGS, "lstm_cell_size": 8, **changes})


def broken(message: str):
    def fail(*args, **kwargs):
        raise RuntimeError(f"{message}\nsecond line of the message")

    return fail


class FailingLogger:
    """A logger whose finish() raises (an unreachable tracking server, say)."""

    def start(self, meta, resumed_from):
        pass

    def log(self, row):
        pass

    def finish(self, summary):
        if summary is not None:
            raise ConnectionError("tracking server went away")


def test_a_failing_memory_measurement_keeps_the_model_and_records_the_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "memory_summary", broken("size of tensor a (12) must match (6)"))
    result = trainer.train(tiny_config(memory_horizon=True), out_dir=tmp_path)
    summary = read_json(tmp_path / "summary.json")
    assert summary["after_training_errors"] == [
        "memory measurement failed: RuntimeError: size of tensor a (12) must match (6)"
    ]
    assert "memory_horizon" not in summary and math.isfinite(summary["final_return"])  # evaluation still ran
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    for name, value in result.policy.state_dict().items():
        torch.testing.assert_close(saved["state_dict"][name], value, rtol=0, atol=0)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_a_failing_evaluation_leaves_no_score_rather_than_the_training_return(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "evaluate", broken("env crashed on reset"))
    trainer.train(tiny_config(memory_horizon=True), out_dir=tmp_path)
    summary = read_json(tmp_path / "summary.json")
    assert summary["after_training_errors"] == ["evaluation failed: RuntimeError: env crashed on reset"]
    assert summary["final_return"] is None or math.isnan(summary["final_return"])
    assert "eval_return_mean" not in summary and isinstance(summary["memory_horizon"], int)  # memory still ran
    assert (tmp_path / "model.pt").exists()


def test_a_failing_logger_is_recorded_after_summary_json_was_written(tmp_path):
    trainer.train(tiny_config(), out_dir=tmp_path, loggers=[FailingLogger()])
    summary = read_json(tmp_path / "summary.json")
    assert summary["after_training_errors"] == [
        "logger FailingLogger failed: ConnectionError: tracking server went away"
    ]
    assert (tmp_path / "model.pt").exists()


def test_a_run_whose_steps_after_training_worked_records_no_errors(tmp_path):
    trainer.train(tiny_config(), out_dir=tmp_path)
    assert read_json(tmp_path / "summary.json")["after_training_errors"] == []


def test_train_reports_the_failed_step_in_one_line_and_resume_refuses_the_finished_run(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "memory_summary", broken("size of tensor a (12) must match (6)"))
    out = tmp_path / "results"
    args = ["train", *TINY, "cell=8", "memory_horizon=true", "--env", ENV, "--steps", "64", "--out", str(out)]
    result = runner.invoke(app, [*args, "--name", "run"])
    assert result.exit_code == 1, result.output
    run_dir = out / "runs" / "run"
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: after training, memory measurement failed: RuntimeError: size of tensor a (12) must match (6); "
        f"model.pt and summary.json are saved in {run_dir}"
    ]
    assert "Traceback" not in result.output
    assert json.loads((run_dir / "summary.json").read_text())["after_training_errors"]
    again = runner.invoke(app, ["train", "--resume", str(run_dir)])
    assert again.exit_code == 2
    assert again.output.strip().splitlines() == [
        f"error: --resume {run_dir}: that run finished (it has summary.json); nothing to resume"
    ]


def test_ctrl_c_in_a_step_after_training_stops_and_resume_repeats_only_the_steps_after_training(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    config = tiny_config(memory_horizon=True)
    with monkeypatch.context() as patch:
        patch.setattr(trainer, "memory_summary", interrupted)
        with pytest.raises(KeyboardInterrupt):
            trainer.train(config, out_dir=tmp_path)
    assert (tmp_path / "model.pt").exists() and not (tmp_path / "summary.json").exists()
    iterations = []
    result = trainer.train(config, out_dir=tmp_path, resume=True, on_iteration=lambda row: iterations.append(row))
    assert result.summary["resumed_from_iterations"] == [2]  # the checkpoint after the last iteration
    assert [row["iteration"] for row in iterations] == [1, 2]  # the kept rows, none trained again
    assert isinstance(result.summary["memory_horizon"], int) and result.summary["after_training_errors"] == []


def test_a_sweep_names_the_failed_step_as_why_a_seed_has_no_score():
    from rnnppo.sweeps.worker import _no_score_cause

    summary = {"final_train_return": 5.0, "env_steps": 64, "after_training_errors": ["evaluation failed: OSError: x"]}
    assert _no_score_cause(summary, tiny_config(), "final") == "evaluation failed: OSError: x"
