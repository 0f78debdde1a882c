"""The `rnnppo` command: one thin Typer command per user verb."""

from __future__ import annotations

import typer

from rnnppo.cli import nightly_cmd, report_cmd, run_cmds, sweep_cmd

app = typer.Typer(
    name="rnnppo",
    help="Recurrent PPO experiments: train, sweep max_seq_len / lstm_cell_size / encoder size, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("train")(run_cmds.train)
app.command("eval")(run_cmds.evaluate)
app.command("inspect")(run_cmds.inspect)
app.command("envs")(run_cmds.envs)
app.command("sweep")(sweep_cmd.sweep)
app.command("report")(report_cmd.report)
app.command("best")(report_cmd.best)
app.command("nightly")(nightly_cmd.nightly)


def main() -> None:
    app()
