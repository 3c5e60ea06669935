"""``servicelab chaos``: chaos tooling. ``proxy`` runs the embedded Toxiproxy server.

``servicelab chaos proxy --port 8474`` serves Toxiproxy's HTTP API on 127.0.0.1 until Ctrl-C (or
SIGTERM); any Toxiproxy client can drive it. ``--config`` populates proxies from a JSON list first,
like ``toxiproxy-server -config``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaos.toxiproxy import API_VERSION, DEFAULT_PORT, ToxiproxyServer

__all__ = ["app"]

app = typer.Typer(help="Chaos engineering: the embedded Toxiproxy server.", no_args_is_help=True)
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
