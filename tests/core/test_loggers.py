"""--logger tensorboard|wandb|mlflow: what each writes, read back with the tool's own reader."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from rnnppo.core.config import build_config
from rnnppo.core.runs.loggers import LoggerError, check_loggers, default_mlflow_uri, make_loggers
from rnnppo.core.runs.trainer import train
from tests.shared import Stop, stop_at


def tiny(**changes):
    settings = dict(
        env="rnnppo/CueRecall-v0",
        env_kwargs={"cue_distance": 2},
        num_envs=2,
        rollout_len=16,
        fcnet_hiddens=(8,),
        lstm_cell_size=8,
        minibatch_size=16,
        num_epochs=1,
        eval_episodes=1,
        total_steps=256,  # 8 iterations of 32 steps
        checkpoint_every="3",
    )
    settings.update(changes)
    return build_config({}, **settings)


def test_tensorboard_events_hold_every_iteration_once_even_across_a_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config, run_dir = tiny(), tmp_path / "run"
    with pytest.raises(Stop):  # killed after iteration 5; the checkpoint is at 3
        train(
            config,
            out_dir=run_dir,
            on_iteration=stop_at(5),
            loggers=make_loggers(["tensorboard"], run_dir, results_dir=tmp_path),
        )
    train(config, out_dir=run_dir, resume=True, loggers=make_loggers(["tensorboard"], run_dir, results_dir=tmp_path))
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    steps = [event.step for event in events.Scalars("value_loss")]
    assert steps == [32 * i for i in range(1, 9)], "iterations 4 and 5 of the killed run were purged, not doubled"
    assert [event.value for event in events.Scalars("iteration")] == list(range(1, 9))
    assert "summary/final_return" in events.Tags()["scalars"]


def test_mlflow_holds_the_config_as_params_and_every_metric_per_iteration(tmp_path):
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    train(tiny(), out_dir=run_dir, loggers=make_loggers(["mlflow"], run_dir, results_dir=tmp_path))
    client = MlflowClient(tracking_uri=default_mlflow_uri(tmp_path))
    experiment = client.get_experiment_by_name("rnnppo-train")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["max_seq_len"] == "16"
    assert run.data.params["env"] == "rnnppo/CueRecall-v0"
    assert run.data.tags["seed"] == "0"
    history = client.get_metric_history(run.info.run_id, "policy_loss")
    assert sorted(m.step for m in history) == list(range(1, 9))
    assert "summary/final_return" in run.data.metrics


def wandb_records(path: Path):
    """The records of an offline W&B run file (LevelDB-style log: 7-byte header, 32 KiB blocks of records of
    crc32 + length + type), decoded with wandb's own protobuf messages."""
    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if pos + 7 + length > len(data):
            return  # a record still being written
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_wandb_offline_run_is_written_without_a_network(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    train(tiny(), out_dir=run_dir, loggers=make_loggers(["wandb"], run_dir, results_dir=tmp_path))
    [offline] = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    # W&B's service process finishes writing the file after finish() returns: wait for its exit record.
    deadline = time.monotonic() + 60
    while not any(r.WhichOneof("record_type") == "exit" for r in wandb_records(offline)):
        assert time.monotonic() < deadline, "the offline run was never finished"
        time.sleep(0.2)
    history, config, tags = [], {}, []

    def key(item):
        return item.key or "/".join(item.nested_key)

    for record in wandb_records(offline):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "run":
            config.update({key(i): json.loads(i.value_json) for i in record.run.config.update})
            tags = list(record.run.tags)
        elif kind == "config":
            config.update({key(i): json.loads(i.value_json) for i in record.config.update})
    assert [row["iteration"] for row in history] == list(range(1, 9))
    assert all("value_loss" in row for row in history)
    assert config["max_seq_len"] == 16 and config["rnnppo_seed"] == "0"
    assert "seed=0" in tags


def test_an_unknown_logger_is_one_clear_error():
    with pytest.raises(LoggerError, match="unknown; choose tensorboard, wandb, mlflow"):
        check_loggers(["comet"])
    assert check_loggers(["TensorBoard", "mlflow", "tensorboard"]) == ("tensorboard", "mlflow")
