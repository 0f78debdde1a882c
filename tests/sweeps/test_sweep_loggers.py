"""`sweep --logger`: every seed run of every trial is logged, and the sweep reads as one experiment."""

from __future__ import annotations

from typer.testing import CliRunner

from rnnppo.cli.app import app
from rnnppo.core.runs.loggers import default_mlflow_uri

runner = CliRunner()
TINY = ["num_envs=2", "rollout_len=16", "fcnet_hiddens=[8]", "minibatch_size=16", "num_epochs=1", "eval_episodes=1"]


def test_a_sweep_logs_each_seed_run_to_mlflow_and_tensorboard_as_one_experiment(tmp_path):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    words = ["sweep", "seq_len=2,4", *TINY, "--env", "rnnppo/CueRecall-v0", "--steps", "96", "--seeds", "2"]
    words += ["--study", "logged", "--out", str(tmp_path), "--logger", "mlflow", "--logger", "tensorboard"]
    result = runner.invoke(app, words)
    assert result.exit_code == 0, result.output

    client = MlflowClient(tracking_uri=default_mlflow_uri(tmp_path))
    experiment = client.get_experiment_by_name("logged")
    runs = client.search_runs([experiment.experiment_id])
    logged = sorted((r.data.tags["trial"], r.data.tags["seed"], r.data.params["max_seq_len"]) for r in runs)
    assert logged == [("0", "0", "2"), ("0", "1", "2"), ("1", "0", "4"), ("1", "1", "4")] or logged == [
        ("0", "0", "4"),
        ("0", "1", "4"),
        ("1", "0", "2"),
        ("1", "1", "2"),
    ]
    assert all(r.info.status == "FINISHED" and r.data.tags["study"] == "logged" for r in runs)
    for run in runs:
        assert len(client.get_metric_history(run.info.run_id, "value_loss")) == 3  # 3 iterations of 32 steps

    for trial in ("0", "1"):
        for seed in ("0", "1"):
            events = EventAccumulator(str(tmp_path / "logged" / trial / seed / "tensorboard"))
            events.Reload()
            assert [e.step for e in events.Scalars("return_mean_100")] != []
