"""Running a live app on a loopback socket: in a test's background thread, or as a process's main.

Both kinds of app the stack uses run the same way: a FastAPI (ASGI) app under uvicorn, an aiohttp
app under its own AppRunner. The socket is bound here, to 127.0.0.1 and an ephemeral port, *before*
the server starts, so the port is known without a race and nothing ever listens elsewhere.

:func:`serve` is the whole life of a stack process: listen (on the socket the supervisor bound and
handed down, or one of its own), write ``run/<instance>.json`` (so the
supervisor learns the port), register with the registry and heartbeat, become ready; on SIGTERM or
SIGINT (or when the watched parent process is gone) stop being ready, deregister, let the requests in
progress finish (up to ``grace`` seconds) and close. With the mesh on (``settings.serves_mtls``) the
socket speaks mutual TLS and the mesh policy guards the app (:mod:`live.mesh.guard`). :func:`running`
is the test fixture's version: the app in a thread of this process, stopped when the ``with`` block
ends, whatever happens in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from live.common.lifecycle import lifecycle_of
from live.common.logs import configure_logging
from live.common.loop import new_event_loop, run
from live.common.observability import instrument, observability_of
from live.common.registration import Registration
from live.common.settings import HOST, InstanceSettings
from live.common.sockets import bind, bind_loopback, inherited

if TYPE_CHECKING:
    from live.mesh.guard import MeshServer

__all__ = ["GRACE_SECONDS", "running", "serve", "serve_from_env"]

GRACE_SECONDS = 5.0
"""How long a stopping process waits for the requests in progress before it closes anyway."""

log = logging.getLogger("servicelab.live")


class _Listener(Protocol):
    async def start(self, sock: socket.socket) -> None: ...

    async def stop(self) -> None: ...


class _AsgiListener:
    """uvicorn serving an ASGI app; signals are left to :func:`serve` (uvicorn's own handlers are unused)."""

    def __init__(self, app: Any, grace: float, mesh: MeshServer | None) -> None:
        import uvicorn  # only ASGI processes pay for it

        protocol: dict[str, Any] = {}
        if mesh is not None:  # the guard in front, the peer's certificate in each scope (the TLS: start)
            from uvicorn.protocols.http.auto import AutoHTTPProtocol

            from live.mesh.asgi_tls import with_tls_extension
            from live.mesh.guard import AsgiGuard

            app = AsgiGuard(app, mesh)
            protocol = {"http": with_tls_extension(AutoHTTPProtocol)}
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=grace, **protocol
        )
        self.ssl_context = mesh.context if mesh is not None else None
        self.server = uvicorn.Server(config)
        self.sockets: list[socket.socket] = []
        self.ticking: asyncio.Task[None] | None = None

    async def start(self, sock: socket.socket) -> None:
        self.sockets = [sock]
        config = self.server.config
        if not config.loaded:
            config.load()
        if self.ssl_context is not None:
            config.ssl = self.ssl_context  # what uvicorn's startup hands to create_server with our socket
        self.server.lifespan = config.lifespan_class(config)  # what uvicorn's serve() does first
        await self.server.startup(sockets=self.sockets)
        if self.server.should_exit:
            raise RuntimeError("the app failed to start (see the log above)")
        self.ticking = asyncio.create_task(self.server.main_loop())

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.ticking is not None:
            await self.ticking
        await self.server.shutdown(sockets=self.sockets)


class _AiohttpListener:
    def __init__(self, app: web.Application, grace: float, mesh: MeshServer | None) -> None:
        if mesh is not None:
            from live.mesh.guard import aiohttp_guard

            app.middlewares.insert(0, aiohttp_guard(mesh))
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=grace)
        self.ssl_context = mesh.context if mesh is not None else None

    async def start(self, sock: socket.socket) -> None:
        await self.runner.setup()
        await web.SockSite(self.runner, sock, ssl_context=self.ssl_context).start()

    async def stop(self) -> None:
        await self.runner.cleanup()


def _listener(app: Any, grace: float, mesh: MeshServer | None = None) -> _Listener:
    if isinstance(app, web.Application):
        return _AiohttpListener(app, grace, mesh)
    return _AsgiListener(app, grace, mesh)


