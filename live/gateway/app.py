"""The API gateway as an aiohttp application: every request under ``/api`` on one path of checks.

In order, each step answering by itself when it refuses (JSON errors, see :mod:`live.gateway.errors`):

0. maintenance: while the config service's ``gateway.maintenance`` is set, every request gets 503
   with its message (:mod:`live.gateway.live_config`);
1. body size: a declared ``Content-Length`` above ``max_body_bytes`` is 413 before anything else
   (an undeclared, chunked body is counted while it is read, after authentication);
2. route: the longest matching prefix after ``/api`` (404 with the known routes, 400 for dot segments);
3. auth: a bearer token verified against the users service's JWKS, and the rule's scopes (401/403);
4. rate limit: a token bucket per client, the token's subject or else the peer address (429 with
   ``Retry-After``);
5. cache: GET answers of routes with a cache (``X-Cache``: ``hit``, ``coalesced``, ``miss`` or
   ``bypass``; concurrent misses for one key make one call to the service); a write
   that succeeds on a route empties its cache, since its readers may have been shown what it changed;
6. bulkhead: the route's concurrency limit and its queue (503 when full);
7. circuit breaker: the route's breaker (503 while open);
8. forward: to an instance the balancing policy picks, with timeout, retries, backoff and budget
   (:mod:`live.gateway.forwarding`); 502 when the service cannot be reached or answers 5xx, 503
   when it says it is unavailable, 504 when it does not answer in time.

``app[GATEWAY]`` is the :class:`~live.gateway.state.GatewayState` (breakers, bulkheads, caches,
limiter) for metrics to read.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from live.auth.verify import Claims
from live.common.discovery import Instances
from live.common.instances import Discover
from live.common.observability import observability_of
from live.gateway.auth import JwksSource, TokenVerifier, authenticate
from live.gateway.caching import CachedAnswer, Lookup
from live.gateway.config import GatewayConfig, JwksConfig
from live.gateway.errors import GatewayError, error_response
from live.gateway.forwarding import Call, Forwarder, Reply, client_headers, public_location
from live.gateway.routing import NoRoute, Router, UnsafePath
from live.gateway.state import GatewayState, RouteState
from patterns.clock import Clock

__all__ = ["GATEWAY", "create_app"]

GATEWAY = web.AppKey("gateway", GatewayState)
"""Where the app keeps its :class:`GatewayState`: ``app[GATEWAY].routes["orders"].breaker``."""

log = logging.getLogger("servicelab.gateway")

_CHUNK = 64 * 1024
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_app(
    config: GatewayConfig,
    discover: Discover,
    *,
    verifier_source: TokenVerifier | None = None,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> web.Application:
    """The gateway for ``config``, finding instances with ``discover``.

    ``verifier_source`` checks bearer tokens; by default a :class:`JwksSource` over the JWKS document
    of an instance of ``config.jwks.service`` (users). ``clock`` is the time every pattern reads (rate
    limits, cache expiry, breaker windows, budgets, the discovery refresh); ``rng`` drives jitter and
    the random balancing policies.
    """
    state = GatewayState.build(config, clock, rng)
    instances = Instances(discover, config.discovery.refresh_interval, clock)
    gateway = _Gateway(config, state, instances, verifier_source)
    app = web.Application(middlewares=[_json_errors])
    app[GATEWAY] = state
    app.cleanup_ctx.append(gateway.client_session)
    for prefix in sorted(gateway.router.prefixes, key=len, reverse=True):  # one resource per route, so
        app.router.add_route("*", prefix, gateway.handle)  # request metrics are labelled by route
        app.router.add_route("*", prefix + "/{tail:.*}", gateway.handle)
    app.router.add_route("*", config.strip_prefix + "/{tail:.*}", gateway.handle)  # the JSON 404s
    return app


class _Gateway:
    """The request path (see the module docstring); its HTTP client exists while the app runs."""

    def __init__(
        self, config: GatewayConfig, state: GatewayState, instances: Instances, verifier: TokenVerifier | None
    ) -> None:
        self.config = config
        self.state = state
        self.router = Router(config)
        self.instances = instances
        self.verifier = verifier
        self.forwarder: Forwarder | None = None

    async def client_session(self, app: web.Application) -> AsyncIterator[None]:
        """Open the HTTP client to the services (no cookie jar: nothing of one client leaks to another)."""
        make_session: Callable[..., aiohttp.ClientSession]
        try:  # instrumented (live.common.observability): CLIENT spans, traceparent, the mesh certificate
            observed = observability_of(app)
            make_session, connector = observed.client_session, observed.connector(limit=0)
        except LookupError:
            make_session, connector = aiohttp.ClientSession, aiohttp.TCPConnector(limit=0)
        session = make_session(
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            connector=connector,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
        self.forwarder = Forwarder(session, self.instances, self.state.clock)
        if self.verifier is None:
            self.verifier = JwksSource(
                _jwks_fetcher(session, self.instances, self.config.jwks),
                refetch_interval=self.config.jwks.refetch_interval,
                clock=self.state.clock,
            )
        try:
            yield
        finally:
            await session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One request under the prefix, through the steps of the module docstring in their order."""
        if self.state.maintenance is not None:
            raise GatewayError(503, self.state.maintenance, headers={"Retry-After": "30"}, maintenance=True)
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        try:
            match = self.router.match(request.method, request.path)
        except NoRoute:
            raise GatewayError(
                404, f"no route for {request.path}", routes=[p + "/..." for p in self.router.prefixes]
            ) from None
        except UnsafePath:
            raise GatewayError(400, "paths with '.' or '..' segments are not accepted") from None
        assert self.verifier is not None  # both set while the app runs
        assert self.forwarder is not None
        claims = await authenticate(match.access, request.headers.get("Authorization"), self.verifier)
        client = f"user:{claims.subject}" if claims is not None else f"ip:{request.remote}"
        self._admit(client)
        route = self.state.routes[match.name]
        body = await _read_body(request, limit)
        raw = request.rel_url.raw_path[len(self.config.strip_prefix) :]
        query = request.rel_url.raw_query_string
        call = Call(
            method=request.method,
            path_qs=raw + (f"?{query}" if query else ""),
            headers=client_headers(request.headers, claims, request.remote),
            body=body,
            client=client,
        )
        if route.cache is None:
            return (await self._fetch(route, request, call, None, claims))[0]
        lookup = await route.cache.look_up(
            request.method, match.path, request.query_string, request.headers, claims
        )
        if lookup is not None and lookup.answer is not None:
            return _cached_response(lookup)
        kept = None
        try:
            response, kept = await self._fetch(route, request, call, lookup, claims)
            return response
        finally:  # also on an error or a cancelled request: the misses waiting for this one go on
            if lookup is not None:
                route.cache.release(lookup, kept)

    async def _fetch(
        self,
        route: RouteState,
        request: web.Request,
        call: Call,
        lookup: Lookup | None,
        claims: Claims | None,
    ) -> tuple[web.Response, CachedAnswer | None]:
        """The service's answer to ``call`` and what the cache kept of it; a GatewayError on failure."""
        reply = await self._guarded(route, call)
        if reply.outcome != "ok":
            raise _failure(route.config.service, reply)
        return self._answer(route, request, reply, lookup, claims)

    def _admit(self, client: str) -> None:
        limiter = self.state.limiter
        if limiter is None or limiter.try_acquire(client):
            return
        wait = limiter.retry_after(client)
        raise GatewayError(
            429,
            f"too many requests from {client}: slow down and retry after {wait:.3g} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
            retry_after=wait,
        )

    async def _guarded(self, route: RouteState, call: Call) -> Reply:
        """Forward ``call`` within the route's bulkhead and circuit breaker."""
        service = route.config.service
        bulkhead = route.bulkhead
        if bulkhead is not None and not await bulkhead.acquire():
            b = bulkhead.bulkhead
            raise GatewayError(
                503,
                f"the {route.name} route is at its concurrency limit ({b.max_concurrent} in flight, "
                f"{b.max_waiting} waiting): retry shortly",
                headers={"Retry-After": "1"},
                service=service,
            )
        try:
            breaker = route.breaker
            if breaker is not None and not breaker.try_acquire():
                raise GatewayError(
                    503,
                    f"the {service} service is failing: its circuit breaker is open, so the gateway "
                    "fails fast instead of calling it",
                    headers={"Retry-After": str(math.ceil(breaker.config.wait_in_open))},
                    service=service,
                    breaker=breaker.state.value,
                )
            clock = self.state.clock
            start, failed = clock(), True
            try:
                reply = await self.forwarder.forward(route, call)  # type: ignore[union-attr]
                failed = reply.outcome != "ok"
            finally:
                if breaker is not None:
                    (breaker.on_error if failed else breaker.on_success)(max(0.0, clock() - start))
            return reply
        finally:
            if bulkhead is not None:
                bulkhead.release()

    def _answer(
        self,
        route: RouteState,
        request: web.Request,
        reply: Reply,
        lookup: Lookup | None,
        claims: Claims | None,
    ) -> web.Response:
        """The service's answer (below 500) for the client; kept in the route's cache when it may be."""
        headers = reply.headers
        assert headers is not None  # the service answered
        if "Location" in headers:
            public_prefix = f"{request.url.origin()}{self.config.strip_prefix}"
            headers["Location"] = public_location(headers["Location"], reply.instance, public_prefix)
        response = web.Response(status=reply.status, headers=headers, body=reply.body)
        cache, kept = route.cache, None
        if cache is None:
            return response, kept
        if request.method not in _READS and reply.status < 400:
            cache.clear()  # a write went through: what the route's readers were shown may be stale
        if lookup is not None:
            response.headers["X-Cache"] = lookup.outcome
            answer = CachedAnswer(reply.status, tuple(headers.items()), reply.body)
            kept = cache.keep(lookup, answer, headers, anonymous=claims is None)
        return response, kept


