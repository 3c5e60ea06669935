"""The ``servicelab`` command: one Typer sub-app per area of the project.

Usage mistakes (a bad flag, a missing argument) print the parser's message and exit with code 1,
like every other user error in servicelab, instead of the parser's customary 2.

Each area's app is imported only when needed: ``servicelab live up`` does not pay for importing the
simulator (pandas, SciPy), and ``servicelab sim run`` not for the web stack. ``servicelab --help``
imports them all to list them.
"""

from __future__ import annotations

import importlib
import sys

import typer

__all__ = ["AREAS", "USAGE_ERROR", "build_app", "main", "run_app"]

USAGE_ERROR = 2
"""The exit code Typer uses for usage errors; servicelab reports them with 1."""

AREAS = {"sim": "simulator.cli", "live": "live.cli", "chaos": "chaos.cli", "contracts": "contracts.cli"}
"""Sub-command -> the module whose ``app`` it is."""


def build_app(areas: list[str] | None = None) -> typer.Typer:
    """The ``servicelab`` app with the given areas (default: all of them)."""
    app = typer.Typer(
        help="servicelab: run microservice patterns, in simulation and live.", no_args_is_help=True
    )
    for name in areas or list(AREAS):
        app.add_typer(importlib.import_module(AREAS[name]).app, name=name)
    return app


def run_app(typer_app: typer.Typer) -> None:
    """Run ``typer_app`` on ``sys.argv``, turning usage errors into exit code 1."""
    try:
        typer_app()
    except SystemExit as stop:
        if stop.code == USAGE_ERROR:
            sys.exit(1)
        raise


def main() -> None:
    wanted = sys.argv[1] if len(sys.argv) > 1 else None
    run_app(build_app([wanted] if wanted in AREAS else None))
