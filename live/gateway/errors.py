"""The gateway's answers when it does not forward: JSON bodies ``{"error": ..., "status": N, ...}``.

Every refusal is raised as a :class:`GatewayError` somewhere along the request path and turned into
a response in one place (the middleware of :mod:`live.gateway.app`), so no code path can produce
a plain-text error or a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from live.common.errors import error_body

__all__ = ["GatewayError", "error_response"]


class GatewayError(Exception):
    """A request the gateway answers itself with ``status`` and a clear ``message``.

    ``extra`` fields join the JSON body; ``headers`` (``WWW-Authenticate``, ``Retry-After``) the response.
    """

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self) -> web.Response:
        return error_response(self.status, self.message, headers=self.headers, **self.extra)


def error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    """A JSON error response in the stack's common shape (:func:`live.common.errors.error_body`)."""
    return web.json_response(error_body(status, message, **extra), status=status, headers=headers)
