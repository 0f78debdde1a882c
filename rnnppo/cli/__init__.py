"""The Typer command-line interface: one thin command per user verb."""
