"""The `rnnppo` command: one thin Typer command per user verb."""

from __future__ import annotations

import typer
from rich.markup import escape

import rnnppo
from rnnppo.cli import (
    export_cmd,
    inspect_cmd,
    memory_cmd,
    nightly_cmd,
    report_cmd,
    settings_cmd,
    suites_cmd,
    sweep_cmd,
    train_cmd,
)

app = typer.Typer(
    name="rnnppo",
    help="Recurrent PPO experiments: train, sweep max_seq_len / lstm_cell_size / encoder size, report.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rnnppo {rnnppo.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Recurrent PPO experiments: train, sweep max_seq_len / lstm_cell_size / encoder size, report."""


app.command("train")(train_cmd.train)
app.command("eval")(train_cmd.evaluate)
app.command("inspect")(inspect_cmd.inspect)
app.command("memory")(memory_cmd.memory)
app.command("envs")(inspect_cmd.envs)
app.command("presets")(inspect_cmd.presets)
app.command("suites")(suites_cmd.suites)
app.command("sweep")(sweep_cmd.sweep)
app.command("report")(report_cmd.report)
app.command("best")(report_cmd.best)
app.command("nightly")(nightly_cmd.nightly)
app.command("settings")(settings_cmd.settings)
app.command("export")(export_cmd.export)


def main() -> None:
    """The console script: Typer's own handling, except that a usage error (an unknown option, a value
    of the wrong type) is one line, like every other bad input, instead of a boxed panel."""
    import sys

    from rnnppo.cli.common import err_console

    try:
        code = app(standalone_mode=False, prog_name="rnnppo")
    except Exception as err:  # click's UsageError family (Typer vendors click; matched by what it has)
        if not (hasattr(err, "format_message") and hasattr(err, "exit_code")):
            raise
        if type(err).__name__ == "NoArgsIsHelpError":  # no arguments: the help is already printed
            sys.exit(err.exit_code)
        ctx = getattr(err, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err_console.print(f"[bold red]error:[/] {escape(err.format_message())}{escape(where)}", soft_wrap=True)
        sys.exit(err.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
