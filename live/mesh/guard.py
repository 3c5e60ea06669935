"""Enforcing the mesh policy in the callee, before the app sees the request.

A mesh server (``serves_mtls``) listens with :func:`live.mesh.tls.server_context`, so every
connection that reaches HTTP has a client certificate from the stack's CA; the guard reads the
identity in it and asks the :class:`~live.mesh.policy.MeshPolicy` whether that identity may call this
service on this path. A refusal is answered 403 in the common error shape and logged as a warning
with caller, service and path. For aiohttp apps the guard is the outermost middleware (the identity
comes from the request's TLS transport); for ASGI apps (FastAPI under uvicorn) it wraps the app and
reads the ASGI TLS extension that :mod:`live.mesh.asgi_tls` adds to the scope.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from live.common.errors import error_body
from live.common.settings import InstanceSettings
from live.mesh.policy import MeshPolicy, MeshPolicyError, load_policy, policy_file
from live.mesh.tls import MeshTlsError, identity_of_der, peer_identity, server_context

__all__ = ["AsgiGuard", "MeshServer", "aiohttp_guard", "mesh_server"]

log = logging.getLogger("servicelab.live.mesh")


@dataclass(frozen=True)
class MeshServer:
    """What a mesh server needs: its TLS context, the policy and which service it is."""

    context: ssl.SSLContext
    policy: MeshPolicy
    service: str

    def refusal(self, caller: str | None, path: str) -> str | None:
        """Why the call is refused (also logged), or None."""
        reason = self.policy.refusal(caller, self.service, path)
        if reason is not None:
            fields = {"caller": caller, "service": self.service, "path": path, "reason": reason}
            log.warning(
                "mesh policy refused %s -> %s %s", caller, self.service, path, extra={"fields": fields}
            )
        return reason


def mesh_server(settings: InstanceSettings) -> MeshServer:
    """The mesh side of a process that serves mutual TLS (``settings.serves_mtls``), from the state
    folder; without a usable policy or certificate the process exits, saying which and where."""
    try:
        policy = load_policy(policy_file(settings.state_dir))
        return MeshServer(server_context(settings.state_dir, settings.service), policy, settings.service)
    except (MeshPolicyError, MeshTlsError) as error:
        raise SystemExit(str(error)) from None


def aiohttp_guard(mesh: MeshServer) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An aiohttp middleware enforcing the policy for the caller identified by the TLS connection."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        transport = request.transport
        caller = peer_identity(transport.get_extra_info("ssl_object") if transport is not None else None)
        reason = mesh.refusal(caller, request.path)
        if reason is not None:
            return web.json_response(error_body(403, reason), status=403)
        return await handler(request)

    return guard


def _caller(scope: dict[str, Any]) -> str | None:
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return identity_of_der(ssl.PEM_cert_to_DER_cert(chain[0])) if chain else None


class AsgiGuard:
    """An ASGI app that passes to ``app`` only the requests the policy allows (lifespan always)."""

    def __init__(self, app: Any, mesh: MeshServer) -> None:
        self.app = app
        self.mesh = mesh

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        reason = self.mesh.refusal(_caller(scope), scope.get("path", ""))
        if reason is None:
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # a websocket: closed with "policy violation"
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(error_body(403, reason)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
