"""`rnnppo train` and `rnnppo eval`: parse, call the core, print."""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer
from rich.table import Table

from rnnppo.cli.common import check_writable, console, err_console, fail, is_interactive, user_errors
from rnnppo.cli.progress import TrainProgress
from rnnppo.core.config import assemble_config

ENV_HELP = (
    "gymnasium id (rnnppo/StatelessCartPole-v0), module:EnvId from another package (minigrid:MiniGrid-MemoryS7-v0)"
    " or package.module:ClassName"
)


WRAPPER_HELP = (
    "wrapper for every env, applied in order (repeatable): package.module:Wrapper or "
    "package.module:Wrapper(key=literal, ...), e.g. gymnasium.wrappers:TimeLimit(max_episode_steps=50)"
)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "run"


def train(
    overrides: list[str] = typer.Argument(None, help="NAME=VALUE settings, e.g. max_seq_len=16 cell=64"),
    env: str = typer.Option(None, "--env", help=ENV_HELP),
    steps: int = typer.Option(None, "--steps", help="env steps to train for"),
    seed: int = typer.Option(None, "--seed"),
    out: Path = typer.Option(Path("results"), "--out", help="results folder; the run goes to OUT/runs/NAME"),
    name: str = typer.Option(None, "--name", help="run folder name (default: env, seed and time)"),
    device: str = typer.Option(None, "--device", help="cpu, cuda or auto"),
    config_file: Path = typer.Option(None, "--config", help="TOML file of NAME = VALUE settings"),
    wrapper: list[str] = typer.Option(None, "--wrapper", help=WRAPPER_HELP),
    preset: str = typer.Option(None, "--preset", help="a shipped tuned config (`rnnppo presets`) as the base"),
    resume: Path = typer.Option(
        None, "--resume", help="a killed run's folder: go on from its checkpoint to its total steps"
    ),
    logger: list[str] = typer.Option(None, "--logger", help="also log to tensorboard, wandb or mlflow (repeatable)"),
    mlflow_uri: str = typer.Option(None, "--mlflow-uri", help="MLflow tracking URI (default: SQLite in OUT)"),
    progress_every: float = typer.Option(
        30.0, "--progress-every", min=0.0, help="seconds between progress lines when not on a terminal"
    ),
) -> None:
    """Train one run with a progress bar; write config.json, metrics.csv, summary.json and model.pt."""
    from rnnppo.core.runs.loggers import check_loggers, make_loggers, prepare_loggers

    config, resumed_dir = _checked_config(
        overrides, env, steps, seed, name, device, config_file, wrapper, preset, resume, logger
    )
    if resumed_dir is not None:
        out, run_dir = resumed_dir.parent.parent, resumed_dir
    else:
        run_dir = _new_run_dir(out, name, config)
    with user_errors():
        prepare_loggers(check_loggers(logger), out, mlflow_uri)
        loggers = make_loggers(logger or [], run_dir, results_dir=out, mlflow_uri=mlflow_uri)
    result = _train_with_progress(config, run_dir, resumed_dir is not None, loggers, progress_every)
    _print_summary(result.summary, run_dir)
    failed = result.summary.get("after_training_errors") or []
    if failed:  # the run is trained and saved; a step after it did not work (summary.json records which)
        fail(f"after training, {'; '.join(failed)}; model.pt and summary.json are saved in {run_dir}", code=1)


def _checked_config(overrides, env, steps, seed, name, device, config_file, wrapper, preset, resume, logger):
    """The run's config (a resumed run's own, or assembled from the settings given) checked before anything is
    written: the loggers, the env and its spaces, the memory it needs, the device, one whole iteration.
    Returns (config, the resumed run's folder or None); notes the observation parts the policy drops."""
    from rnnppo.core.envs.make import describe_spaces
    from rnnppo.core.footprint import check_fits
    from rnnppo.core.runs.loggers import check_loggers
    from rnnppo.core.runs.trainer import resolve_device
    from rnnppo.core.spaces import dropped_parts

    resumed_dir = None
    with user_errors():
        check_loggers(logger)
        if resume is not None:
            given = _settings_given(overrides, env, steps, seed, name, device, config_file, wrapper, preset)
            if given:
                fail(f"--resume goes on with the run's own settings; drop {', '.join(given)}")
            config, resumed_dir = _resumable(resume)
        else:
            config = assemble_config(
                overrides,
                config_file,
                preset,
                env=env,
                total_steps=steps,
                seed=seed,
                device=device,
                wrappers=wrapper or None,
            )
        obs_space, action_space = describe_spaces(config)  # unknown env or unsupported spaces: fail before writing
        check_fits(config, obs_space, action_space)  # no memory for it: fail before allocating
        for part in dropped_parts(obs_space):
            console.print(f"note: observation part '{part}' is text; the policy does not see it (dropped)")
        resolve_device(config.device)
        if resume is None:
            _check_one_iteration(config)
    return config, resumed_dir


