"""``servicelab chaos``: chaos tooling. ``proxy`` runs the embedded Toxiproxy server, ``run`` an experiment.

``servicelab chaos proxy --port 8474`` serves Toxiproxy's HTTP API on 127.0.0.1 until Ctrl-C (or
SIGTERM); any Toxiproxy client can drive it. ``--config`` populates proxies from a JSON list first,
like ``toxiproxy-server -config``.

``servicelab chaos run EXPERIMENT`` runs a Chaos Toolkit experiment (:mod:`chaos.run`) against the
live stack -- starting it with ``--chaos`` if none runs, and stopping it again afterwards -- and writes
the journal (``journal.json``), the requests its load sent (``requests.csv``), the log
(``chaostoolkit.log``) and the report (``report.md``, ``report.html``, :mod:`chaos.report`). Exit code
1 when the hypothesis was violated or an activity failed, with one line saying which; a broken
experiment file is one line naming the file and the problem.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from chaos.toxiproxy import API_VERSION, DEFAULT_PORT, ToxiproxyServer

__all__ = ["app"]

app = typer.Typer(
    help="Chaos engineering: the embedded Toxiproxy server, Chaos Toolkit experiments.", no_args_is_help=True
)
errors = Console(stderr=True)


async def _serve(port: int, config: Path | None) -> None:
    server = ToxiproxyServer()
    try:
        await server.start(port, config)
    except (OSError, ValueError) as error:
        await server.close()
        raise RuntimeError(str(error)) from None
    print(f"Toxiproxy API {API_VERSION} (servicelab embedded) on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


@app.command()
def proxy(
    port: Annotated[int, typer.Option(help="API port on 127.0.0.1 (0: a free port).", min=0, max=65535)] = (
        DEFAULT_PORT
    ),
    config: Annotated[
        Path | None, typer.Option(help="JSON list of proxies to create at start (Toxiproxy's -config).")
    ] = None,
) -> None:
    """Serve Toxiproxy's HTTP API on 127.0.0.1:PORT until Ctrl-C."""
    try:
        asyncio.run(_serve(port, config))
    except RuntimeError as error:
        errors.print(f"servicelab chaos proxy: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)


def _log_to(folder: Path) -> None:
    """chaostoolkit-lib's progress on stderr, and all of it in ``folder/chaostoolkit.log``."""
    logger = logging.getLogger("chaostoolkit")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    shown = logging.StreamHandler(sys.stderr)
    shown.setLevel(logging.INFO)
    shown.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s] %(message)s", "%H:%M:%S"))
    kept = logging.FileHandler(folder / "chaostoolkit.log", encoding="utf-8")
    kept.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s] [%(module)s:%(lineno)d] %(message)s"))
    logger.handlers = [shown, kept]


@app.command()
def run(
    experiment: Annotated[Path, typer.Argument(help="A Chaos Toolkit experiment (YAML or JSON).")],
    state_dir: Annotated[
        Path,
        typer.Option("--state-dir", envvar="SERVICELAB_STATE_DIR", help="The live stack's state folder."),
    ] = Path(".servicelab/live"),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the journal and the report [default: out/NAME]."),
    ] = None,
    env: Annotated[str, typer.Option(help="Configuration environment of a stack started here.")] = "dev",
    toxiproxy_url: Annotated[
        str | None, typer.Option(help="A running toxiproxy-server's API; default: the embedded one.")
    ] = None,
) -> None:
    """Run EXPERIMENT against the live stack (started with --chaos if none runs); journal and report."""
    from chaos.extension.timeline import read_timeline
    from chaos.report import write_report
    from chaos.run import ExperimentFileError, load_experiment_file, run_experiment_file
    from live.config.environments import ENVIRONMENTS
    from live.supervisor import StackError

    if env not in ENVIRONMENTS:
        _fail(f"--env: unknown environment {env!r}; known: {', '.join(ENVIRONMENTS)}")
    folder = out or Path("out") / experiment.stem
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _log_to(folder)
        load_experiment_file(experiment)
        journal, verdict = run_experiment_file(experiment, state_dir, env=env, toxiproxy_url=toxiproxy_url)
    except (ExperimentFileError, StackError, OSError) as error:
        _fail(str(error))
    (folder / "journal.json").write_text(json.dumps(journal, indent=2, default=str), encoding="utf-8")
    timeline = read_timeline(state_dir.resolve())
    timeline.to_csv(folder / "requests.csv", index=False)
    write_report(journal, timeline, verdict, folder)
    print(f"journal: {folder / 'journal.json'}   report: {folder / 'report.html'}")
    if not verdict.passed:
        _fail(f"FAILED: {verdict.message}")
    print(f"PASSED: {verdict.message}")


def _fail(message: str) -> NoReturn:
    errors.print(f"servicelab chaos run: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)