def _failure(service: str, reply: Reply) -> GatewayError:
    """The gateway's answer when the last try failed: 504 timeout, 502 unreachable or 5xx, 503 unavailable."""
    facts: dict[str, Any] = {"service": service, "attempts": reply.attempts}
    if reply.stopped:
        facts["retries_stopped"] = reply.stopped
    if reply.outcome == "timeout":
        return GatewayError(504, f"the {service} service did not answer in time: {reply.detail}", **facts)
    if reply.outcome == "error":
        return GatewayError(502, f"could not reach the {service} service: {reply.detail}", **facts)
    unavailable = reply.status == 503
    retry_after = reply.headers.get("Retry-After") if reply.headers is not None else None
    return GatewayError(
        503 if unavailable else 502,
        f"the {service} service answered {reply.status}",
        headers={"Retry-After": retry_after} if unavailable and retry_after else None,
        upstream_status=reply.status,
        **facts,
    )


def _cached_response(lookup: Lookup) -> web.Response:
    answer = lookup.answer
    assert answer is not None  # a hit or a coalesced miss
    response = web.Response(status=answer.status, headers=CIMultiDict(answer.headers), body=answer.body)
    response.headers["X-Cache"] = lookup.outcome
    return response


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        413, f"the request body is larger than the gateway accepts ({limit} bytes)", limit=limit
    )


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` bytes."""
    if not request.body_exists:
        return b""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _jwks_fetcher(
    session: aiohttp.ClientSession, instances: Instances, config: JwksConfig
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """Fetch the JWKS document from an instance of ``config.service``."""

    async def fetch() -> dict[str, Any]:
        found = await instances.of(config.service)
        if not found:
            raise ValueError(f"no instance of the {config.service} service is available")
        url = found[0].url + config.path
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=config.timeout)) as response:
            if response.status != 200:
                raise ValueError(f"{url} answered {response.status}")
            document = await response.json(content_type=None)
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return document

    return fetch


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every refusal as a JSON error; aiohttp's own (unknown path, bad request) too; never a traceback."""
    try:
        return await handler(request)
    except GatewayError as error:
        return error.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        message = f"no route for {request.path}" if error.status == 404 else error.reason
        return error_response(error.status, message)
    except Exception:
        log.exception("the gateway failed on %s %s", request.method, request.path)
        return error_response(500, "the gateway failed on this request (its log has the details)")
