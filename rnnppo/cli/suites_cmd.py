"""`rnnppo suites`: list the shipped suites (sets of tasks a sweep runs with --suite NAME)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from rnnppo.cli.common import console, user_errors


def suites() -> None:
    """List the shipped suites and their tasks: env, arguments, budget, memory demand and reference score."""
    from rnnppo.core.config import format_value
    from rnnppo.core.suites import all_suites

    with user_errors():
        found = all_suites()
    for suite in found:
        table = Table(
            title=f"suite {suite.name} (rnnppo sweep SPACE --suite {suite.name}): {suite.description}",
            title_justify="left",
        )
        table.add_column("task", style="bold", no_wrap=True)
        table.add_column("env (arguments)")
        table.add_column("budget", justify="right")
        table.add_column("memory", justify="right")
        table.add_column("0 = random policy, 1 = reference")
        for task in suite.tasks:
            kwargs = ", ".join(f"{k}={format_value(v)}" for k, v in task.env_kwargs.items())
            env = task.env + (f" ({kwargs})" if kwargs else "")
            if not task.available:
                env += f" [not installed: {task.requires}; left out]"
            memory = "-" if task.memory is None else f"{task.memory} step{'' if task.memory == 1 else 's'}"
            random = "measured" if task.random is None else format_value(task.random)
            table.add_row(
                escape(task.name),
                escape(env),
                f"{task.budget:,}",
                memory,
                escape(f"random: {random}; reference {task.reference:g}: {task.reference_note}"),
            )
        console.print(table)
