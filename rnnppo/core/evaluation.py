"""Loading a trained run back: its config and policy, from the run folder's files."""

from __future__ import annotations

from pathlib import Path

from rnnppo.core import runio
from rnnppo.core.config import ConfigError, TrainConfig
from rnnppo.core.envs import describe_spaces
from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.runio import RunFileError
from rnnppo.core.trainer import build_policy


def load_run_policy(run_dir: Path) -> tuple[TrainConfig, RecurrentPolicy]:
    """(config, policy with trained weights) from RUN_DIR/model.pt; every failure names the file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFileError(f"{run_dir} is not a run folder (it does not exist or is not a folder)")
    checkpoint_path = run_dir / "model.pt"
    payload = runio.load_checkpoint(checkpoint_path)
    try:
        config = TrainConfig.from_dict(payload["config"])
    except (ConfigError, TypeError) as err:
        raise RunFileError(f"{checkpoint_path} holds a config rnnppo cannot use: {err}") from None
    config = config.replace(device="cpu")
    obs_space, action_space = describe_spaces(config)
    policy, _, obs_dim = build_policy(config, obs_space, action_space)
    if obs_dim != payload.get("obs_dim"):
        raise RunFileError(
            f"{checkpoint_path} was trained on observations of size {payload.get('obs_dim')}, "
            f"but {config.env} now gives {obs_dim}"
        )
    try:
        policy.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise RunFileError(f"{checkpoint_path} does not match the model its config describes: {first}") from None
    policy.eval()
    return config, policy
