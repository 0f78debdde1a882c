"""Resumable training state: what a run folder's checkpoint.pt holds, when one is due, and restoring it.

A checkpoint is everything the next iteration depends on except the environments: the policy (its
observation-filter statistics are buffers of it), both optimizers' moments and step counts, the
learning rate, every random generator the trainer draws from (Python's, NumPy's, torch's CPU and CUDA
ones, and the minibatch shuffler) and the run's counters. It is written atomically (temp file + rename),
so a kill mid-write leaves the previous checkpoint, and read with torch.load(weights_only=True), like
model.pt: a crafted file cannot run code. The envs' internal state cannot be saved in general (a
gymnasium env is any Python object): a resumed run starts fresh episodes, from env seeds derived from
the run's seed and the iteration it resumes at, so a resumed run is reproducible but not the same
trajectory as one that was never stopped.
"""

from __future__ import annotations

import io
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnnppo.core.config import checkpoint_interval
from rnnppo.core.runs import files as run_files

if TYPE_CHECKING:
    from rnnppo.core.curiosity import Curiosity

CHECKPOINT_FILE = "checkpoint.pt"
RESUME_FORMAT = 1
ENV_SEED_STRIDE = 104_729  # a resumed run's envs are seeded seed + stride * iteration (0: the run's own seed)


@dataclass
class Counters:
    """Where a run stands after `iteration` finished iterations."""

    iteration: int = 0
    env_steps: int = 0
    train_time_s: float = 0.0  # training wall time before this process (wall_time continues from it)
    recent_returns: list[float] = field(default_factory=list)  # the last 100 episode returns (return_mean_100)
    resumes: list[int] = field(default_factory=list)  # the iterations this run was resumed from, in order


def env_seed(seed: int, iteration: int) -> int:
    """The seed for the envs of a run (re)started after `iteration` iterations; the run's own seed at 0."""
    return seed + ENV_SEED_STRIDE * iteration


class Schedule:
    """When a checkpoint is due: every N iterations or every S seconds (`checkpoint_every`), and after the
    last iteration (so a kill during the final evaluation repeats only the evaluation)."""

    def __init__(self, checkpoint_every: str, num_iterations: int):
        self.every_iterations, self.every_seconds = checkpoint_interval(checkpoint_every)
        self.num_iterations = num_iterations
        self.last_saved = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.every_iterations is not None or self.every_seconds is not None

    def due(self, iteration: int) -> bool:
        if not self.enabled:
            return False
        if iteration >= self.num_iterations:
            return True
        if self.every_iterations is not None:
            return iteration % self.every_iterations == 0
        return time.monotonic() - self.last_saved >= self.every_seconds  # type: ignore[operator]

    def saved(self) -> None:
        self.last_saved = time.monotonic()


# --- random generators ------------------------------------------------------------------------------


def rng_states(generator: torch.Generator, cuda: bool) -> dict[str, Any]:
    """Every generator's state; reading them draws nothing, so a checkpointed run's trajectory is the same
    as an unchecked one's. Python's and NumPy's states go as JSON text (plain data for weights_only)."""
    version, words, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": json.dumps([version, list(words), gauss]),
        "numpy": json.dumps([name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda and torch.cuda.is_available() else [],
        "minibatch": generator.get_state(),
    }


def restore_rng(states: dict[str, Any], generator: torch.Generator) -> None:
    version, words, gauss = json.loads(states["python"])
    random.setstate((version, tuple(words), gauss))
    name, keys, pos, has_gauss, cached = json.loads(states["numpy"])
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    generator.set_state(states["minibatch"])


# --- writing and reading -------------------------------------------------------------------------------


def save(
    run_dir: Path,
    *,
    config: dict[str, Any],
    policy: torch.nn.Module,
    optimizer: Any,
    curiosity: Curiosity | None,
    generator: torch.Generator,
    counters: Counters,
) -> None:
    """Write run_dir/checkpoint.pt atomically."""
    cuda = next(policy.parameters()).device.type == "cuda"
    payload = {
        "format": RESUME_FORMAT,
        "config_json": json.dumps(config, sort_keys=True, default=str),
        "policy": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "curiosity": None
        if curiosity is None
        else {
            "module": {k: v.detach().cpu() for k, v in curiosity.state_dict().items()},
            "optimizer": curiosity.optimizer.state_dict(),
        },
        "rng": rng_states(generator, cuda),
        "counters": {
            "iteration": counters.iteration,
            "env_steps": counters.env_steps,
            "train_time_s": counters.train_time_s,
            "recent_returns": [float(r) for r in counters.recent_returns],
            "resumes": list(counters.resumes),
        },
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    run_files.atomic_write_bytes(Path(run_dir) / CHECKPOINT_FILE, buffer.getvalue())


def load(run_dir: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint of `run_dir` (None when it has none yet), checked to belong to `config`."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    payload = run_files.safe_torch_load(path)  # a crafted file is refused, never unpickled
    if not isinstance(payload, dict) or payload.get("format") != RESUME_FORMAT:
        raise run_files.RunFileError(f"{path} is not an rnnppo training checkpoint (format {RESUME_FORMAT})")
    if json.loads(payload["config_json"]) != json.loads(json.dumps(config, sort_keys=True, default=str)):
        raise run_files.RunFileError(
            f"{path} was written by a run with another configuration than {run_dir}/config.json"
        )
    return payload


def restore(
    payload: dict[str, Any],
    policy: torch.nn.Module,
    optimizer: Any,
    curiosity: Curiosity | None,
) -> Counters:
    """Load the networks and optimizers (not the random generators: see restore_rng); the counters."""
    policy.load_state_dict(payload["policy"])
    optimizer.load_state_dict(payload["optimizer"])
    if curiosity is not None and payload["curiosity"] is not None:
        curiosity.load_state_dict(payload["curiosity"]["module"])
        curiosity.optimizer.load_state_dict(payload["curiosity"]["optimizer"])
    counters = payload["counters"]
    return Counters(
        iteration=int(counters["iteration"]),
        env_steps=int(counters["env_steps"]),
        train_time_s=float(counters["train_time_s"]),
        recent_returns=[float(r) for r in counters["recent_returns"]],
        resumes=[int(i) for i in counters["resumes"]],
    )


def remove(run_dir: Path) -> None:
    """Drop the checkpoint of a finished run (model.pt supersedes it) and any temp file a kill left."""
    run_dir = Path(run_dir)
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    remove_stale_temps(run_dir)


def remove_stale_temps(run_dir: Path) -> None:
    """Temp files of atomic writes that a kill interrupted (never renamed, never read)."""
    for stale in Path(run_dir).glob(".*.tmp"):
        stale.unlink(missing_ok=True)