def _new_run_dir(out: Path, name: str | None, config) -> Path:
    """OUT/runs/NAME for a new run (default NAME: env, seed and time); refused when OUT cannot be written or
    the folder exists."""
    check_writable(out)
    run_name = _slug(name) if name else f"{_slug(config.env)}-s{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = out / "runs" / run_name
    if run_dir.exists():
        fail(f"run folder {run_dir} already exists; pass another --name, or --resume {shlex.quote(str(run_dir))}")
    return run_dir


def _train_with_progress(config, run_dir: Path, resume: bool, loggers: list, progress_every: float):
    """Train with the progress bar; Ctrl-C or SIGTERM stops between iterations (one line says what was kept,
    exit 128 + the signal), a training error is one line and exit 1. Returns the trainer's RunResult."""
    from rnnppo.core.runs.trainer import TrainingError
    from rnnppo.core.runs.trainer import train as run_training

    stop = _StopFlag()
    try:
        with TrainProgress(console, config.total_steps, is_interactive(), progress_every) as progress:
            try:
                with user_errors(), _stop_between_iterations(stop):

                    def on_iteration(row: dict) -> None:
                        stop.last_row = row
                        if stop.signum is not None:  # Ctrl-C or SIGTERM: stop between iterations, not inside torch
                            stop.at_iteration = row["iteration"]
                            raise KeyboardInterrupt
                        progress.update(row)

                    result = run_training(
                        config, out_dir=run_dir, on_iteration=on_iteration, resume=resume, loggers=loggers
                    )
            except TrainingError as err:
                fail(str(err), code=1)
    except KeyboardInterrupt:
        _say_stopped(stop, config, run_dir)
    return result


def _say_stopped(stop: _StopFlag, config, run_dir: Path) -> NoReturn:
    """One line: where training stopped, what was kept and the command that goes on; exit 128 + the signal."""
    from rnnppo.core.config import checkpoint_interval

    signum = stop.signum if stop.signum is not None else signal.SIGINT
    name = signal.Signals(signum).name
    command = f"rnnppo train --resume {shlex.quote(str(run_dir))}"
    if stop.at_iteration is not None and checkpoint_interval(config.checkpoint_every) != (None, None):
        done = stop.last_row or {}
        what = (
            f"stopped ({name}) after iteration {stop.at_iteration} ({done.get('env_steps', 0):,} env steps), "
            f"checkpoint saved; go on with: {command}"
        )
    elif stop.at_iteration is not None:
        what = f"stopped ({name}); no checkpoint is kept (checkpoint_every=none): {command} starts again"
    elif stop.last_row is None:
        what = f"stopped ({name}) before the first iteration finished; start again with: {command}"
    else:
        what = f"stopped ({name}) at once; go on from the last checkpoint with: {command}"
    err_console.print(what, soft_wrap=True, markup=False, highlight=False)
    raise typer.Exit(128 + signum)


def _check_one_iteration(config) -> None:
    """Training runs whole iterations: fewer steps than one would silently train a whole one."""
    per_iteration = config.num_envs * config.rollout_len
    if config.total_steps < per_iteration:
        fail(
            f"--steps {config.total_steps:,} is less than one iteration (num_envs={config.num_envs} x "
            f"rollout_len={config.rollout_len} = {per_iteration:,} env steps); give --steps {per_iteration} or "
            "more, or lower num_envs or rollout_len"
        )


def _settings_given(overrides, env, steps, seed, name, device, config_file, wrapper, preset) -> list[str]:
    """The flags of settings given alongside --resume."""
    pairs = [
        ("NAME=VALUE", overrides),
        ("--env", env),
        ("--steps", steps),
        ("--seed", seed),
        ("--name", name),
        ("--device", device),
        ("--config", config_file),
        ("--wrapper", wrapper),
        ("--preset", preset),
    ]
    return [flag for flag, value in pairs if value not in (None, [], ())]


