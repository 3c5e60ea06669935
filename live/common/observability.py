"""What every live app exposes and records, added in one call: :func:`instrument`.

``instrument(app, settings)`` gives a FastAPI or aiohttp app

- ``GET /health`` (liveness: the process answers), ``GET /ready`` (readiness: 200 while it wants
  traffic, 503 before registration and while draining) and ``GET /metrics`` (Prometheus text);
- a middleware that, for every other request, continues the caller's trace (W3C ``traceparent``)
  in a SERVER span named after the route template, counts it in the RED metrics, tracks it as in
  flight for graceful shutdown, and writes one JSON log line with its trace id;
- for FastAPI apps, the common JSON error shape.

:meth:`Observability.client_session` is the aiohttp client every outgoing call uses: each request
gets a CLIENT span (a child of the current server span) and carries its ``traceparent``, so a
request's spans across gateway, orders and inventory form one tree; under mTLS its connections present
the process's mesh certificate (:meth:`Observability.connector`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from starlette.requests import Request  # FastAPI's own types, without importing FastAPI (its routes
from starlette.responses import JSONResponse, Response  # resolve annotations in this module's names)

from live.common.lifecycle import Lifecycle, lifecycle_of
from live.common.metrics import CONTENT_TYPE, Metrics
from live.common.settings import InstanceSettings
from live.common.tracing import extract as extract_context
from live.common.tracing import inject, make_tracer
from live.mesh.tls import client_ssl

__all__ = ["PROBES", "Observability", "instrument", "observability_of"]

PROBES = frozenset({"/health", "/ready", "/metrics"})
"""Paths answered without a span or a log line (probes and scrapes come every second)."""

log = logging.getLogger("servicelab.live.requests")
_OBSERVABILITY = web.AppKey("servicelab.observability", object)


@dataclass
class Observability:
    """The metrics, tracer and lifecycle of one app."""

    settings: InstanceSettings
    metrics: Metrics
    provider: TracerProvider
    tracer: Tracer
    lifecycle: Lifecycle

    def connector(self, **kwargs: Any) -> aiohttp.TCPConnector:
        """A connector for outgoing calls: TLS with this process's mesh certificate when mTLS is on."""
        return aiohttp.TCPConnector(ssl=client_ssl(self.settings), **kwargs)

    def client_session(self, **kwargs: Any) -> aiohttp.ClientSession:
        """An aiohttp client whose requests are traced (CLIENT spans) and carry ``traceparent``.

        Without a ``connector`` argument it gets :meth:`connector` (mesh-aware).
        """
        if "connector" not in kwargs:
            kwargs["connector"] = self.connector()
        return aiohttp.ClientSession(middlewares=(self._traced,), **kwargs)

    async def _traced(
        self, request: aiohttp.ClientRequest, send: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """A client middleware: one CLIENT span per request sent, ended when the answer's head arrives."""
        url = request.url
        span = self.tracer.start_span(
            f"{request.method} {url.path}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "server.address": url.host or "",
                "server.port": url.port or 0,
                "url.path": url.path,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            inject(request.headers)  # type: ignore[arg-type]
        finally:
            otel_context.detach(token)
        try:
            response = await send(request)
        except BaseException as error:  # a timeout cancels the call: its span still ends
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()
            raise
        status = response.status
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        span.end()
        return response

    def begin(self, method: str, path: str, headers: Mapping[str, str]) -> _Exchange:
        """Start observing one incoming request."""
        return _Exchange(self, method, path, headers)


class _Exchange:
    """One request as the middleware sees it: its span, clock, in-flight count and log line."""

    def __init__(self, observed: Observability, method: str, path: str, headers: Mapping[str, str]) -> None:
        self.observed = observed
        self.method = method
        self.path = path
        self.started = time.perf_counter()
        self.span = observed.tracer.start_span(
            f"{method} {path}", context=extract_context(headers), kind=SpanKind.SERVER
        )
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        observed.lifecycle.started()
        observed.metrics.in_flight.inc()

    def finish(self, route: str, status: int) -> None:
        observed = self.observed
        seconds = time.perf_counter() - self.started
        span = self.span
        span.update_name(f"{self.method} {route}")
        span.set_attributes(
            {
                "http.request.method": self.method,
                "http.route": route,
                "url.path": self.path,
                "http.response.status_code": status,
            }
        )
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        fields = {
            "method": self.method,
            "path": self.path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        log.info("%s %s %d", self.method, self.path, status, extra={"fields": fields})
        span.end()
        otel_context.detach(self.token)
        observed.metrics.observe(self.method, route, status, seconds)
        observed.metrics.in_flight.dec()
        observed.lifecycle.finished()


def observability_of(app: Any) -> Observability:
    """The Observability :func:`instrument` attached to ``app``."""
    found = (
        app.get(_OBSERVABILITY)
        if isinstance(app, web.Application)
        else getattr(app.state, "observability", None)
    )
    if found is None:
        raise LookupError("the app is not instrumented: call live.common.observability.instrument first")
    return found  # type: ignore[return-value]


def instrument(app: Any, settings: InstanceSettings) -> Observability:
    """Add probes, metrics, tracing and request logs to a FastAPI or aiohttp ``app`` (see the module)."""
    is_aiohttp = isinstance(app, web.Application)
    if not is_aiohttp:
        from fastapi import FastAPI  # only FastAPI processes pay for importing it

        if not isinstance(app, FastAPI):
            raise TypeError(f"instrument() takes a FastAPI or aiohttp app, got {type(app).__name__}")
    provider, tracer = make_tracer(settings)
    observed = Observability(
        settings, Metrics(settings.service, settings.instance), provider, tracer, lifecycle_of(app)
    )
    if is_aiohttp:
        _instrument_aiohttp(app, observed)
    else:
        _instrument_fastapi(app, observed)
    return observed


def _ready_body(lifecycle: Lifecycle) -> tuple[dict[str, object], int]:
    if lifecycle.ready:
        return {"status": "ready"}, 200
    return {"status": "draining" if lifecycle.draining else "starting"}, 503


def _instrument_fastapi(app: Any, observed: Observability) -> None:
    from live.common.errors import install_json_errors

    app.state.observability = observed
    install_json_errors(app)

    @app.get("/health", tags=["probes"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(
        "/ready",
        tags=["probes"],
        summary="Readiness: 200 while the instance takes traffic",
        response_model=None,
        responses={503: {"description": "starting or draining"}},
    )
    async def ready() -> JSONResponse:
        body, status = _ready_body(observed.lifecycle)
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", tags=["probes"], summary="Prometheus metrics", response_model=None)
    async def metrics() -> Response:
        return Response(observed.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        if request.url.path in PROBES:
            return await call_next(request)
        exchange = observed.begin(request.method, request.url.path, request.headers)
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            exchange.finish(getattr(route, "path", "unmatched"), status)

    app.router.on_shutdown.append(observed.provider.shutdown)


def _instrument_aiohttp(app: web.Application, observed: Observability) -> None:
    app[_OBSERVABILITY] = observed

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(request: web.Request) -> web.Response:
        body, status = _ready_body(observed.lifecycle)
        return web.json_response(body, status=status)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=observed.metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)

    @web.middleware
    async def observe(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in PROBES:
            return await handler(request)
        exchange = observed.begin(request.method, request.path, request.headers)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as refusal:
            status = refusal.status
            raise
        finally:
            resource = request.match_info.route.resource
            exchange.finish(resource.canonical if resource is not None else "unmatched", status)

    app.middlewares.insert(0, observe)

    async def stop_tracing(app: web.Application) -> None:
        observed.provider.shutdown()

    app.on_cleanup.append(stop_tracing)
