"""The ``servicelab`` command: one Typer sub-app per area of the project.

Usage mistakes (a bad flag, a missing argument) print the parser's message and exit with code 1,
like every other user error in servicelab, instead of the parser's customary 2.
"""

from __future__ import annotations

import sys

import typer

from live.cli import app as live_app
from simulator.cli import app as sim_app

__all__ = ["USAGE_ERROR", "app", "main", "run_app"]

USAGE_ERROR = 2
"""The exit code Typer uses for usage errors; servicelab reports them with 1."""

app = typer.Typer(help="servicelab: run microservice patterns, in simulation and live.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")
app.add_typer(live_app, name="live")


def run_app(typer_app: typer.Typer) -> None:
    """Run ``typer_app`` on ``sys.argv``, turning usage errors into exit code 1."""
    try:
        typer_app()
    except SystemExit as stop:
        if stop.code == USAGE_ERROR:
            sys.exit(1)
        raise


def main() -> None:
    run_app(app)