def _resumable(run_dir: Path):
    """The config of a killed run folder that --resume can go on with; bad input otherwise."""
    from rnnppo.core.config import build_config
    from rnnppo.core.runs import files as run_files

    if not (run_dir / "config.json").is_file():
        fail(f"--resume {run_dir}: no config.json there; give a run folder written by rnnppo train")
    if (run_dir / "summary.json").exists():
        fail(f"--resume {run_dir}: that run finished (it has summary.json); nothing to resume")
    meta = run_files.read_json(run_dir / "config.json")
    if not isinstance(meta.get("config"), dict):
        fail(f"--resume {run_dir}: config.json holds no config")
    return build_config(meta["config"]), run_dir


class _StopFlag:
    signum: int | None = None  # the stop signal that came (SIGINT or SIGTERM)
    at_iteration: int | None = None  # the iteration after which training stopped on it
    last_row: dict | None = None  # the last finished iteration's metrics


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_between_iterations(stop: _StopFlag) -> Iterator[None]:
    """Ctrl-C or SIGTERM (`kill`, Slurm's warning before its kill) stops training at the end of the current
    iteration (the iteration callback raises it, and the trainer keeps that iteration in a checkpoint):
    raised at once it could land in Python code that torch's C++ is calling back, which aborts the process
    (pybind11's error_already_set). A second one stops at once."""

    def on_stop(signum: int, frame: object) -> None:
        if stop.signum is not None:
            raise KeyboardInterrupt
        stop.signum = signum

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {signum: signal.signal(signum, on_stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _print_summary(summary: dict, run_dir: Path) -> None:
    table = Table(title="run summary", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    if summary.get("eval_return_mean") is not None:
        table.add_row(
            "eval return",
            f"{summary['eval_return_mean']:.2f} ± {summary['eval_return_std']:.2f} "
            f"({len(summary.get('eval_returns', []))} episodes)",
        )
    if summary.get("eval_success_mean") is not None:
        table.add_row("eval success", f"{summary['eval_success_mean']:.2f}")
    table.add_row("train return (last 100 episodes)", f"{summary['final_train_return']:.2f}")
    table.add_row(
        "env steps",
        f"{summary['env_steps']:,} in {summary['train_time_s']:.1f} s ({summary['steps_per_s']:,.0f} steps/s)",
    )
    saw = summary["lstm_saw"]
    table.add_row(
        "what the LSTM saw",
        f"{saw['num_seqs']:.0f} sequences/iteration, mean length "
        f"{saw['seq_len_mean']:.1f} (max {saw['seq_len_max']:.0f}), "
        f"{100 * saw['pad_frac']:.0f}% padding",
    )
    table.add_row(
        "sequences cut by",
        f"episode end {100 * saw['cut_by_episode_end']:.0f}%, max_seq_len "
        f"{100 * saw['cut_by_max_seq_len']:.0f}%, rollout end "
        f"{100 * saw['cut_by_rollout_end']:.0f}%",
    )
    table.add_row("run folder", str(run_dir))
    console.print(table)


def evaluate(
    run_dir: Path = typer.Argument(..., help="a run folder written by train or sweep"),
    episodes: int = typer.Option(20, "--episodes", min=1),
    seed: int = typer.Option(12345, "--seed"),
    stochastic: bool = typer.Option(False, "--stochastic", help="sample actions instead of taking the greedy one"),
) -> None:
    """Replay a trained policy (recurrent state chained step to step) and print mean ± std return."""
    from rnnppo.core.runs.evaluation import evaluate as run_eval
    from rnnppo.core.runs.evaluation import load_run_policy

    with user_errors():
        config, policy = load_run_policy(run_dir)
        result = run_eval(policy, config, episodes, seed, deterministic=not stochastic)
    line = (
        f"{config.env}: return {result['eval_return_mean']:.2f} ± {result['eval_return_std']:.2f} "
        f"over {episodes} episodes ({'stochastic' if stochastic else 'greedy'} actions)"
    )
    if result.get("eval_success_mean") is not None:
        line += f", success {result['eval_success_mean']:.2f}"
    console.print(line)
