"""`rnnppo inspect`, `envs` and `presets`: what a config gives and what ships, before anything trains."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from rnnppo.cli.common import console, fail, user_errors
from rnnppo.cli.train_cmd import ENV_HELP, WRAPPER_HELP
from rnnppo.core.config import assemble_config


def inspect(
    overrides: list[str] = typer.Argument(None, help="NAME=VALUE settings"),
    env: str = typer.Option(None, "--env", help=ENV_HELP),
    obs_shape: str = typer.Option(
        None, "--obs-shape", help="without an env: observation shape, e.g. 640, or 84,84,4 for an image (channels last)"
    ),
    actions: int = typer.Option(None, "--actions", min=1, help="without an env: number of discrete actions"),
    config_file: Path = typer.Option(None, "--config"),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="measure sequences on a short rollout (needs --env)"),
    wrapper: list[str] = typer.Option(None, "--wrapper", help=WRAPPER_HELP),
) -> None:
    """Print the model's data flow with this configuration's shapes, parameter counts and sequence stats."""
    from rnnppo.core.analysis import dataflow

    with user_errors():
        if env is None and obs_shape is None:
            fail("give --env ID, or --obs-shape N [--actions K] to inspect without an environment")
        if env is not None and obs_shape is not None:
            fail("give --env ID or --obs-shape N, not both: --obs-shape stands in for an environment")
        config = assemble_config(overrides, config_file, env=env, wrappers=wrapper or None)
        if obs_shape is not None:
            try:
                shape = tuple(int(part) for part in obs_shape.replace("x", ",").split(",") if part.strip())
            except ValueError:
                fail(f"--obs-shape {obs_shape!r} must be integers like 640 or 84,84,4")
            if not shape or min(shape) < 1:
                fail(f"--obs-shape {obs_shape!r} must be positive integers like 640 or 84,84,4")
            obs_space, action_space = dataflow.synthetic_spaces(shape, actions or 2)
            description = dataflow.describe(config, obs_space, action_space)
            stats = None
        else:
            description = dataflow.describe_env(config)
            stats = dataflow.probe(config) if probe else None

    for title, rows in (
        ("rollout: one env step per call, state chained per env", description.rollout),
        ("training: sequences of at most max_seq_len steps", description.training),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column("stage", style="bold")
        table.add_column("shape", style="cyan")
        table.add_column("")
        for row in rows:
            table.add_row(row.stage, row.shape, row.note)
        console.print(table)
    params = Table(title="parameters", title_justify="left")
    params.add_column("part", style="bold")
    params.add_column("count", justify="right")
    for part, count in description.parameters:
        params.add_row(part, f"{count:,}")
    console.print(params)
    if stats is not None:
        console.print(
            f"[bold]probe rollout[/] ({config.num_envs} envs × {config.rollout_len} steps, untrained policy): "
            f"{stats['num_seqs']:.0f} sequences, mean length {stats['seq_len_mean']:.1f} "
            f"(max {stats['seq_len_max']:.0f}), {100 * stats['pad_frac']:.0f}% padding; cut by episode end "
            f"{100 * stats['cut_by_episode_end']:.0f}%, by max_seq_len {100 * stats['cut_by_max_seq_len']:.0f}%, "
            f"by rollout end {100 * stats['cut_by_rollout_end']:.0f}%"
        )
    for answer in description.answers:
        console.print(f"• {answer}")


def envs() -> None:
    """List the built-in environments."""
    from rnnppo.core.envs.builtin import BUILTIN_ENVS, MASKED_ENVS
    from rnnppo.core.presets import presets_by_env

    table = Table(title="built-in environments", title_justify="left")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("preset", no_wrap=True)
    table.add_column("masked")
    table.add_column("what it tests")
    with user_errors():
        by_env = presets_by_env()
    for env_id, text in BUILTIN_ENVS.items():
        table.add_row(env_id, ", ".join(by_env.get(env_id, [])), "", text)
    for env_id, masked in MASKED_ENVS.items():
        table.add_row(env_id, ", ".join(by_env.get(env_id, [])), masked.masked, masked.text)
    console.print(table)
    console.print("Mask any Box observation: --wrapper rnnppo.wrappers:MaskObservation (indices = entries to zero).")


def presets() -> None:
    """List the shipped presets: tuned configs with the score each reaches (`train --preset NAME`)."""
    from rnnppo.core.presets import all_presets

    with user_errors():
        found = all_presets()
    table = Table(title="presets (rnnppo train --preset NAME)", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("env", no_wrap=True)
    table.add_column("what it reaches")
    for preset in found:
        table.add_row(preset.name, preset.env, f"{preset.description}. {preset.score}")
    console.print(table)
    console.print("reproduce:")
    for preset in found:  # whole lines (not wrapped), so a command can be copied as it is
        console.print(f"  {preset.name}: {preset.reproduce}", soft_wrap=True, markup=False)
