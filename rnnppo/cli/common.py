"""What every command shares: the console, one-line errors with exit code 2, and config assembly."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from rnnppo.core.config import ConfigError, TrainConfig, build_config, load_toml, parse_overrides


def piped_width(stream: object = None) -> int | None:
    """Wide tables stay readable when output goes to a file or a pipe (rich would assume 80 columns):
    None (rich's own detection) on a terminal or when COLUMNS is set, else 160."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if os.environ.get("COLUMNS") or (isatty is not None and isatty()):
        return None
    return 160


console = Console(highlight=False, width=piped_width())
err_console = Console(stderr=True, highlight=False)

USAGE_EXIT = 2


def fail(message: str, code: int = USAGE_EXIT) -> NoReturn:
    """One red line on stderr naming what is wrong and how to fix it, then exit (2 = bad input). A line
    break inside (from echoed input, e.g. a word with a newline) shows as \\n: the line is not cut."""
    text = "\\n".join(str(message).strip().splitlines()) or "error"
    err_console.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True)
    raise typer.Exit(code)


def bad_input_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the user's input is wrong" (exit code 2)."""
    from rnnppo.core.envs import EnvError
    from rnnppo.core.runio import RunFileError
    from rnnppo.core.spaces import UnsupportedSpaceError
    from rnnppo.sweeps.storage import StorageError
    from rnnppo.sweeps.study import SweepError

    return ConfigError, EnvError, RunFileError, UnsupportedSpaceError, StorageError, SweepError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad-input exceptions raised inside the block into one line and exit code 2."""
    try:
        yield
    except bad_input_errors() as err:
        fail(str(err))


def assemble_config(
    words: list[str] | None, config_file: Path | None = None, preset: str | None = None, **options: object
) -> TrainConfig:
    """Defaults <- --preset <- --config file <- NAME=VALUE words <- explicit options (those not None)."""
    base = load_toml(config_file) if config_file is not None else {}
    if preset is not None:
        from rnnppo.core.presets import load_preset

        preset_settings = load_preset(preset).settings
        if "env_kwargs" in preset_settings and "env_kwargs" in base:
            base["env_kwargs"] = {**preset_settings["env_kwargs"], **base["env_kwargs"]}
        base = {**preset_settings, **base}
    overrides = parse_overrides(words or [])
    explicit = {name: value for name, value in options.items() if value is not None}
    for name, value in explicit.items():
        if name in ("wrappers",):
            explicit[name] = tuple(value)  # type: ignore[arg-type]
    merged = {**base, **overrides}
    if "env_kwargs" in base and "env_kwargs" in overrides:
        merged["env_kwargs"] = {**base["env_kwargs"], **overrides["env_kwargs"]}
    return build_config(merged, **explicit)


def check_writable(folder: Path) -> None:
    """Fail (exit 2) before anything is written if `folder` (or its nearest existing parent) is not writable."""
    try:
        probe = Path(folder).resolve()
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        is_file = probe.exists() and not probe.is_dir()
    except (OSError, ValueError) as err:  # a name too long, a NUL character
        fail(f"results folder {str(folder)[:200]!r} cannot be used: {getattr(err, 'strerror', None) or err}")
    if is_file:
        itself = probe == Path(folder).resolve()
        where = f"{folder} is a file" if itself else f"{folder} cannot be made: {probe} is a file"
        fail(f"{where}; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        fail(f"results folder {folder} is not writable; choose another --out or fix its permissions")


def is_interactive() -> bool:
    return sys.stdout.isatty()
