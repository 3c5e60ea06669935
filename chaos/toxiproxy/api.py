"""The HTTP API of Toxiproxy 2.x on aiohttp: same routes, status codes, bodies and headers.

Answers, as ``toxiproxy-server`` gives them:

- success: compact JSON, ``Content-Type: application/json``; 201 for a created proxy (and a populate
  that went through), 200 for everything else that has a body (a created toxic too), 204 with no body
  for deletes and reset;
- failure: ``{"error": ..., "status": ...}`` plus a newline, sent as ``text/plain; charset=utf-8``
  (Toxiproxy writes it with Go's ``http.Error``); a failed populate instead answers JSON with the
  error fields and the ``proxies`` created before it stopped;
- 403 ``User agent not allowed`` for browsers (a User-Agent starting ``Mozilla/``), so a web page cannot
  drive the proxies of a developer's machine;
- an ``X-Toxiproxy-Request-Id`` header on every response (Toxiproxy sets it on routed requests only);
- 404 ``404 page not found`` for an unknown path and an empty 405 for a known path with another method.

``POST`` on a proxy or a toxic updates it, like ``PATCH`` (Toxiproxy keeps POST, deprecated).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

from aiohttp import web

from chaos.toxiproxy.collection import ProxyCollection
from chaos.toxiproxy.decoding import parse_body
from chaos.toxiproxy.errors import ApiError

__all__ = ["API_VERSION", "REQUEST_ID_HEADER", "build_app", "request_id"]

API_VERSION = "2.12.0"
"""The Toxiproxy release whose API this server reproduces (what ``GET /version`` says)."""
REQUEST_ID_HEADER = "X-Toxiproxy-Request-Id"
COLLECTION: web.AppKey[ProxyCollection] = web.AppKey("collection", ProxyCollection)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)

_B32 = "0123456789abcdefghijklmnopqrstuv"
_MACHINE = secrets.token_bytes(3)
_COUNTER = count(int.from_bytes(secrets.token_bytes(3), "big"))


def request_id() -> str:
    """A 20-character id shaped like the xid Toxiproxy uses: time, machine, pid, counter (base32hex)."""
    raw = (
        int(time.time()).to_bytes(4, "big")
        + _MACHINE
        + (os.getpid() & 0xFFFF).to_bytes(2, "big")
        + (next(_COUNTER) & 0xFFFFFF).to_bytes(3, "big")
    )
    number = int.from_bytes(raw, "big") << 4  # 96 bits -> 100 bits = 20 digits of 5 bits
    return "".join(_B32[(number >> shift) & 31] for shift in range(95, -5, -5))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, separators=(",", ":")), status=status, content_type="application/json"
    )


def _plain(text: str, status: int) -> web.Response:
    return web.Response(
        body=text + "\n",
        status=status,
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


def _error(error: ApiError) -> web.Response:
    return _plain(json.dumps(error.as_json(), separators=(",", ":")), error.status)


@web.middleware
async def _toxiproxy_conventions(request: web.Request, handler: Handler) -> web.StreamResponse:
    unrouted = request.match_info.http_exception
    if unrouted is not None:
        response: web.StreamResponse = (
            _plain("404 page not found", 404)
            if unrouted.status == 404
            else web.Response(status=unrouted.status)
        )
    elif request.headers.get("User-Agent", "").startswith("Mozilla/"):
        response = _plain("User agent not allowed", 403)
    else:
        try:
            response = await handler(request)
        except ApiError as error:
            response = _error(error)
        except web.HTTPException as error:  # aiohttp's own refusals (a body over its size limit)
            response = _plain(error.text or error.reason, error.status)
        except Exception as error:  # as Toxiproxy: an unexpected error is a 500 that names it
            log.exception("toxiproxy API: %s %s failed", request.method, request.path)
            response = _error(ApiError(str(error) or type(error).__name__, 500))
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


async def _body(request: web.Request) -> Any:
    return parse_body(await request.read())


def _proxies(request: web.Request) -> ProxyCollection:
    return request.app[COLLECTION]


async def proxy_index(request: web.Request) -> web.Response:
    return _json(_proxies(request).as_json())


async def proxy_create(request: web.Request) -> web.Response:
    proxy = await _proxies(request).create(await _body(request))
    return _json(proxy.as_json(), 201)


async def populate(request: web.Request) -> web.Response:
    try:
        done, error = await _proxies(request).populate(await _body(request))
    except ApiError as refused:
        done, error = [], refused
    answer: dict[str, Any] = error.as_json() if error is not None else {}
    answer["proxies"] = [proxy.as_json() for proxy in done] or None  # Go marshals an empty slice as null
    return _json(answer, error.status if error is not None else 201)


async def proxy_show(request: web.Request) -> web.Response:
    return _json(_proxies(request).get(request.match_info["proxy"]).as_json())


async def proxy_update(request: web.Request) -> web.Response:
    proxy = _proxies(request).get(request.match_info["proxy"])
    await _proxies(request).update(proxy.name, await _body(request))
    return _json(proxy.as_json())


async def proxy_delete(request: web.Request) -> web.Response:
    _proxies(request).delete(request.match_info["proxy"])
    return web.Response(status=204)


async def toxic_index(request: web.Request) -> web.Response:
    proxy = _proxies(request).get(request.match_info["proxy"])
    return _json([spec.as_json() for spec in proxy.toxics.listed()])


async def toxic_create(request: web.Request) -> web.Response:
    proxy = _proxies(request).get(request.match_info["proxy"])
    spec = await proxy.toxics.add(await _body(request))
    return _json(spec.as_json())


async def toxic_show(request: web.Request) -> web.Response:
    proxy = _proxies(request).get(request.match_info["proxy"])
    return _json(proxy.toxics.find(request.match_info["toxic"]).as_json())


async def toxic_update(request: web.Request) -> web.Response:
    proxy = _proxies(request).get(request.match_info["proxy"])
    spec = await proxy.toxics.update(request.match_info["toxic"], await _body(request))
    return _json(spec.as_json())


async def toxic_delete(request: web.Request) -> web.Response:
    proxy = _proxies(request).get(request.match_info["proxy"])
    await proxy.toxics.remove(request.match_info["toxic"])
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    await _proxies(request).reset()
    return web.Response(status=204)


async def version(request: web.Request) -> web.Response:
    return web.Response(
        body=f'{{"version": "{API_VERSION}"}}\n', headers={"Content-Type": "application/json;charset=utf-8"}
    )


def build_app(collection: ProxyCollection) -> web.Application:
    """The API over ``collection`` (the proxies live on the same event loop as the app)."""
    app = web.Application(middlewares=[_toxiproxy_conventions])
    app[COLLECTION] = collection
    app.router.add_post("/reset", reset)
    app.router.add_get("/proxies", proxy_index, allow_head=False)
    app.router.add_post("/proxies", proxy_create)
    app.router.add_post("/populate", populate)
    app.router.add_get("/proxies/{proxy}", proxy_show, allow_head=False)
    for method in ("POST", "PATCH"):
        app.router.add_route(method, "/proxies/{proxy}", proxy_update)
        app.router.add_route(method, "/proxies/{proxy}/toxics/{toxic}", toxic_update)
    app.router.add_delete("/proxies/{proxy}", proxy_delete)
    app.router.add_get("/proxies/{proxy}/toxics", toxic_index, allow_head=False)
    app.router.add_post("/proxies/{proxy}/toxics", toxic_create)
    app.router.add_get("/proxies/{proxy}/toxics/{toxic}", toxic_show, allow_head=False)
    app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", toxic_delete)
    app.router.add_get("/version", version, allow_head=False)
    return app