@contextlib.contextmanager
def running(app: Any, grace: float = 1.0) -> Iterator[str]:
    """Serve ``app`` on a fresh loopback port in a background thread; yields its base URL.

    The app is ready (startup hooks done) when the URL is yielded, and stopped (shutdown hooks done,
    port closed) when the block exits, also on an exception.
    """
    lifecycle = lifecycle_of(app)
    sock = bind_loopback()
    port = sock.getsockname()[1]
    loop = new_event_loop()
    listener = _listener(app, grace)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(listener.start(sock))
        except BaseException as error:  # reported to the caller's thread below
            failure.append(error)
            started.set()
            loop.close()
            return
        lifecycle.ready = True
        started.set()
        loop.run_forever()
        loop.run_until_complete(listener.stop())
        loop.close()

    thread = threading.Thread(target=run, name=f"servicelab-app-{port}", daemon=True)
    thread.start()
    started.wait()
    if failure:
        sock.close()
        raise failure[0]
    try:
        yield f"http://{HOST}:{port}"
    finally:
        lifecycle.drain()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=grace + 10)
        sock.close()


def serve_from_env(build: Callable[[InstanceSettings], Any]) -> None:
    """A service's ``__main__``: its settings from the environment, its app from ``build``, served.

    The app is instrumented here unless ``build`` did it already (to wire something to its metrics).
    """
    settings = InstanceSettings.from_env()
    app = build(settings)
    try:
        observability_of(app)
    except LookupError:
        instrument(app, settings)
    serve(app, settings)


def serve(app: Any, settings: InstanceSettings, grace: float = GRACE_SECONDS) -> None:
    """Run ``app`` as this process's whole life (see the module docstring); returns after a clean stop.

    Draining waits for the requests :func:`~live.common.observability.instrument` counts: serve an
    instrumented app (as :func:`serve_from_env` does).
    """
    run(_serve(app, settings, grace))


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once process ``pid`` is gone (a test runner that died must not leave orphans)."""
    while not stop.is_set():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("parent process %d is gone: stopping", pid)
            stop.set()
            return
        except PermissionError:
            pass  # it exists, owned by someone else
        await asyncio.sleep(0.5)


def _listening_socket(settings: InstanceSettings) -> socket.socket:
    """The supervisor's socket, else the fixed address of container mode, else 127.0.0.1 on a free port."""
    if settings.listen_fd is not None:
        return inherited(settings.listen_fd)
    if settings.listen is not None:
        return bind(*settings.listen)
    return bind_loopback()


async def _serve(app: Any, settings: InstanceSettings, grace: float) -> None:
    configure_logging(settings)
    lifecycle = lifecycle_of(app)
    sock = _listening_socket(settings)
    port = sock.getsockname()[1]
    mesh = None
    if settings.serves_mtls:  # imported only then: cryptography and the policy's parsing are not free
        from live.mesh.guard import mesh_server

        mesh = mesh_server(settings)
    listener = _listener(app, grace, mesh)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await listener.start(sock)
    run_file = settings.run_file
    url = f"{settings.scheme}://{settings.advertise_host}:{port}"
    record = {"service": settings.service, "instance": settings.instance, "pid": os.getpid(), "port": port}
    partial = run_file.with_suffix(".tmp")  # written whole, then renamed: a reader never sees half
    partial.write_text(json.dumps({**record, "url": url}), encoding="utf-8")
    partial.replace(run_file)
    registration = Registration(settings, port)
    watcher = None
    try:
        await registration.start()
        lifecycle.ready = True
        log.info("ready at %s", url)
        if settings.parent_pid is not None:
            watcher = asyncio.create_task(_watch_parent(settings.parent_pid, stop))
        await stop.wait()
    finally:
        log.info("stopping: draining %d request(s) in progress", lifecycle.in_flight)
        lifecycle.drain()
        if watcher is not None:
            watcher.cancel()
        await registration.stop()
        await lifecycle.drained(grace)
        await listener.stop()
        run_file.unlink(missing_ok=True)
        log.info("stopped")
